"""Thread replies for a task's milestones: sandbox ready, question, PRs, the end of the task."""

from __future__ import annotations

from collections.abc import Callable

from bot.slack.blocks.approval_card import costs, decision_line
from bot.slack.blocks.elements import Message, context, fallback_title, message, section
from bot.slack.blocks.limits import truncate_mrkdwn
from bot.slack.blocks.status import status_line
from bot.slack.blocks.text import (
    bullet_list,
    code_block,
    escape,
    is_web_url,
    link,
    mention,
    quote,
)
from orchestration.models import Notice, NoticeKind, PullRequestRef

REASON_CHARS = 2500

Reply = tuple[str, str]  # (fallback text, section mrkdwn)


def milestone_message(kind: NoticeKind, notice: Notice) -> Message:
    """A thread reply for one milestone; kinds without their own wording show the status."""
    fallback, body = _REPLIES.get(kind, _status)(notice)
    blocks = [section(body, notice.run_url)]
    if kind is NoticeKind.COMPLETED:
        blocks.append(context(*costs(notice)))
    elif notice.run_url:
        blocks.append(context(link(notice.run_url, "View run")))
    return message(fallback, blocks)


def _sandbox_ready(notice: Notice) -> Reply:
    count = len(notice.task.repositories)
    body = f":package: Sandbox ready — preparing {count} repositor{'y' if count == 1 else 'ies'}."
    return "Sandbox ready", body + _extra(notice.text)


def _agent_working(notice: Notice) -> Reply:
    action = notice.text or notice.view.last_progress or ""
    body = ":robot_face: The agent is working on the fix."
    if action.strip():
        body += f"\nLatest: {escape(action.strip())}"
    return "The agent is working on the fix", body


def _question(notice: Notice) -> Reply:
    question = (notice.view.question or notice.text).strip() or "(no question text)"
    who = mention(notice.task.requester)
    body = (
        f":question: {who}, the agent has a question:\n{quote(question)}\n"
        "_Reply in this thread to answer._"
    )
    return f"The agent has a question: {escape(question)}", body


def _pr_opened(notice: Notice) -> Reply:
    prs = notice.view.pull_requests
    if not prs:
        return "Pull request opened", ":rocket: Pull request opened." + _extra(notice.text)
    return f"Pull requests: {_pr_urls(prs)}", ":rocket: Pull requests:\n" + _pr_list(prs)


def _no_change(notice: Notice) -> Reply:
    why = (notice.view.summary or notice.text).strip()
    body = ":white_circle: No change was needed." + (f"\n{quote(why)}" if why else "")
    return "No change was needed", body


def _failed(notice: Notice) -> Reply:
    reason = (notice.text or notice.view.error or "").strip() or "no reason was given"
    shown = code_block(reason) if "\n" in reason else escape(reason)
    body = f":x: The task failed:\n{truncate_mrkdwn(shown, REASON_CHARS)}"
    return f"The task failed: {escape(reason.splitlines()[0])}", body


def _rejected(notice: Notice) -> Reply:
    record = notice.view.decision
    if record is None or record.decision.approve:
        return "The fix was rejected", ":no_entry: The fix was rejected." + _extra(notice.text)
    return "The fix was rejected", decision_line(record)


def _cancelled(notice: Notice) -> Reply:
    return "The task was cancelled", ":stop_sign: The task was cancelled." + _extra(notice.text)


def _expired(notice: Notice) -> Reply:
    body = ":alarm_clock: Nobody decided in time, so the task ended without a pull request."
    return "The task expired", body + _extra(notice.text)


def _completed(notice: Notice) -> Reply:
    result = notice.view.result
    prs = notice.view.pull_requests or (result.pull_requests if result is not None else [])
    body = ":white_check_mark: Done." + (f"\n{_pr_list(prs)}" if prs else "")
    return f"Done: {fallback_title(notice.task.title)}", body


def _status(notice: Notice) -> Reply:
    return f"{fallback_title(notice.task.title)}: update", status_line(notice.view)


def _extra(text: str) -> str:
    """Free text from the notice as an escaped extra line, or nothing."""
    return f"\n{escape(text.strip())}" if text.strip() else ""


def _pr_list(prs: list[PullRequestRef]) -> str:
    """Each pull request linked, marked when it already existed."""
    return bullet_list([_pr_line(pr) for pr in prs])


def _pr_line(pr: PullRequestRef) -> str:
    label = f"{pr.repository}#{pr.number}" if pr.number else pr.repository
    shown = link(pr.url, label) if is_web_url(pr.url) else escape(pr.url)
    return shown + ("" if pr.created else " (updated the open pull request)")


def _pr_urls(prs: list[PullRequestRef]) -> str:
    return ", ".join(escape(pr.url) for pr in prs)


_REPLIES: dict[NoticeKind, Callable[[Notice], Reply]] = {
    NoticeKind.SANDBOX_READY: _sandbox_ready,
    NoticeKind.AGENT_WORKING: _agent_working,
    NoticeKind.QUESTION: _question,
    NoticeKind.PR_OPENED: _pr_opened,
    NoticeKind.NO_CHANGE: _no_change,
    NoticeKind.FAILED: _failed,
    NoticeKind.REJECTED: _rejected,
    NoticeKind.CANCELLED: _cancelled,
    NoticeKind.EXPIRED: _expired,
    NoticeKind.COMPLETED: _completed,
}
