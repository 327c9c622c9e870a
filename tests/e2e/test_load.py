"""Many tasks at once on one worker: no step waits for a thread long enough to miss its
heartbeat, and tasks beyond the worker's sandbox capacity wait visibly, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from temporalio.client import Client

from bot.cli.demo_repo import PRICING, README, TESTS, scripted_fix
from orchestration.client.gateway import workflow_id
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskInput, TaskStatus
from orchestration.runtime.backend import use_blocking_threads
from orchestration.runtime.settings import WorkerSettings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.e2e.conftest import Loop
from tests.fakes.github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

StartLoop = Callable[..., Coroutine[Any, Any, Loop]]
SHOP_FILES = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
CONCURRENT_TASKS = 8  # more than the 6 threads a 2-core machine's default pool has
AGENT_SECONDS = 6  # each agent run outlasts the heartbeat timeout twice over
HEARTBEAT_SECONDS = 3


def busy_command(seconds: int) -> str:
    """A command that keeps the agent busy (Claude Code refuses a standalone long `sleep`)."""
    return f"python3 -c 'import time; time.sleep({seconds})'"


def slow_fix() -> ModelScript:
    """The demo's fix, after a command that keeps the agent busy for a while."""
    busy = ScriptStep(
        tool="Bash", input={"command": busy_command(AGENT_SECONDS), "description": "Think"}
    )
    return ModelScript(steps=[busy, *scripted_fix().steps])


def tasks_for(loop: Loop, url: str, count: int) -> list[TaskInput]:
    tasks = []
    for number in range(count):
        task = make_task(
            loop.settings,
            title=f"Discounts raise prices ({number})",
            requester="rita",
            require_approval=False,
            repositories=[RepositorySpec(url=url, name="shop")],
        )
        tasks.append(task.model_copy(update={"heartbeat_timeout_seconds": HEARTBEAT_SECONDS}))
    return tasks


async def retries_in(client: Client, task: TaskInput) -> list[str]:
    """Every activity attempt after the first, and every timeout, in the task's history."""
    history = await client.get_workflow_handle(workflow_id(task.task_id)).fetch_history()
    found = []
    for event in history.events:
        started = event.activity_task_started_event_attributes
        if event.HasField("activity_task_started_event_attributes") and started.attempt > 1:
            found.append(f"attempt {started.attempt} (event {event.event_id})")
        if event.HasField("activity_task_timed_out_event_attributes"):
            found.append(f"timeout (event {event.event_id})")
    return found


async def test_more_tasks_than_threads_finish_without_a_retry(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """Eight tasks whose agents run longer than twice the heartbeat timeout all open their
    pull request, and no activity was retried or timed out."""
    url = fake_github.create_repo("acme", "shop", SHOP_FILES)
    with ScriptedModelServer(slow_fix()) as model:
        loop = await start_loop(model.url)
        use_blocking_threads(loop.settings)  # as `fixbot worker` and `fixbot dev` do
        tasks = tasks_for(loop, url, CONCURRENT_TASKS)
        started = asyncio.get_running_loop().time()
        for task in tasks:
            await loop.gateway.start(task)
        results = await asyncio.gather(*(loop.result(t.task_id, timeout=400) for t in tasks))
        wall = asyncio.get_running_loop().time() - started
    print(f"{CONCURRENT_TASKS} tasks with {AGENT_SECONDS} s agent runs: {wall:.1f} s wall")
    assert [r.status for r in results] == [TaskStatus.COMPLETED] * CONCURRENT_TASKS, [
        r.error for r in results
    ]
    client = loop.gateway.client
    assert {t.task_id: await retries_in(client, t) for t in tasks} == {t.task_id: [] for t in tasks}
    assert len(fake_github.pulls("acme", "shop")) == CONCURRENT_TASKS


async def test_tasks_beyond_capacity_wait_in_order_and_say_so(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """With room for two sandboxes, four tasks run two at a time: the others' status says
    they are waiting for a sandbox, no more than two sandboxes ever run, and all finish."""
    url = fake_github.create_repo("acme", "shop", SHOP_FILES)
    with ScriptedModelServer(slow_fix()) as model:
        loop = await start_loop(model.url, worker=WorkerSettings(max_sandboxes=2))
        tasks = tasks_for(loop, url, 4)
        owner = loop.settings.sandbox_owner
        for task in tasks:
            await loop.gateway.start(task)
        waiting_seen: dict[str, str] = {}
        most_running = 0
        done = asyncio.gather(*(loop.result(t.task_id, timeout=400) for t in tasks))
        while not done.done():
            ours = [s for s in loop.backend.list_sandboxes() if s.owner == owner]
            most_running = max(most_running, len(ours))
            for task in tasks:
                view = await loop.gateway.status(task.task_id)
                if view.status is TaskStatus.PROVISIONING and "waiting for a sandbox" in (
                    view.last_progress or ""
                ):
                    waiting_seen.setdefault(task.task_id, view.last_progress or "")
            await asyncio.sleep(0.2)
        results = await done
    assert [r.status for r in results] == [TaskStatus.COMPLETED] * 4, [r.error for r in results]
    assert most_running <= 2
    assert len(waiting_seen) >= 2, waiting_seen
    assert any("ahead" in text or "next in line" in text for text in waiting_seen.values())
