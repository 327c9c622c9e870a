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
from bot.slack.blocks.task_message import repository_line
from bot.slack.blocks.text import (
    code,
    code_block,
    duration,
    escape,
    link,
    mention,
    money,
    quote_mrkdwn,
    slack_date,
)
from bot.slack.blocks.text import tokens as token_count
from orchestration.models import DecisionRecord
from orchestration.models.events import (
    CardReady,
    EventDelivery,
    RepositoryOverview,
    TaskFinished,
)

FILES_SHOWN = 10
REPOSITORIES_SHOWN = 10
PATH_CHARS = 150
COMMENT_CHARS = 1500


def shown_card(delivery: EventDelivery) -> CardReady | None:
    """The card a delivery shows: its own event, or the card a decision closes."""
    event = delivery.event
    return event if isinstance(event, CardReady) else delivery.card


def approval_card(delivery: EventDelivery, round: int | None = None) -> Message:
    """The card a person decides on: summary, changes, costs, Approve / Request changes / Reject."""
    task_id = delivery.headline.task_id
    card = shown_card(delivery) or _no_card(delivery)
    round = round or card.revision
    blocks = card_blocks(delivery, card, round)
    blocks.append(
        actions(
            button(
                "Approve",
                ids.APPROVE,
                value=ids.decision_value(task_id, card.changes.digest or None),
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
    fallback = f"{_revision(round)}Review the fix for: {fallback_title(delivery.headline.title)}"
    return message(fallback, blocks)


def decided_card(
    delivery: EventDelivery,
    record: DecisionRecord,
    *,
    changes_requested: bool = False,
    round: int | None = None,
) -> Message:
    """The approval card once decided: the same content, no buttons, who decided and when."""
    card = shown_card(delivery) or _no_card(delivery)
    line = decision_line(record, changes_requested=changes_requested)
    blocks = [*card_blocks(delivery, card, round or card.revision), section(line)]
    return message(f"{fallback_title(delivery.headline.title)}: {line}", blocks)


def _no_card(delivery: EventDelivery) -> CardReady:
    """An empty card with the delivery's common fields (a card that was not kept)."""
    common = delivery.event.model_dump(include={"task_id", "seq", "at", "status", "cost_usd"})
    return CardReady.model_validate(common)


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


def card_blocks(delivery: EventDelivery, card: CardReady, round: int) -> list[Block]:
    """Everything on the card except the buttons."""
    task, run_url = delivery.headline, delivery.run_url
    summary = escape(card.summary.strip()) or "_The agent gave no summary._"
    about = f"Requested by {mention(task.requester)} · task {code(task.task_id)}"
    blocks: list[Block] = [
        header(f"{_revision(round)}Review the fix: {task.title}"),
        context(about + (f" · *Revision {round}*" if round > 1 else "")),
        section(summary, run_url),
        divider(),
    ]
    changes = card.changes.repositories
    for change in changes[:REPOSITORIES_SHOWN]:
        blocks.append(section(_repository_text(change)))
        blocks += _patch_blocks(change, task.task_id)
    if len(changes) > REPOSITORIES_SHOWN:
        blocks.append(section(_more_repositories(changes[REPOSITORIES_SHOWN:])))
    if not changes:
        blocks.append(section("_No files changed._"))
    blocks += _verification_blocks(card)
    protected = card.changes.protected_files
    if protected:
        shown = ", ".join(code(p) for p in protected[:FILES_SHOWN])
        blocks.append(
            section(
                f":warning: *This change touches protected paths:* {shown}. "
                "This deployment allows pushing them; review them with care."
            )
        )
    blocks.append(context(*costs(card, run_url)))
    return blocks


def _verification_blocks(card: CardReady) -> list[Block]:
    """What fixbot's own run of the repository's checks found, and a failing run's end."""
    if not card.verification:
        return []
    mark = ":x:" if card.verification_failed else ":white_check_mark:"
    if card.verification and card.verification[0].startswith("not verified"):
        mark = ":grey_question:"
    lines = [f"{mark} {escape(text)}" for text in card.verification]
    if card.verification_failed:
        lines.append("_Approving pushes a fix that fails the repository's checks._")
    blocks = [section("\n".join(lines))]
    if card.verification_failed and card.verification_tail:
        blocks.append(section(code_block(card.verification_tail)))
    return blocks


def _revision(round: int) -> str:
    return f"Revision {round} — " if round > 1 else ""


def _repository_text(change: RepositoryOverview) -> str:
    """The repository, its diffstat and its first files with their +/- counts."""
    lines = [f"{repository_line(change.repository)} — {change.diffstat}"]
    for f in change.files[:FILES_SHOWN]:
        lines.append(f"{code(truncate_plain(f.path, PATH_CHARS))} +{f.additions} -{f.deletions}")
    hidden = max(change.file_count, len(change.files)) - FILES_SHOWN
    if hidden > 0:
        lines.append(f"…and {hidden} more files")
    return "\n".join(lines)


def _patch_blocks(change: RepositoryOverview, task_id: str) -> list[Block]:
    """The patch's first lines as an inert code block, and where to read all of it."""
    if not change.patch_excerpt:
        return []
    blocks = [section(code_block(change.patch_excerpt))]
    if change.patch_truncated:
        where = code(f"fixbot status {task_id} --patch")
        blocks.append(context(f"The first lines of the patch; all of it: {where}"))
    return blocks


def _more_repositories(changes: list[RepositoryOverview]) -> str:
    """One line for the repositories that did not get their own section."""
    files = sum(c.file_count for c in changes)
    added = sum(c.additions for c in changes)
    removed = sum(c.deletions for c in changes)
    return f"…and {len(changes)} more repositories: {files} files, +{added} -{removed}"


def costs(event: CardReady | TaskFinished, run_url: str | None) -> list[str]:
    """Cost, tokens and time so far, and a link to the run, as context elements."""
    parts = [f":moneybag: {money(event.cost_usd)} spent"]
    if event.tokens:
        parts.append(f":abacus: {token_count(event.tokens)}")
    if event.elapsed_seconds is not None:
        parts.append(f":stopwatch: {duration(event.elapsed_seconds)}")
    if run_url:
        parts.append(link(run_url, "View run"))
    return parts
