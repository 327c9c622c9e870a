"""The CLI's live view of a task: its events as they happen (`fixbot start --wait`, the demo).

The CLI is one channel that renders task events; it reads them from the workflow (the `events`
query) rather than through the notify activity, so it needs nothing from the worker. Text from
people and the agent is printed as plain text with hidden content and terminal escape sequences
removed, so nothing it contains can drive the terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from rich.text import Text
from temporalio.client import WorkflowQueryFailedError

from bot.cli.render import status_text
from bot.cli.terminal import console, inert
from orchestration.client.gateway import NoWorker, TaskGateway
from orchestration.models import NoticeKind, Step, TaskResult, TaskStatus, TaskView
from orchestration.models.event_builders import event_for
from orchestration.models.events import (
    CardReady,
    ChangeOverview,
    Decided,
    ProgressReported,
    PullRequestsOpened,
    QuestionAsked,
    StepChanged,
    TaskEvent,
    TaskFinished,
    TaskHeadline,
    TaskStarted,
)

OnApproval = Callable[[CardReady], Awaitable[None]]
_STEP_WORDS = {
    Step.WORKSPACE: "sandbox ready, preparing the repositories",
    Step.AGENT: "the agent is working",
}
POLL_SECONDS = 0.5


async def follow(
    gateway: TaskGateway, task_id: str, on_approval: OnApproval | None = None
) -> TaskResult:
    """Print the task's events as they come, call on_approval at each approval card, and
    return the result. A worker whose workflow has no `events` query gets the status view."""
    result = asyncio.ensure_future(gateway.result(task_id))
    try:
        await _follow_events(gateway, task_id, result, on_approval)
    except WorkflowQueryFailedError:
        await _follow_status(gateway, task_id, result, on_approval)
    return result.result()


async def _follow_events(
    gateway: TaskGateway,
    task_id: str,
    result: asyncio.Future[TaskResult],
    on_approval: OnApproval | None,
) -> None:
    seen = 0
    while True:
        ended = result.done()
        try:
            events = await gateway.events(task_id, seen)
        except NoWorker:
            if ended:
                return  # the result says the rest
            raise
        for event in events:
            seen = event.seq
            print_event(event)
            if isinstance(event, CardReady) and on_approval is not None:
                await on_approval(event)
        if ended:
            return
        await asyncio.wait({result}, timeout=POLL_SECONDS)


def print_event(event: TaskEvent) -> None:
    """One event as a line or two."""
    if isinstance(event, TaskStarted):
        _print_started(event.headline)
    elif isinstance(event, StepChanged):
        _line("›", _STEP_WORDS.get(event.step, event.step.value), event.detail)
    elif isinstance(event, ProgressReported):
        console.print(Text("  ") + inert(event.text, 300), style="dim")
    elif isinstance(event, QuestionAsked):
        console.print(Text("  the agent asks: ", style="bold") + inert(event.question))
    elif isinstance(event, CardReady):
        _print_card(event)
    elif isinstance(event, Decided):
        console.print(Text("  ") + _decision(event))
    elif isinstance(event, PullRequestsOpened):
        for pr in event.pull_requests:
            console.print(Text("  pull request: ") + inert(pr.url))
    elif isinstance(event, TaskFinished):
        _print_finished(event)


def _line(head: str, what: str, detail: str = "") -> None:
    line = Text(f"{head} ", style="bold") + inert(what)
    if detail.strip():
        line += Text(" — ") + inert(detail, 300)
    console.print(line)


def _print_started(headline: TaskHeadline) -> None:
    count = headline.repository_count
    line = Text("› started ", style="bold") + inert(headline.title, 200)
    line += Text(f" ({count} repositor{'y' if count == 1 else 'ies'})")
    console.print(line)


def _print_card(card: CardReady) -> None:
    revision = f" (revision {card.revision})" if card.revision > 1 else ""
    console.print(f"[dim]›[/dim] {status_text(TaskStatus.AWAITING_APPROVAL)}{revision}")
    if card.summary:
        console.print(Text("  summary: ") + inert(card.summary))
    print_overview(card.changes)
    console.print(f"  cost so far: ${card.cost_usd:.4f}")


def print_overview(changes: ChangeOverview) -> None:
    """The change as a reviewer sees it: files and counts per repository."""
    if changes.protected_files:
        joined = ", ".join(changes.protected_files)
        console.print(Text("  touches protected paths: ", style="yellow") + inert(joined))
    for change in changes.repositories:
        console.print(Text("  ") + inert(change.repository.name) + Text(f": {change.diffstat}"))
        for f in change.files:
            counts = Text(f" +{f.additions} -{f.deletions}")
            console.print(Text("    ") + inert(f.path, 300) + counts)
        if change.file_count > len(change.files):
            console.print(f"    …and {change.file_count - len(change.files)} more files")


def _decision(event: Decided) -> Text:
    if event.record is not None:
        decision = event.record.decision
        verb = "approved" if decision.approve else "rejected"
        text = Text(f"{verb} by ") + inert(decision.by, 200)
        return text + (Text(": ") + inert(decision.comment) if decision.comment else Text())
    if event.change_request is not None:
        request = event.change_request
        return (
            Text("changes requested by ")
            + inert(request.by, 200)
            + Text(": ")
            + inert(request.feedback)
        )
    return Text("decided")


def _print_finished(event: TaskFinished) -> None:
    console.print(f"[dim]›[/dim] {status_text(event.status)}")
    if event.reason and event.status is not TaskStatus.COMPLETED:
        console.print(Text("  ") + inert(event.reason))


async def _follow_status(
    gateway: TaskGateway,
    task_id: str,
    result: asyncio.Future[TaskResult],
    on_approval: OnApproval | None,
) -> None:
    """For a worker without the `events` query: poll the status view instead."""
    seen_status: TaskStatus | None = None
    seen_progress: str | None = None
    asked = False
    while not result.done():
        view = await gateway.status(task_id)
        if view.status != seen_status:
            seen_status = view.status
            console.print(f"[dim]›[/dim] {status_text(view.status)}")
        if view.last_progress and view.last_progress != seen_progress:
            seen_progress = view.last_progress
            console.print(Text("  ") + inert(view.last_progress, 300), style="dim")
        if view.status is TaskStatus.AWAITING_APPROVAL and not asked:
            asked = True
            card = _card_of(view)
            print_overview(card.changes)
            if on_approval is not None:
                await on_approval(card)
        await asyncio.wait({result}, timeout=POLL_SECONDS)


def _card_of(view: TaskView) -> CardReady:
    """The card event a status view stands for."""
    headline = TaskHeadline(task_id=view.task_id, title=view.title, requester="")
    now = datetime.now(UTC)
    card = event_for(NoticeKind.CHANGES_READY, "", view, headline=headline, seq=0, at=now)
    return CardReady.model_validate(card.model_dump())
