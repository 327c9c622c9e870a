"""A long wait continues as a new workflow run and carries the whole task state across."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestration.client.gateway import TaskGateway, workflow_id
from orchestration.client.task_index import TaskFilter, TaskIndexReader
from orchestration.models import (
    AgentMode,
    AgentOutcome,
    AgentProgress,
    Answer,
    Decision,
    TaskInput,
    TaskStatus,
)
from orchestration.workflows.bugfix import BugFixWorkflow
from tests.workflow.stubs import Stubs, agent_result, make_task, stub_worker

HISTORY_LIMIT = 80  # events; a real deployment uses the default of 10,000


@pytest.fixture
async def running(temporal_env: WorkflowEnvironment) -> AsyncIterator[tuple[Stubs, TaskGateway]]:
    stubs = Stubs(
        agent_results=[
            agent_result(AgentOutcome.NEEDS_CLARIFICATION, question="Which currency?"),
            agent_result(),
        ]
    )
    queue = f"q-{uuid.uuid4().hex[:8]}"
    worker: Worker = stub_worker(temporal_env.client, stubs, queue)
    async with worker:
        yield stubs, TaskGateway(temporal_env.client, queue)


async def _until(gateway: TaskGateway, task: TaskInput, status: TaskStatus) -> None:
    for _ in range(400):
        view = await gateway.status(task.task_id)
        if view.status is status and (status is not TaskStatus.RUNNING or view.question):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"task never reached {status}")


async def _lengthen_history_until_it_continues(gateway: TaskGateway, task: TaskInput) -> None:
    """Progress signals add events to the history while the task waits, until the run passes
    the limit and continues as new. (How many events a signal adds depends on how the server
    batches them into workflow tasks, so the count of signals is not fixed.)"""
    handle = gateway.client.get_workflow_handle(workflow_id(task.task_id))
    first_run = (await handle.describe()).run_id
    for number in range(20 * HISTORY_LIMIT):
        await handle.signal(BugFixWorkflow.report_progress, AgentProgress(text=f"tick {number}"))
        if number % 10 == 9 and (await handle.describe()).run_id != first_run:
            return
    raise AssertionError("the task never continued as new")


async def _run_statuses(
    gateway: TaskGateway, task: TaskInput, continued: int
) -> list[WorkflowExecutionStatus]:
    """Every run's status, once the visibility store (eventually consistent, slower under
    load) shows the last run closed and at least `continued` runs that continued as new."""
    query = f"WorkflowId = '{workflow_id(task.task_id)}'"
    statuses: list[WorkflowExecutionStatus] = []
    for _ in range(400):
        statuses = [
            run.status
            async for run in gateway.client.list_workflows(query)
            if run.status is not None
        ]
        seen_continued = statuses.count(WorkflowExecutionStatus.CONTINUED_AS_NEW) >= continued
        if WorkflowExecutionStatus.COMPLETED in statuses and seen_continued:
            break
        await asyncio.sleep(0.05)
    return statuses


async def test_a_task_past_the_history_limit_carries_on_in_a_new_run(
    running: tuple[Stubs, TaskGateway],
) -> None:
    """Waiting for an answer and then for approval, the history passes the limit twice; each
    time the task continues as a new run, and it ends as if nothing happened: the answer
    reaches the same session, the approval opens one PR, the sandbox is provisioned and
    removed once, the cost of both agent runs is kept, and the event log runs on unbroken."""
    stubs, gateway = running
    requester = f"rita-{uuid.uuid4().hex[:6]}"  # alone in the listing below
    task = make_task(continue_as_new_after_events=HISTORY_LIMIT, requester=requester)
    await gateway.start(task)

    await _until(gateway, task, TaskStatus.RUNNING)
    await _lengthen_history_until_it_continues(gateway, task)
    await gateway.answer(task.task_id, Answer(by=requester, text="Euros"))

    await _until(gateway, task, TaskStatus.AWAITING_APPROVAL)
    await _lengthen_history_until_it_continues(gateway, task)
    view = await gateway.status(task.task_id)
    assert view.status is TaskStatus.AWAITING_APPROVAL and view.revision == 1
    await gateway.decide(task.task_id, Decision(approve=True, by="alice"))

    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED
    assert [pr.number for pr in result.pull_requests] == [1]
    assert stubs.calls.count("provision") == 1 and stubs.destroyed == [task.task_id]
    assert [r.mode for r in stubs.agent_requests] == [AgentMode.START, AgentMode.ANSWER]
    assert stubs.agent_requests[1].message == "Euros"
    assert len({r.session_id for r in stubs.agent_requests}) == 1
    assert result.cost_usd == pytest.approx(0.5)
    assert result.decision is not None and result.decision.decision.by == "alice"
    events = await gateway.events(task.task_id, 0)
    assert events[0].kind == "started" and events[-1].kind == "finished"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    statuses = await _run_statuses(gateway, task, continued=2)
    assert statuses.count(WorkflowExecutionStatus.CONTINUED_AS_NEW) >= 2, statuses
    assert statuses.count(WorkflowExecutionStatus.COMPLETED) == 1
    listed = await TaskIndexReader(gateway.client).list(TaskFilter(requester=task.requester))
    assert [(row.task_id, row.label) for row in listed] == [(task.task_id, "pull request opened")]
