"""The Docker daemon restarts while the agent runs. This test runs its own second Docker engine
(own data root and socket, no network), so restarting it touches no other test's containers."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from temporalio.testing import WorkflowEnvironment

from bot.cli.demo_repo import PRICING, README, TESTS, scripted_fix
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskStatus
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.worker import build_worker
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from sandbox.docker_backend import DockerSandbox
from tests.fakes.github import FakeGitHub
from tests.support.images import TEST_IMAGE
from tests.support.settings import e2e_settings

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
SHOP = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
SLOW_STEP = ScriptStep(
    tool="Bash", input={"command": "python3 -c 'import time; time.sleep(30)'", "timeout": 600000}
)


@dataclass
class Engine:
    """A Docker engine of this test's own."""

    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def start(self) -> None:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [
                # its own network namespace: a second dockerd must not touch the host's
                # docker0 (with --bridge none it deletes it); sandboxes need no network anyway
                "unshare",
                "--net",
                "dockerd",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "--host",
                self.url,
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        client = docker.DockerClient(base_url=self.url, version="1.41")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                client.ping()
                return
            time.sleep(0.3)
        raise RuntimeError(f"the test's dockerd did not start; see {self.root / 'dockerd.log'}")

    def restart(self) -> None:
        """What `systemctl restart docker` does: SIGTERM (containers stop), then start again."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def second_engine(sandbox_image: str) -> Iterator[Engine]:
    """Start a second dockerd and load the sandbox image into it (about 40 s, once)."""
    root = Path(tempfile.mkdtemp(prefix="fixbot-dockerd-", dir="/tmp"))
    engine = Engine(root)
    engine.start()
    save = subprocess.Popen(["docker", "save", TEST_IMAGE], stdout=subprocess.PIPE)
    subprocess.run(
        ["docker", "-H", engine.url, "load", "-q"],
        stdin=save.stdout,
        check=True,
        capture_output=True,
    )
    save.wait()
    try:
        yield engine
    finally:
        with contextlib.suppress(Exception):
            client = docker.DockerClient(base_url=engine.url, version="1.41")
            for container in client.containers.list(all=True):
                container.remove(force=True)
        engine.stop()
        subprocess.run(["umount", "-R", str(root / "data")], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


async def test_docker_restart_mid_run_ends_clearly_and_leaves_nothing(
    second_engine: Engine,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    fake_github: FakeGitHub,
) -> None:
    """The daemon restarts while the agent works: the task ends with a clear failure (its
    sandbox stopped), never two sandboxes at once, and none left afterwards."""
    backend = DockerSandbox(base_url=second_engine.url)
    url = fake_github.create_repo("acme", "shop", SHOP)
    with ScriptedModelServer(ModelScript(steps=[SLOW_STEP, *scripted_fix().steps])) as model:
        settings = e2e_settings(tmp_path / "data", fake_github, model.url, "dockerd-restart")
        async with sandbox_services(settings) as services:
            worker = build_worker(temporal_env.client, settings, backend, services=services)
            async with worker:
                gateway = TaskGateway(temporal_env.client, settings.temporal_task_queue)
                task = make_task(
                    settings,
                    title="Discounts raise prices",
                    requester="rita",
                    require_approval=False,
                    repositories=[RepositorySpec(url=url, name="shop")],
                )
                task = task.model_copy(update={"heartbeat_timeout_seconds": 5})
                await gateway.start(task)
                await until_agent_busy(gateway, task.task_id)
                await asyncio.to_thread(second_engine.restart)
                result = await asyncio.wait_for(gateway.result(task.task_id), 240)
    print("after a Docker restart:", result.status.value, "-", (result.error or "")[:160])
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and (
        "sandbox stopped during the agent run" in result.error
        or "sandbox is no longer running" in result.error
    )
    assert [s for s in backend.list_sandboxes() if s.task_id == task.task_id] == []
    assert not [v for v in backend.list_orphan_volumes() if task.task_id in v]
    assert not fake_github.pulls("acme", "shop")


async def until_agent_busy(gateway: TaskGateway, task_id: str) -> None:
    for _ in range(600):
        view = await gateway.status(task_id)
        if view.last_progress and "time.sleep(30)" in view.last_progress:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the agent never started its long command")
