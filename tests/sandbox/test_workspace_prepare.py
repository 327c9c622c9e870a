"""Preparing the workspace in a real Docker sandbox: the history pack streamed in as the
agent's files, checked out by git inside the container."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.models import (
    RepositorySpec,
    SandboxRef,
    SandboxTarget,
    TaskInput,
    WorkspaceReport,
)
from orchestration.workspace.mirror import MirrorCache
from sandbox.docker_backend import DockerSandbox
from sandbox.interface import SandboxInfo
from tests.forge.gitrepo import init_repo

pytestmark = pytest.mark.docker


async def test_prepared_repository_belongs_to_the_agent_and_is_clean(
    backend: DockerSandbox, shared_sandbox: SandboxInfo, tmp_path: Path
) -> None:
    """Every file and the .git are the agent's, the tree is checked out clean at the
    branch's commit, and the guide file sits at /workspace."""
    source = tmp_path / "streamed"
    commit = init_repo(source, {"app.py": "print('hi')\n", "pkg/mod.py": "X = 1\n"})
    activities = WorkspaceActivities(
        backend,
        MirrorCache(tmp_path / "mirrors"),
        lambda _url: {},
        protected_paths=[],
        allow_protected=False,
    )
    task = TaskInput(
        task_id="prepare-docker",
        title="t",
        repositories=[RepositorySpec(url=source.as_uri(), name="streamed")],
        requester="U1",
        created_at=datetime(2025, 1, 2, tzinfo=UTC),
    )
    ref = SandboxRef(sandbox_id=shared_sandbox.sandbox_id, name=shared_sandbox.name)
    report: WorkspaceReport = await ActivityEnvironment().run(
        activities.prepare, SandboxTarget(task=task, sandbox=ref)
    )
    assert report.repositories[0].commit == commit
    sandbox_id = shared_sandbox.sandbox_id
    owners = backend.exec(
        sandbox_id, ["find", "streamed", "/workspace/AGENTS.md", "-not", "-uid", "1000"]
    )
    assert (owners.exit_code, owners.stdout) == (0, b"")
    status = backend.exec(
        sandbox_id, ["git", "status", "--porcelain"], workdir="/workspace/streamed"
    )
    assert (status.exit_code, status.stdout) == (0, b"")
    head = backend.exec(sandbox_id, ["git", "rev-parse", "HEAD"], workdir="/workspace/streamed")
    assert head.stdout.decode().strip() == commit
    code = backend.exec(sandbox_id, ["cat", "pkg/mod.py"], workdir="/workspace/streamed")
    assert code.stdout == b"X = 1\n"
