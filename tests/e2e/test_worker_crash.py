"""A worker killed with SIGKILL mid-task: a new worker takes over and the task completes, with
exactly one pull request and no sandbox left. Workers here are real `fixbot worker` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bot.cli.demo_repo import FIXED_LINE, PRICING, README, TESTS, scripted_fix
from orchestration.gateway import TaskGateway
from orchestration.models import Decision, RepositorySpec, TaskStatus
from orchestration.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from orchestration.settings import Settings
from orchestration.task_factory import make_task
from sandbox.docker_backend import DockerSandbox
from tests.fakes.github import FakeGitHub
from tests.support.settings import e2e_settings

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
SHOP = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
SLOW_STEP = ScriptStep(
    tool="Bash", input={"command": "python3 -c 'import time; time.sleep(8)'", "timeout": 600000}
)


def worker_env(settings: Settings, address: str) -> dict[str, str]:
    """The settings of an in-test worker, as the environment of a `fixbot worker` process."""
    assert settings.anthropic_api_key and settings.github_token
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FIXBOT_", "TEMPORAL_", "GITHUB_", "ANTHROPIC_", "SLACK_"))
    }
    return {
        **clean,
        "TEMPORAL_ADDRESS": address,
        "FIXBOT_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "FIXBOT_DATA_DIR": str(settings.data_dir),
        "ANTHROPIC_BASE_URL": settings.anthropic_base_url,
        "ANTHROPIC_API_KEY": settings.anthropic_api_key.get_secret_value(),
        "GITHUB_TOKEN": settings.github_token.get_secret_value(),
        "GITHUB_API_URL": settings.github_api_url,
        "FIXBOT_GITHUB_WEB_HOST": settings.github_web_host,
        "FIXBOT_GITHUB_REQUEST_RETRIES": "0",
        "FIXBOT_GITHUB_THROTTLE": "false",
        "FIXBOT_SANDBOX__IMAGE": settings.sandbox.image,
        "FIXBOT_GIT__ALLOWED_HOSTS": f'["{settings.github_web_host}"]',
        "FIXBOT_GIT__ALLOWED_SCHEMES": '["http"]',
        "FIXBOT_LOG_LEVEL": "warning",
    }


class Workers:
    """`fixbot worker` processes this test starts (and stops, by pid)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"worker-{len(self.processes)}.log").open("wb")
        fixbot = str(Path(sys.executable).with_name("fixbot"))
        process = subprocess.Popen([fixbot, "worker"], env=self._env, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


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
