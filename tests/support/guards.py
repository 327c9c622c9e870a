"""A guard for tests that run real sandboxes: nothing of theirs may be left behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.docker_backend import DockerSandbox


@pytest.fixture(autouse=True)
def no_sandbox_left_behind(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves a sandbox of its own behind (and remove it).

    A test's worker keeps its data under tmp_path, so its sandboxes' owner label names it."""
    yield
    backend = DockerSandbox()
    mine = [s for s in backend.list_sandboxes() if str(tmp_path) in s.owner]
    for sandbox in mine:
        backend.destroy(sandbox.sandbox_id)
    assert not mine, f"left behind: {[s.name for s in mine]}"
