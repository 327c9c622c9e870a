"""The CLI's live view against a real Temporal dev server: a small workflow drives the real
Announcer (with the same `events` query BugFixWorkflow exposes) and `follow` renders what it
emits, escaping what people and the agent wrote."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bot.cli.live import follow
from bot.cli.render import console
from orchestration.activities.notify_activities import NotifyActivities
from orchestration.channels.fan_out import ChannelFanOut
from orchestration.channels.log_channel import LogChannel
from orchestration.client.gateway import EVENTS_QUERY, TaskGateway, workflow_id
from orchestration.models import (
    ChangeSet,
    Decision,
    DecisionRecord,
    FileChange,
    NoticeKind,
    RepositoryChange,
    RepositorySpec,
    Step,
    TaskInput,
    TaskResult,
    TaskStatus,
    TaskView,
)
from orchestration.models.events import CardReady, TaskEvent
from orchestration.workflows.announcer import Announcer

HOSTILE = "Edit calc.py \x1b[2J\x1b]0;pwned\x07 [bold]loud[/bold] :x:"
REPO = RepositorySpec(url="https://github.com/acme/calc", name="calc")
CHANGES = ChangeSet(
    repositories=[
        RepositoryChange(
            repository=REPO,
            base_commit="0" * 40,
            files=[FileChange(path="calc.py", additions=1, deletions=1)],
            patch="--- a/calc.py\n+++ b/calc.py\n",
            patch_sha256="f" * 64,
        )
    ]
)


@workflow.defn(sandboxed=False)
class AnnouncedTask:
    """Walks a task's path through the real Announcer: start, sandbox, progress, card, wait
    for `approve`, decision, end."""

    def __init__(self) -> None:
        self._view: TaskView | None = None
        self._announcer: Announcer | None = None
        self._approved = False

    @workflow.run
    async def run(self, task: TaskInput) -> TaskResult:
        self._set(task_id=task.task_id, title=task.title, status=TaskStatus.RUNNING)
        announcer = self._announcer = Announcer(task, self._current)
        await announcer.started()
        announcer.post(NoticeKind.SANDBOX_READY)
        self._set(current_step=Step.AGENT, last_progress=HOSTILE)
        announcer.progress(HOSTILE)
        self._set(status=TaskStatus.AWAITING_APPROVAL, summary="Fixed add()", changes=CHANGES)
        await announcer.card()
        await workflow.wait_condition(lambda: self._approved)
        record = DecisionRecord(decision=Decision(approve=True, by="alice"), at=workflow.now())
        self._set(status=TaskStatus.COMPLETED, decision=record, current_step=None)
        announcer.post(NoticeKind.DECIDED)
        await announcer.finish(NoticeKind.COMPLETED)
        return TaskResult(task_id=task.task_id, status=TaskStatus.COMPLETED)

    @workflow.query(name=EVENTS_QUERY)
    def events(self, after: int) -> list[TaskEvent]:
        return self._announcer.events_after(after) if self._announcer else []

    @workflow.signal
    def approve(self) -> None:
        self._approved = True

    def _current(self) -> TaskView:
        assert self._view is not None
        return self._view

    def _set(self, **changes: object) -> None:
        if self._view is None:
            self._view = TaskView.model_validate(changes)
        else:
            self._view = self._view.model_copy(update=changes)


@pytest.fixture
async def started(temporal_env: WorkflowEnvironment) -> AsyncIterator[tuple[TaskGateway, str]]:
    """A worker for AnnouncedTask (notify through the real fan-out) and one task started."""
    client: Client = temporal_env.client
    queue = f"live-{uuid.uuid4().hex[:8]}"
    notify = NotifyActivities(ChannelFanOut([LogChannel()])).notify
    async with Worker(client, task_queue=queue, workflows=[AnnouncedTask], activities=[notify]):
        task = TaskInput(
            task_id=f"live-{uuid.uuid4().hex[:6]}",
            title="add() subtracts",
            requester="rita",
            repositories=[REPO],
            created_at=datetime(2026, 11, 24, tzinfo=UTC),
        )
        await client.start_workflow(
            AnnouncedTask.run, task, id=workflow_id(task.task_id), task_queue=queue
        )
        yield TaskGateway(client, queue), task.task_id


async def test_follow_renders_each_event_once_and_inert(started: tuple[TaskGateway, str]) -> None:
    """`follow` prints the start, the sandbox step, the agent's progress without its escape
    sequences or markup, the card's change, the approval and the end; it asks once."""
    gateway, task_id = started
    cards: list[CardReady] = []

    async def approve(card: CardReady) -> None:
        cards.append(card)
        await gateway.client.get_workflow_handle(workflow_id(task_id)).signal("approve")

    with console.capture() as captured:
        result = await follow(gateway, task_id, approve)
    out = captured.get()
    assert result.status is TaskStatus.COMPLETED
    assert [c.summary for c in cards] == ["Fixed add()"]
    assert cards[0].changes.repositories[0].diffstat == "1 file(s) changed, +1 -1"
    assert "\x1b" not in out and "\x07" not in out and "pwned" not in out
    assert "Edit calc.py  [bold]loud[/bold] :x:" in out
    for line in (
        "› started add() subtracts (1 repository)",
        "› sandbox ready, preparing the repositories",
        "calc.py +1 -1",
    ):
        assert line in out
    assert "approved by alice" in out and out.count("completed") == 1


async def test_events_after_a_sequence_number_are_only_the_later_ones(
    started: tuple[TaskGateway, str],
) -> None:
    """The `events` query returns the events after the number asked for, oldest first."""
    gateway, task_id = started
    await gateway.client.get_workflow_handle(workflow_id(task_id)).signal("approve")
    await gateway.result(task_id)
    every = await gateway.events(task_id, 0)
    assert [e.kind for e in every] == [
        "started",
        "step_changed",
        "progress",
        "card_ready",
        "decided",
        "finished",
    ]
    assert [e.seq for e in every] == [1, 2, 3, 4, 5, 6]
    assert [e.seq for e in await gateway.events(task_id, 4)] == [5, 6]
