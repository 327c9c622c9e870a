"""The approval card: what the agent changed and what it cost, with the decision buttons."""

from __future__ import annotations

from bot.slack import ids
from bot.slack.blocks.elements import (
    Block,
    Message,
    actions,
    button,
    confirm,
    context,
    divider,
    fallback_title,
    header,
    message,
    section,
)
from bot.slack.blocks.limits import truncate_mrkdwn, truncate_plain
from bot.slack.blocks.status import elapsed_seconds, usage
from bot.slack.blocks.task_message import repository_line
from bot.slack.blocks.text import (
    code,
    duration,
    escape,
    link,
    mention,
    money,
    quote_mrkdwn,
    slack_date,
)
from bot.slack.blocks.text import tokens as token_count
from orchestration.models import DecisionRecord, Notice, RepositoryChange

FILES_SHOWN = 10
REPOSITORIES_SHOWN = 10
PATH_CHARS = 150
COMMENT_CHARS = 1500


def _digest(notice: Notice) -> str | None:
    """The digest of the exact change this card shows (an approval is pinned to it)."""
    return notice.view.changes.digest if notice.view.changes else None


def approval_card(notice: Notice, round: int = 1) -> Message:
    """The card a person decides on: summary, changes, costs, Approve / Request changes / Reject."""
    task_id = notice.task.task_id
    blocks = card_blocks(notice, round)
    blocks.append(
        actions(
            button(
                "Approve",
                ids.APPROVE,
                value=ids.decision_value(task_id, _digest(notice)),
                style="primary",
            ),
            button("Request changes", ids.REQUEST_CHANGES, value=task_id),
            button(
                "Reject",
                ids.REJECT,
                value=task_id,
                style="danger",
                confirmation=confirm(
                    "Reject this fix?",
                    "No pull request will be opened and the task ends.",
                    "Reject",
                ),
            ),
        )
    )
    fallback = f"{_revision(round)}Review the fix for: {fallback_title(notice.task.title)}"
    return message(fallback, blocks)


def decided_card(
    notice: Notice, record: DecisionRecord, *, changes_requested: bool = False, round: int = 1
) -> Message:
    """The approval card once decided: the same content, no buttons, who decided and when."""
    line = decision_line(record, changes_requested=changes_requested)
    blocks = [*card_blocks(notice, round), section(line)]
    return message(f"{fallback_title(notice.task.title)}: {line}", blocks)


def decision_line(record: DecisionRecord, *, changes_requested: bool = False) -> str:
    """Who decided and when: approved, rejected (with the reason) or changes requested."""
    decision = record.decision
    who = f"{mention(decision.by)} at {slack_date(record.at)}"
    comment = truncate_mrkdwn(escape(decision.comment.strip()), COMMENT_CHARS)
    if decision.approve:
        head = f":white_check_mark: Approved by {who}"
    elif changes_requested:
        feedback = f"\n{quote_mrkdwn(comment)}" if comment else ""
        return f":memo: Changes requested by {who}{feedback}"
    else:
        head = f":no_entry: Rejected by {who}"
    return f"{head} — {comment}" if comment else head


def card_blocks(notice: Notice, round: int) -> list[Block]:
    """Everything on the card except the buttons."""
    task, view = notice.task, notice.view
    summary = escape((view.summary or notice.text).strip()) or "_The agent gave no summary._"
    about = f"Requested by {mention(task.requester)} · task {code(task.task_id)}"
    blocks: list[Block] = [
        header(f"{_revision(round)}Review the fix: {task.title}"),
        context(about + (f" · *Revision {round}*" if round > 1 else "")),
        section(summary, notice.run_url),
        divider(),
    ]
    changes = view.changes.repositories if view.changes else []
    blocks += [section(_repository_text(c)) for c in changes[:REPOSITORIES_SHOWN]]
    if len(changes) > REPOSITORIES_SHOWN:
        blocks.append(section(_more_repositories(changes[REPOSITORIES_SHOWN:])))
    if not changes:
        blocks.append(section("_No files changed._"))
    protected = view.changes.protected_files if view.changes else []
    if protected:
        shown = ", ".join(code(p) for p in protected[:FILES_SHOWN])
        blocks.append(
            section(
                f":warning: *This change touches protected paths:* {shown}. "
                "This deployment allows pushing them; review them with care."
            )
        )
    blocks.append(context(*costs(notice)))
    return blocks


def _revision(round: int) -> str:
    return f"Revision {round} — " if round > 1 else ""


def _repository_text(change: RepositoryChange) -> str:
    """The repository, its diffstat and its first files with their +/- counts."""
    lines = [f"{repository_line(change.repository)} — {change.diffstat}"]
    for f in change.files[:FILES_SHOWN]:
        lines.append(f"{code(truncate_plain(f.path, PATH_CHARS))} +{f.additions} -{f.deletions}")
    hidden = len(change.files) - FILES_SHOWN
    if hidden > 0:
        lines.append(f"…and {hidden} more files")
    return "\n".join(lines)


def _more_repositories(changes: list[RepositoryChange]) -> str:
    """One line for the repositories that did not get their own section."""
    files = sum(len(c.files) for c in changes)
    added = sum(f.additions for c in changes for f in c.files)
    removed = sum(f.deletions for c in changes for f in c.files)
    return f"…and {len(changes)} more repositories: {files} files, +{added} -{removed}"


def costs(notice: Notice) -> list[str]:
    """Cost, tokens and time so far, and a link to the run, as context elements."""
    view = notice.view
    cost = view.result.cost_usd if view.result is not None else view.cost_usd
    parts = [f":moneybag: {money(cost)} spent"]
    used = usage(view)
    if used is not None and used.total:
        parts.append(f":abacus: {token_count(used.total)}")
    seconds = elapsed_seconds(view)
    if seconds is not None:
        parts.append(f":stopwatch: {duration(seconds)}")
    if notice.run_url:
        parts.append(link(notice.run_url, "View run"))
    return parts
