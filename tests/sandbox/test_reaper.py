"""The reaper removes sandboxes of ended workflows and orphan volumes, and keeps going."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import docker
import pytest

from sandbox.docker_backend import DockerSandbox
from sandbox.interface import (
    ExecResult,
    ExecStream,
    Sandbox,
    SandboxError,
    SandboxInfo,
    SandboxSpec,
)
from sandbox.naming import labels
from sandbox.reaper import reap

from .conftest import MakeSandbox


@pytest.mark.docker
def test_reaper_on_docker(
    backend: DockerSandbox,
    docker_client: docker.DockerClient,
    make_sandbox: MakeSandbox,
    run_id: str,
) -> None:
    """On real Docker: the ended workflow's sandbox and an orphan volume go; the active stays."""
    active = make_sandbox(workflow_id=f"{run_id}-wf-active")
    ended = make_sandbox(workflow_id=f"{run_id}-wf-ended")
    orphan = f"fixbot-ws-{run_id}-orphan"
    docker_client.volumes.create(
        orphan, labels=labels(f"{run_id}-orphan", f"{run_id}-wf-gone", run_id)
    )
    try:
        report = reap(backend, lambda workflow_id: workflow_id != ended.workflow_id, owner=run_id)
    finally:
        backend.remove_volume(orphan)
    assert ended.name in report.removed_sandboxes
    assert active.name in report.kept_sandboxes
    assert orphan in report.removed_volumes
    assert backend.find(ended.task_id) is None
    assert backend.find(active.task_id) is not None
    remaining = {volume.name for volume in docker_client.volumes.list()}
    assert active.volume in remaining
    assert not {ended.volume, orphan} & remaining


class FakeBackend:
    """Just enough of a Sandbox for the reaper, with failures on demand."""

    def __init__(self, infos: list[SandboxInfo], volumes: list[str], broken: set[str]) -> None:
        """Sandboxes, orphan volumes, and names whose removal fails."""
        self.infos = infos
        self.volumes = volumes
        self.broken = broken
        self.destroyed: list[str] = []
        self.removed_volumes: list[str] = []

    def ping(self) -> None:
        """Always up."""

    def create(self, spec: SandboxSpec) -> SandboxInfo:
        """Not used by the reaper."""
        raise NotImplementedError

    def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout_seconds: float | None = None,
        stdin: bytes | None = None,
        output_limit: int = 0,
    ) -> ExecResult:
        """Not used by the reaper."""
        raise NotImplementedError

    def exec_stream(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = "/workspace",
        timeout_seconds: float | None = None,
    ) -> ExecStream:
        """Not used by the reaper."""
        raise NotImplementedError

    def put_archive(self, sandbox_id: str, path: str, tar: bytes | Iterable[bytes]) -> None:
        """Not used by the reaper."""
        raise NotImplementedError

    def get_archive(self, sandbox_id: str, path: str, *, limit: int = 0) -> bytes:
        """Not used by the reaper."""
        raise NotImplementedError

    def destroy(self, sandbox_id: str) -> None:
        """Record, or fail for a broken one."""
        if sandbox_id in self.broken:
            raise SandboxError(f"cannot remove {sandbox_id}")
        self.destroyed.append(sandbox_id)

    def image_id(self, image: str) -> str:
        """Not used by the reaper."""
        raise NotImplementedError

    def find(self, task_id: str) -> SandboxInfo | None:
        """Not used by the reaper."""
        raise NotImplementedError

    def list_sandboxes(self) -> list[SandboxInfo]:
        """The configured sandboxes."""
        return self.infos

    def list_orphan_volumes(self, owner: str | None = None) -> list[str]:
        """The configured volumes."""
        return self.volumes

    def remove_volume(self, name: str) -> None:
        """Record, or fail for a broken one."""
        if name in self.broken:
            raise SandboxError(f"cannot remove {name}")
        self.removed_volumes.append(name)


def info(name: str, workflow_id: str) -> SandboxInfo:
    """A sandbox description named after its id."""
    return SandboxInfo(
        sandbox_id=name,
        name=name,
        task_id=name,
        workflow_id=workflow_id,
        volume=f"ws-{name}",
        running=True,
        created_at=datetime.now(UTC),
    )


def is_active_from(active: set[str], flaky: set[str]) -> Callable[[str], bool]:
    """An is_active that knows the active set and fails for flaky ids."""

    def is_active(workflow_id: str) -> bool:
        if workflow_id in flaky:
            raise ConnectionError("temporal did not answer")
        return workflow_id in active

    return is_active


def test_reaper_keeps_going_after_failures() -> None:
    backend: Sandbox = FakeBackend(
        infos=[info("a", "wf-ended"), info("b", "wf-ended"), info("c", "wf-live"), info("d", "?")],
        volumes=["v1", "v2"],
        broken={"a", "v1"},
    )
    report = reap(backend, is_active_from(active={"wf-live"}, flaky={"?"}))
    assert report.removed_sandboxes == ["b"]
    assert report.kept_sandboxes == ["c"]
    assert report.removed_volumes == ["v2"]
    assert report.removed_count == 2
    assert [error.split(":")[0] for error in report.errors] == [
        "sandbox a (workflow wf-ended)",
        "sandbox d (workflow ?)",
        "volume v1",
    ]
    assert isinstance(backend, FakeBackend)
    assert backend.destroyed == ["b"]


@pytest.mark.docker
def test_reaper_leaves_other_deployments_sandboxes_alone(
    backend: DockerSandbox, make_sandbox: MakeSandbox, run_id: str
) -> None:
    """A sandbox owned by another deployment survives even though this one's Temporal
    server does not know its workflow (it is not ended, just someone else's)."""
    foreign = make_sandbox(workflow_id=f"{run_id}-wf-foreign", owner=f"{run_id}-other")
    ours = make_sandbox(workflow_id=f"{run_id}-wf-ours")
    report = reap(backend, lambda workflow_id: False, owner=run_id)
    assert ours.name in report.removed_sandboxes
    assert foreign.name not in report.removed_sandboxes + report.kept_sandboxes
    assert backend.find(foreign.task_id) is not None
