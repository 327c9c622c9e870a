"""`fixbot list`, the real console script, against the session's dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestration.client.gateway import TaskGateway
from orchestration.models import (
    AgentOutcome,
    CancelRequest,
    Decision,
    RepositoryChange,
    TaskInput,
    TaskStatus,
)
from tests.cli.test_cli_errors import fixbot
from tests.workflow.index_standin import StandIns, eventually, stand_ins, task_on, unique_repo
from tests.workflow.stubs import Stubs, agent_result, change_for, stub_worker


@pytest.fixture
async def standins(temporal_env: WorkflowEnvironment) -> AsyncIterator[StandIns]:
    async with stand_ins(temporal_env.client) as running:
        yield running


def address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def fixbot_list(env: WorkflowEnvironment, *args: str, expect: int) -> str:
    """`fixbot list ARGS` once it shows `expect` task rows (visibility lags a little)."""

    async def run() -> str:
        done = await asyncio.to_thread(fixbot, "list", *args, TEMPORAL_ADDRESS=address(env))
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def rows(output: str) -> int:
        return sum(1 for line in output.splitlines() if line.startswith("t-"))

    return await eventually(run, lambda out: rows(out) == expect, seconds=15)


def line_of(output: str, task: TaskInput) -> str:
    return next(line for line in output.splitlines() if line.startswith(task.task_id))


async def test_list_shows_outcomes_and_filters(
    temporal_env: WorkflowEnvironment, standins: StandIns
) -> None:
    """Rows show each task's outcome (a rejected task never reads "completed"); --state,
    --mine (with --as) and --repo narrow the listing."""
    repo = unique_repo()
    me = f"cli:me-{uuid.uuid4().hex[:6]}"
    rejected = task_on(repo, requester=me)
    opened = task_on(repo)
    await standins.run_through(rejected, [TaskStatus.RUNNING, TaskStatus.REJECTED])
    await standins.run_through(opened, [TaskStatus.RUNNING, TaskStatus.COMPLETED])

    everything = await fixbot_list(temporal_env, "--repo", repo, expect=2)
    assert "rejected" in line_of(everything, rejected)
    assert "pull request opened" in line_of(everything, opened)
    assert "completed" not in everything
    only_rejected = await fixbot_list(temporal_env, "--repo", repo, "--state", "rejected", expect=1)
    assert rejected.task_id in only_rejected and opened.task_id not in only_rejected
    mine = await fixbot_list(temporal_env, "--mine", "--as", me, expect=1)
    assert rejected.task_id in mine and me in mine


def test_a_bad_filter_is_refused_before_connecting() -> None:
    """An unknown state or an unquotable value stops with exit 2 and no connection attempt."""
    done = fixbot("list", "--state", "done", TEMPORAL_ADDRESS="127.0.0.1:9")
    assert done.returncode == 2 and "choose one of" in done.stderr
    done = fixbot("list", "--repo", 'https://h/a"b', TEMPORAL_ADDRESS="127.0.0.1:9")
    assert done.returncode == 2 and "double quote" in done.stderr
    assert "cannot reach Temporal" not in done.stderr


async def test_fixbot_list_shows_bugfix_workflow_outcomes_and_filters(
    temporal_env: WorkflowEnvironment,
) -> None:
    """The real BugFixWorkflow (stub activities) keeps its index: rejected, pull request
    opened, no change needed and awaiting approval each read as such, and filter so."""
    repo = unique_repo()
    me = f"cli:me-{uuid.uuid4().hex[:6]}"
    stubs = Stubs(
        # in order: rejected, opened, "nothing to fix" (the agent says so), awaiting approval
        agent_results=[
            agent_result(),
            agent_result(),
            agent_result(AgentOutcome.NO_FIX, summary="nothing to fix"),
            agent_result(),
        ],
        changed=lambda task: [] if task.title == "nothing to fix" else _one_change(task),
    )
    queue = f"list-{uuid.uuid4().hex[:8]}"
    async with stub_worker(temporal_env.client, stubs, queue):
        gateway = TaskGateway(temporal_env.client, queue)
        rejected = await _run(gateway, task_on(repo, requester=me), approve=False)
        opened = await _run(gateway, task_on(repo), approve=True)
        unchanged = await _run(gateway, task_on(repo, title="nothing to fix"), approve=None)
        waiting = task_on(repo, requester=me)
        await gateway.start(waiting)
        await _until_awaiting(gateway, waiting)
        try:
            listed = await fixbot_list(temporal_env, "--repo", repo, expect=4)
            assert "rejected" in line_of(listed, rejected)
            assert "pull request opened" in line_of(listed, opened)
            assert "no change needed" in line_of(listed, unchanged)
            assert "awaiting approval" in line_of(listed, waiting)
            assert "completed" not in listed
            awaiting = await fixbot_list(
                temporal_env, "--repo", repo, "--state", "awaiting_approval", expect=1
            )
            assert waiting.task_id in awaiting
            ended_mine = await fixbot_list(
                temporal_env, "--mine", "--as", me, "--state", "ended", expect=1
            )
            assert rejected.task_id in ended_mine
        finally:
            await gateway.cancel(waiting.task_id, CancelRequest(by=waiting.requester))
            await gateway.result(waiting.task_id)


def _one_change(task: TaskInput) -> list[RepositoryChange]:
    return [change_for(task.repositories[0])]


async def _run(gateway: TaskGateway, task: TaskInput, approve: bool | None) -> TaskInput:
    """Run a task to its end: approved, rejected, or (None) ending on its own."""
    await gateway.start(task)
    if approve is not None:
        await _until_awaiting(gateway, task)
        await gateway.decide(task.task_id, Decision(approve=approve, by="alice"))
    await gateway.result(task.task_id)
    return task


async def _until_awaiting(gateway: TaskGateway, task: TaskInput) -> None:
    view = await eventually(
        lambda: gateway.status(task.task_id),
        lambda v: v.status is TaskStatus.AWAITING_APPROVAL,
    )
    assert view.status is TaskStatus.AWAITING_APPROVAL
