"""End-to-end harness: the real worker, Docker, sandbox image and `claude`; scripted model;
a local GitHub (git over HTTP + REST) driven through real git and PyGithub."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestration.agents.port import AgentRunner
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskInput, TaskResult, TaskStatus, TaskView
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.settings import (
    EnvironmentSettings,
    SandboxSettings,
    Settings,
    WorkerSettings,
)
from orchestration.runtime.worker import build_worker
from sandbox.docker_backend import DockerSandbox
from tests.fakes.github import FakeGitHub
from tests.support.guards import no_sandbox_left_behind  # noqa: F401 (autouse fixture)
from tests.support.images import ensure_test_image
from tests.support.settings import e2e_settings


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The real sandbox image with the real `claude`, built or reused by content hash."""
    return ensure_test_image()


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@dataclass
class Loop:
    """A running worker plus what a test needs to drive and inspect it."""

    gateway: TaskGateway
    settings: Settings
    backend: DockerSandbox
    cli_env: dict[str, str]

    async def wait_for(
        self, task: TaskInput | str, status: TaskStatus, timeout: float = 120
    ) -> TaskView:
        task_id = task if isinstance(task, str) else task.task_id
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            view = await self.gateway.status(task_id)
            if view.status is status:
                return view
            if view.status.is_terminal:
                raise AssertionError(f"task ended as {view.status}: {view.error}")
            await asyncio.sleep(0.1)
        raise AssertionError(f"task did not reach {status} within {timeout}s")

    async def result(self, task_id: str, timeout: float = 180) -> TaskResult:
        return await asyncio.wait_for(self.gateway.result(task_id), timeout)

    async def cli(self, *args: str) -> tuple[int, str]:
        """Run the real `fixbot` console script against this loop's Temporal server."""
        fixbot = Path(sys.executable).with_name("fixbot")
        process = await asyncio.create_subprocess_exec(
            str(fixbot),
            *args,
            env=self.cli_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode()


@pytest.fixture
async def start_loop(
    temporal_env: WorkflowEnvironment, sandbox_image: str, tmp_path: Path, fake_github: FakeGitHub
) -> AsyncIterator[object]:
    """Factory: start a worker whose model is the given scripted server's URL (and whose agent
    is Claude Code unless another runner is given)."""
    stack = contextlib.AsyncExitStack()
    backend = DockerSandbox()

    async def start(
        model_url: str,
        sandbox: SandboxSettings | None = None,
        agent_runner: AgentRunner | None = None,
        worker: WorkerSettings | None = None,
        environment: EnvironmentSettings | None = None,
    ) -> Loop:
        queue = f"e2e-{uuid.uuid4().hex[:8]}"
        settings = e2e_settings(tmp_path / "data", fake_github, model_url, queue)
        if sandbox is not None:
            settings = settings.model_copy(update={"sandbox": sandbox})
        if worker is not None:
            settings = settings.model_copy(update={"worker": worker})
        if environment is not None:
            settings = settings.model_copy(update={"environment": environment})
        proxy = await stack.enter_async_context(sandbox_services(settings))
        worker = build_worker(
            temporal_env.client, settings, backend, services=proxy, agent_runner=agent_runner
        )
        await stack.enter_async_context(worker)
        target = temporal_env.client.service_client.config.target_host
        cli_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FIXBOT_", "TEMPORAL_"))},
            "TEMPORAL_ADDRESS": target,
            "FIXBOT_TEMPORAL_TASK_QUEUE": queue,
            "FIXBOT_DATA_DIR": str(tmp_path / "cli"),
            "FIXBOT_GIT__ALLOWED_HOSTS": f'["{fake_github.web_host}"]',
            "FIXBOT_GIT__ALLOWED_SCHEMES": '["http"]',
            "FIXBOT_LOG_LEVEL": "warning",
        }
        return Loop(TaskGateway(temporal_env.client, queue), settings, backend, cli_env)

    async with stack:
        yield start


def shop_task(loop: Loop, url: str, **overrides: Any) -> TaskInput:
    """The demo's bug as a task on the shop repository at url, needing no approval."""
    task = make_task(
        loop.settings,
        title="Discounts raise prices",
        requester="rita",
        require_approval=False,
        repositories=[RepositorySpec(url=url, name="shop")],
    )
    return task.model_copy(update=overrides)
