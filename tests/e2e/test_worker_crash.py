"""A worker killed with SIGKILL mid-task: a new worker takes over and the task completes, with
exactly one pull request and no sandbox left. Workers here are real `fixbot worker` processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bot.cli.demo_repo import FIXED_LINE, PRICING, README, TESTS, scripted_fix
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import Decision, RepositorySpec, TaskStatus
from orchestration.runtime.settings import Settings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from sandbox.docker_backend import DockerSandbox
from tests.fakes.github import FakeGitHub
from tests.support.settings import e2e_settings
from tests.support.workers import Workers, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
SHOP = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
SLOW_STEP = ScriptStep(
    tool="Bash", input={"command": "python3 -c 'import time; time.sleep(8)'", "timeout": 600000}
)


@dataclass
class Crash:
    """One crash scenario: settings of the workers, the workers, and a gateway."""

    settings: Settings
    workers: Workers
    gateway: TaskGateway
    repo_url: str


@pytest.fixture
def crash(
    temporal_env: WorkflowEnvironment, sandbox_image: str, tmp_path: Path, fake_github: FakeGitHub
) -> Iterator[Callable[[str], Crash]]:
    """Factory: `fixbot worker` processes against this test's Temporal server and fakes."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    address = temporal_env.client.service_client.config.target_host
    started: list[Workers] = []

    def make(model_url: str) -> Crash:
        queue = "crash-" + tmp_path.name[-8:]
        settings = e2e_settings(tmp_path / "data", fake_github, model_url, queue)
        workers = Workers(worker_env(settings, address), tmp_path)
        started.append(workers)
        return Crash(settings, workers, TaskGateway(temporal_env.client, queue), url)

    yield make
    for workers in started:
        workers.stop_all()


async def test_worker_killed_during_the_agent_run(
    crash: Callable[[str], Crash], fake_github: FakeGitHub
) -> None:
    """SIGKILL while the agent runs: the next worker stops the orphaned claude, resumes its
    session, and the task completes with one PR and the fix."""
    script = ModelScript(steps=[SLOW_STEP, *scripted_fix().steps])
    with ScriptedModelServer(script) as model:
        run = crash(model.url)
        gateway, workers = run.gateway, run.workers
        first = workers.start()
        task = make_task(
            run.settings,
            title="Discounts raise prices",
            requester="rita",
            require_approval=False,
            repositories=[RepositorySpec(url=run.repo_url, name="shop")],
        )
        task = task.model_copy(update={"heartbeat_timeout_seconds": 3})
        await gateway.start(task)
        await _until(gateway, task.task_id, lambda v: "time.sleep(8)" in (v.last_progress or ""))
        workers.kill(first)
        workers.start()
        result = await asyncio.wait_for(gateway.result(task.task_id), 180)
        resumed = any(
            "previous run was interrupted" in str(r.get("messages")) for r in model.agent_requests()
        )
    assert result.status is TaskStatus.COMPLETED, result.error
    assert resumed, "the new worker resumed the same session"
    pulls = fake_github.pulls("acme", "shop")
    assert len(pulls) == 1
    assert f"+{FIXED_LINE}" in fake_github.diff("acme", "shop", "main", pulls[0].head)
    assert DockerSandbox().find(task.task_id) is None


async def test_worker_killed_while_waiting_for_approval(
    crash: Callable[[str], Crash], fake_github: FakeGitHub
) -> None:
    """SIGKILL during the approval wait: the approval given to the next worker takes effect."""
    with ScriptedModelServer(scripted_fix()) as model:
        run = crash(model.url)
        gateway, workers = run.gateway, run.workers
        first = workers.start()
        task = make_task(
            run.settings,
            title="Discounts raise prices",
            requester="rita",
            repositories=[RepositorySpec(url=run.repo_url, name="shop")],
        )
        task = task.model_copy(update={"heartbeat_timeout_seconds": 3})
        await gateway.start(task)
        await _until(gateway, task.task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)
        workers.kill(first)
        workers.start()
        await gateway.decide(task.task_id, Decision(approve=True, by="alice"))
        result = await asyncio.wait_for(gateway.result(task.task_id), 120)
    assert result.status is TaskStatus.COMPLETED, result.error
    assert len(fake_github.pulls("acme", "shop")) == 1
    assert DockerSandbox().find(task.task_id) is None


async def _until(gateway: TaskGateway, task_id: str, check: object, timeout: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            view = await gateway.status(task_id)
        except Exception:  # the workflow may not have a worker answering queries yet
            view = None
        if view is not None and check(view):  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the task never reached the expected state")


async def kill_when_scheduled(
    gateway: TaskGateway, workflow: str, activity_type: str, kill: Callable[[], None]
) -> None:
    """SIGKILL the worker the moment the given step is scheduled (it is then starting on it)."""
    handle = gateway.client.get_workflow_handle(workflow)
    for _ in range(600):
        history = await handle.fetch_history()
        for event in history.events:
            scheduled = event.activity_task_scheduled_event_attributes
            if (
                event.HasField("activity_task_scheduled_event_attributes")
                and scheduled.activity_type.name == activity_type
            ):
                kill()
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{activity_type} was never scheduled")


@pytest.mark.parametrize(
    "step", ["provision_sandbox", "prepare_workspace", "open_pull_requests", "destroy_sandbox"]
)
async def test_worker_killed_at_each_step(
    crash: Callable[[str], Crash], fake_github: FakeGitHub, step: str
) -> None:
    """SIGKILL as a step starts: the next worker retries it and the task still completes with
    exactly one PR and no sandbox or volume left."""
    with ScriptedModelServer(scripted_fix()) as model:
        run = crash(model.url)
        first = run.workers.start()
        task = make_task(
            run.settings,
            title="Discounts raise prices",
            requester="rita",
            require_approval=False,
            repositories=[RepositorySpec(url=run.repo_url, name="shop")],
        )
        task = task.model_copy(update={"heartbeat_timeout_seconds": 3})
        await run.gateway.start(task)
        await kill_when_scheduled(
            run.gateway, f"fixbot-{task.task_id}", step, lambda: run.workers.kill(first)
        )
        run.workers.start()
        result = await asyncio.wait_for(run.gateway.result(task.task_id), 180)
    assert result.status is TaskStatus.COMPLETED, result.error
    assert len(fake_github.pulls("acme", "shop")) == 1
    backend = DockerSandbox()
    assert backend.find(task.task_id) is None
    assert not [v for v in backend.list_orphan_volumes() if task.task_id in v]
