"""The task index on the real dev server: what TaskIndex writes, and what a listing reads."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from orchestration.client.task_index import TaskFilter, TaskIndexReader, TaskRow
from orchestration.models import TaskStatus
from orchestration.models.index import (
    COST,
    CREATED,
    OUTCOME,
    REPOSITORIES,
    REQUESTER,
    STATE,
)
from tests.workflow.index_standin import (
    IndexedStandIn,
    StandIns,
    eventually,
    stand_ins,
    start_unindexed,
    task_on,
    unique_repo,
    view,
)


@pytest.fixture
async def standins(temporal_env: WorkflowEnvironment) -> Any:
    async with stand_ins(temporal_env.client) as running:
        yield running


async def upserted(handle: WorkflowHandle[Any, Any]) -> list[set[str]]:
    """The attribute names of each upsert event in the workflow's history, in order."""
    history = json.loads((await handle.fetch_history()).to_json())
    return [
        set(
            event["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"][
                "indexedFields"
            ]
        )
        for event in history["events"]
        if "upsertWorkflowSearchAttributesEventAttributes" in event
    ]


async def listing(client: Client, expected: int, **filters: Any) -> list[TaskRow]:
    reader = TaskIndexReader(client)
    return await eventually(
        lambda: reader.list(TaskFilter(limit=50, **filters)), lambda rows: len(rows) == expected
    )


async def test_only_changed_attributes_are_upserted(standins: StandIns) -> None:
    """Values set at start are not sent again; a repeated view writes no event; a status
    change sends state (and outcome only when it changes); sub-cent costs are rounded away."""
    task = task_on(unique_repo())
    handle = await standins.start(task)
    for status, cost in [
        (TaskStatus.PENDING, 0.0),
        (TaskStatus.PENDING, 0.0),
        (TaskStatus.RUNNING, 0.0),
        (TaskStatus.RUNNING, 0.25),
        (TaskStatus.RUNNING, 0.250001),
        (TaskStatus.AWAITING_APPROVAL, 0.25),
        (TaskStatus.REJECTED, 0.25),
    ]:
        await handle.signal(IndexedStandIn.show, view(task, status, cost))
    await handle.signal(IndexedStandIn.finish)
    await handle.result()
    assert await upserted(handle) == [
        {"FixbotState"},
        {"FixbotCost"},
        {"FixbotState", "FixbotOutcome"},
        {"FixbotState", "FixbotOutcome"},
    ]


async def test_attributes_describe_the_task(standins: StandIns) -> None:
    """After the run the execution carries the final state, outcome, cost and the task's
    requester, normalised repositories and creation time."""
    repo = unique_repo()
    task = task_on(repo + ".git/", requester="cli:rita")
    handle = await standins.run_through(task, [TaskStatus.RUNNING, TaskStatus.COMPLETED])
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes[STATE] == "completed" and attributes[OUTCOME] == "pr_opened"
    assert attributes[REQUESTER] == "cli:rita"
    assert list(attributes[REPOSITORIES]) == [repo]
    assert attributes[CREATED] == task.created_at.astimezone(UTC)
    assert attributes[COST] == 0.0


async def test_task_started_without_attributes_is_indexed_by_its_first_update(
    temporal_env: WorkflowEnvironment, standins: StandIns
) -> None:
    """A task whose start set nothing (an older client) gets every attribute at once."""
    task = task_on(unique_repo(), requester="cli:old-client")
    handle = await temporal_env.client.start_workflow(
        IndexedStandIn.run,
        task,
        id=f"fixbot-{task.task_id}",
        task_queue=standins.gateway._task_queue,
    )
    await handle.signal(IndexedStandIn.show, view(task, TaskStatus.RUNNING, 0.5))
    await handle.signal(IndexedStandIn.finish)
    await handle.result()
    assert await upserted(handle) == [
        {
            "FixbotState",
            "FixbotOutcome",
            "FixbotRequester",
            "FixbotRepositories",
            "FixbotCreated",
            "FixbotCost",
        }
    ]


async def test_listing_shows_each_task_outcome_never_temporal_status(
    temporal_env: WorkflowEnvironment, standins: StandIns
) -> None:
    """Every stand-in ended successfully in Temporal's eyes; each row shows its own outcome."""
    repo = unique_repo()
    ends = {
        TaskStatus.REJECTED: "rejected",
        TaskStatus.COMPLETED: "pull request opened",
        TaskStatus.NO_CHANGE: "no change needed",
        TaskStatus.FAILED: "failed",
        TaskStatus.CANCELLED: "cancelled",
        TaskStatus.EXPIRED: "expired",
    }
    tasks = {}
    for status in ends:
        tasks[status] = task = task_on(repo)
        await standins.run_through(task, [TaskStatus.RUNNING, status])
    waiting = task_on(repo)
    await standins.run_through(
        waiting, [TaskStatus.RUNNING, TaskStatus.AWAITING_APPROVAL], finish=False
    )
    expected = {
        **{tasks[status].task_id: label for status, label in ends.items()},
        waiting.task_id: "awaiting approval",
    }
    reader = TaskIndexReader(temporal_env.client)
    rows = await eventually(  # visibility catches up with the last upsert a moment later
        lambda: reader.list(TaskFilter(limit=50, repository=repo)),
        lambda rows: {row.task_id: row.label for row in rows} == expected,
    )
    assert {row.task_id: row.label for row in rows} == expected
    assert rows[0].task_id == waiting.task_id  # newest first


async def test_filters_by_state_requester_and_repository(
    temporal_env: WorkflowEnvironment, standins: StandIns
) -> None:
    """--state takes a status, an outcome (or its label) or a group; filters combine."""
    repo, other_repo = unique_repo(), unique_repo("web")
    rejected = task_on(repo, requester="cli:ann")
    opened = task_on(repo, requester="cli:bo")
    open_elsewhere = task_on(other_repo, requester="cli:ann")
    await standins.run_through(rejected, [TaskStatus.REJECTED])
    await standins.run_through(opened, [TaskStatus.COMPLETED])
    await standins.run_through(open_elsewhere, [TaskStatus.RUNNING], finish=False)

    async def ids(expected: int, **filters: Any) -> set[str]:
        return {r.task_id for r in await listing(temporal_env.client, expected, **filters)}

    assert await ids(1, repository=repo, state="rejected") == {rejected.task_id}
    assert await ids(1, repository=repo, state="pull request opened") == {opened.task_id}
    assert await ids(1, repository=repo, state="completed") == {opened.task_id}
    assert await ids(2, repository=repo, state="ended") == {rejected.task_id, opened.task_id}
    assert await ids(0, repository=repo, state="active") == set()
    assert await ids(1, repository=other_repo, state="in-progress") == {open_elsewhere.task_id}
    assert await ids(1, repository=other_repo, state="running") == {open_elsewhere.task_id}
    assert await ids(1, repository=repo, requester="cli:ann") == {rejected.task_id}
    assert await ids(1, repository=other_repo.replace("github.com", "GitHub.com") + "/") == {
        open_elsewhere.task_id
    }


async def test_quotes_in_a_filter_cannot_widen_the_query(
    temporal_env: WorkflowEnvironment, standins: StandIns
) -> None:
    """A requester name built to inject a condition matches only that exact name."""
    repo = unique_repo()
    sly = task_on(repo, requester="x' OR 'a'='a")
    plain = task_on(repo, requester="a")
    await standins.run_through(sly, [TaskStatus.FAILED])
    await standins.run_through(plain, [TaskStatus.FAILED])
    rows = await listing(temporal_env.client, 1, requester="x' OR 'a'='a")
    assert [r.task_id for r in rows] == [sly.task_id]
    assert rows[0].requester == "x' OR 'a'='a"


async def test_unindexed_and_stale_tasks_still_list_with_temporal_status(
    temporal_env: WorkflowEnvironment, standins: StandIns
) -> None:
    """A task from before the index lists as "(unindexed) completed"; a task Temporal ended
    behind the workflow's back shows how it ended and its last indexed state."""
    old = task_on(unique_repo(), title="from before the index")
    await start_unindexed(temporal_env.client, old)
    stuck = task_on(unique_repo())
    handle = await standins.run_through(stuck, [TaskStatus.RUNNING], finish=False)
    await handle.terminate("operator")
    reader = TaskIndexReader(temporal_env.client)

    async def rows_by_id() -> dict[str, TaskRow]:
        return {r.task_id: r for r in await reader.list(TaskFilter(limit=200))}

    rows = await eventually(
        rows_by_id,
        lambda r: (
            {old.task_id, stuck.task_id} <= set(r)
            and r[stuck.task_id].label.startswith("terminated")
        ),
    )
    assert rows[old.task_id].label == "(unindexed) completed"
    assert rows[old.task_id].title == "from before the index"
    assert rows[old.task_id].requester == old.requester  # from the memo
    assert rows[stuck.task_id].label == "terminated (last indexed: in progress (running))"
