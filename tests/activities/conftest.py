"""Fixtures for activity tests: an in-memory sandbox, a real source repository, its mirrors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.testing.memory_sandbox import InMemorySandbox
from orchestration.workspace.mirror import MirrorCache
from sandbox.interface import SandboxInfo, SandboxSpec
from tests.forge.gitrepo import git, init_repo, write_files

PROTECTED = [".github/workflows/"]
SOURCE_FILES = {
    "cart.py": "def average(prices):\n    return sum(prices) / len(prices)\n",
    "README.md": "# shop\n",
    "old.txt": "to be removed\n",
    ".github/workflows/ci.yml": "on: push\n",
}


@pytest.fixture
def backend() -> Iterator[InMemorySandbox]:
    """An in-memory sandbox backend; its directory is gone after the test."""
    with InMemorySandbox() as memory:
        yield memory


@pytest.fixture
def sandbox(backend: InMemorySandbox) -> SandboxInfo:
    """The task's sandbox (the double removes it when it closes)."""
    return backend.create(SandboxSpec(task_id="task-1", workflow_id="wf-1", image="unused"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A real repository with two commits on main, standing in for the forge."""
    path = tmp_path / "origin" / "shop"
    init_repo(path, SOURCE_FILES)
    write_files(path, {"README.md": "# shop\n\nSells things.\n"})
    git(path, "commit", "--quiet", "--no-gpg-sign", "--all", "-m", "Describe the shop")
    return path


@pytest.fixture
def activities(backend: InMemorySandbox, tmp_path: Path) -> WorkspaceActivities:
    """The workspace activities on the double and a mirror cache in the test's directory."""
    return WorkspaceActivities(
        backend,
        MirrorCache(tmp_path / "mirrors"),
        lambda _url: {},
        protected_paths=PROTECTED,
        allow_protected=False,
    )
