"""The Temporal server is killed and restarted on the same SQLite file mid-task: the worker
reconnects, the task's state survives, an approval given after the restart takes effect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bot.cli.demo_repo import PRICING, README, TESTS, scripted_fix
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import Decision, RepositorySpec, TaskInput, TaskStatus, TaskView
from orchestration.runtime.embedded_temporal import DevServer
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
class Restartable:
    server: DevServer
    settings: Settings
    workers: Workers
    gateway: TaskGateway
    repo_url: str

    def restart(self) -> None:
        """Kill the server (SIGKILL) and start it again on the same port and SQLite file."""
        self.server.kill()
        self.server.start()

    def task(self, **overrides: object) -> TaskInput:
        task = make_task(
            self.settings,
            title="Discounts raise prices",
            requester="rita",
            repositories=[RepositorySpec(url=self.repo_url, name="shop")],
        )
        return task.model_copy(update={"heartbeat_timeout_seconds": 10, **overrides})


@pytest.fixture
async def restartable(
    sandbox_image: str, tmp_path: Path, fake_github: FakeGitHub
) -> AsyncIterator[Callable[[str], Awaitable[Restartable]]]:
    """Factory: a dev server on a SQLite file, a `fixbot worker` process, a gateway."""
    server = DevServer(tmp_path / "temporal.db")
    server.start()
    url = fake_github.create_repo("acme", "shop", SHOP)
    started: list[Workers] = []

    async def make(model_url: str) -> Restartable:
        settings = e2e_settings(tmp_path / "data", fake_github, model_url, "restart")
        workers = Workers(worker_env(settings, server.address), tmp_path)
        started.append(workers)
        workers.start()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        return Restartable(server, settings, workers, TaskGateway(client, "restart"), url)

    yield make
    for workers in started:
        workers.stop_all()
    server.stop()


async def until(gateway: TaskGateway, task_id: str, check: Callable[[TaskView], bool]) -> None:
    for _ in range(600):
        with contextlib.suppress(Exception):  # the server may be restarting, or no worker yet
            if check(await gateway.status(task_id)):
                return
        await asyncio.sleep(0.2)
    raise AssertionError("the task never reached the expected state")


async def test_server_restart_during_the_agent_run(
    restartable: Callable[[str], Awaitable[Restartable]], fake_github: FakeGitHub
) -> None:
    """The server dies while the agent works and comes back on the same file: the task
    completes with one PR."""
    with ScriptedModelServer(ModelScript(steps=[SLOW_STEP, *scripted_fix().steps])) as model:
        run = await restartable(model.url)
        task = run.task(require_approval=False)
        await run.gateway.start(task)
        await until(run.gateway, task.task_id, lambda v: "time.sleep(8)" in (v.last_progress or ""))
        run.restart()
        result = await asyncio.wait_for(run.gateway.result(task.task_id), 240)
    assert result.status is TaskStatus.COMPLETED, result.error
    assert len(fake_github.pulls("acme", "shop")) == 1
    assert DockerSandbox().find(task.task_id) is None


async def test_server_restart_during_the_approval_wait(
    restartable: Callable[[str], Awaitable[Restartable]], fake_github: FakeGitHub
) -> None:
    """The server dies while the task waits for approval: the approval given after the
    restart takes effect."""
    with ScriptedModelServer(scripted_fix()) as model:
        run = await restartable(model.url)
        task = run.task()
        await run.gateway.start(task)
        await until(run.gateway, task.task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)
        run.restart()
        await until(run.gateway, task.task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)
        await run.gateway.decide(task.task_id, Decision(approve=True, by="alice"))
        result = await asyncio.wait_for(run.gateway.result(task.task_id), 120)
    assert result.status is TaskStatus.COMPLETED, result.error
    assert len(fake_github.pulls("acme", "shop")) == 1
    assert DockerSandbox().find(task.task_id) is None
