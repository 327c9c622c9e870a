"""Thread replies for a task's milestone events: sandbox ready, agent working, question, PRs,
the end of the task."""

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
from orchestration.models import PullRequestRef, Step, TaskStatus
from orchestration.models.events import (
    EventDelivery,
    PullRequestsOpened,
    QuestionAsked,
    StepChanged,
    TaskFinished,
)

REASON_CHARS = 2500

Reply = tuple[str, str]  # (fallback text, section mrkdwn)


def milestone_message(delivery: EventDelivery) -> Message:
    """A thread reply for one event; events without their own wording show the status."""
    fallback, body = _reply(delivery)
    blocks = [section(body, delivery.run_url)]
    event = delivery.event
    if isinstance(event, TaskFinished) and event.status is TaskStatus.COMPLETED:
        blocks.append(context(*costs(event, delivery.run_url)))
    elif delivery.run_url:
        blocks.append(context(link(delivery.run_url, "View run")))
    return message(fallback, blocks)


def is_milestone(delivery: EventDelivery) -> bool:
    """Whether the event gets its own reply in the thread."""
    return isinstance(
        delivery.event, StepChanged | QuestionAsked | PullRequestsOpened | TaskFinished
    )


def _reply(delivery: EventDelivery) -> Reply:
    event = delivery.event
    if isinstance(event, StepChanged) and event.step is Step.WORKSPACE:
        return _sandbox_ready(delivery, event)
    if isinstance(event, StepChanged) and event.step is Step.AGENT:
        return _agent_working(delivery, event)
    if isinstance(event, QuestionAsked):
        return _question(delivery, event)
    if isinstance(event, PullRequestsOpened):
        return _pr_opened(event)
    if isinstance(event, TaskFinished) and event.status in _ENDINGS:
        return _ENDINGS[event.status](delivery, event)
    return _status(delivery)


def _sandbox_ready(delivery: EventDelivery, event: StepChanged) -> Reply:
    count = delivery.headline.repository_count
    body = f":package: Sandbox ready — preparing {count} repositor{'y' if count == 1 else 'ies'}."
    return "Sandbox ready", body + _extra(event.detail)


def _agent_working(delivery: EventDelivery, event: StepChanged) -> Reply:
    action = event.detail or delivery.activity or ""
    body = ":robot_face: The agent is working on the fix."
    if action.strip():
        body += f"\nLatest: {escape(action.strip())}"
    return "The agent is working on the fix", body


def _question(delivery: EventDelivery, event: QuestionAsked) -> Reply:
    question = event.question.strip() or "(no question text)"
    who = mention(delivery.headline.requester)
    body = (
        f":question: {who}, the agent has a question:\n{quote(question)}\n"
        "_Reply in this thread to answer._"
    )
    return f"The agent has a question: {escape(question)}", body


def _pr_opened(event: PullRequestsOpened) -> Reply:
    prs = event.pull_requests
    if not prs:
        return "Pull request opened", ":rocket: Pull request opened." + _extra(event.text)
    return f"Pull requests: {_pr_urls(prs)}", ":rocket: Pull requests:\n" + _pr_list(prs)


def _no_change(delivery: EventDelivery, event: TaskFinished) -> Reply:
    why = (event.summary or event.reason).strip()
    body = ":white_circle: No change was needed." + (f"\n{quote(why)}" if why else "")
    return "No change was needed", body


def _failed(delivery: EventDelivery, event: TaskFinished) -> Reply:
    reason = event.reason.strip() or "no reason was given"
    shown = code_block(reason) if "\n" in reason else escape(reason)
    body = f":x: The task failed:\n{truncate_mrkdwn(shown, REASON_CHARS)}"
    return f"The task failed: {escape(reason.splitlines()[0])}", body


def _rejected(delivery: EventDelivery, event: TaskFinished) -> Reply:
    record = event.decision
    if record is None or record.decision.approve:
        return "The fix was rejected", ":no_entry: The fix was rejected." + _extra(event.reason)
    return "The fix was rejected", decision_line(record)


def _cancelled(delivery: EventDelivery, event: TaskFinished) -> Reply:
    return "The task was cancelled", ":stop_sign: The task was cancelled." + _extra(event.reason)


def _expired(delivery: EventDelivery, event: TaskFinished) -> Reply:
    body = ":alarm_clock: Nobody decided in time, so the task ended without a pull request."
    return "The task expired", body + _extra(event.reason)


def _completed(delivery: EventDelivery, event: TaskFinished) -> Reply:
    prs = event.pull_requests
    body = ":white_check_mark: Done." + (f"\n{_pr_list(prs)}" if prs else "")
    return f"Done: {fallback_title(delivery.headline.title)}", body


def _status(delivery: EventDelivery) -> Reply:
    return f"{fallback_title(delivery.headline.title)}: update", status_line(delivery)


def _extra(text: str) -> str:
    """Free text from the event as an escaped extra line, or nothing."""
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


_ENDINGS: dict[TaskStatus, Callable[[EventDelivery, TaskFinished], Reply]] = {
    TaskStatus.NO_CHANGE: _no_change,
    TaskStatus.FAILED: _failed,
    TaskStatus.REJECTED: _rejected,
    TaskStatus.CANCELLED: _cancelled,
    TaskStatus.EXPIRED: _expired,
    TaskStatus.COMPLETED: _completed,
}
