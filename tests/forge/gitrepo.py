"""Test helpers that build real repositories and patches with git."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.forge.git_push import GitAuth, commit_and_push
from orchestration.models import FileChange, RepositoryChange, RepositorySpec, TaskInput
from tests.fakes.github import FakeGitHub

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Person",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test Person",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` (ignoring the developer's config) and return stripped stdout."""
    env = {**os.environ, **IDENTITY, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, check=True, timeout=60
    )
    return result.stdout.decode().strip()


def init_repo(path: Path, files: dict[str, str], branch: str = "main") -> str:
    """A working repository at `path` with one commit of `files`; return that commit."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet", f"--initial-branch={branch}")
    write_files(path, files)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--no-gpg-sign", "-m", "Initial commit")
    return git(path, "rev-parse", "HEAD")


def write_files(root: Path, files: Mapping[str, str | None]) -> None:
    """Write text files under `root`; None deletes the file."""
    for relative, text in files.items():
        target = root / relative
        if text is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def make_change(
    source: Path | str, edits: Mapping[str, str | None], scratch: Path, spec: RepositorySpec
) -> RepositoryChange:
    """Clone `source`, make `edits`, and return them as a RepositoryChange (`git diff --binary`)."""
    work = scratch / f"edit-{spec.name}-{len(list(scratch.glob('edit-*')))}"
    git(scratch, "clone", "--quiet", str(source), str(work))
    base = git(work, "rev-parse", "HEAD")
    write_files(work, edits)
    git(work, "add", "--all")
    patch = git_raw(work, "diff", "--cached", "--binary", base)
    files = [
        _file_change(line) for line in git(work, "diff", "--cached", "--numstat", base).splitlines()
    ]
    return RepositoryChange(
        repository=spec,
        base_commit=base,
        files=files,
        patch=patch,
        patch_sha256=hashlib.sha256(patch.encode()).hexdigest(),
    )


def git_raw(cwd: Path, *args: str) -> str:
    """Run git and return stdout untouched (patches keep their trailing newline)."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, check=True, timeout=60
    )
    return result.stdout.decode()


def _file_change(numstat: str) -> FileChange:
    """A FileChange from one `--numstat` line (binary files count as 0/0)."""
    added, removed, path = numstat.split("\t", 2)
    return FileChange(
        path=path,
        additions=int(added) if added.isdigit() else 0,
        deletions=int(removed) if removed.isdigit() else 0,
    )


def task_input(**overrides: object) -> TaskInput:
    """A TaskInput with sensible test values."""
    values: dict[str, object] = {
        "task_id": "task-123",
        "title": "Crash when the cart is empty",
        "description": "Opening an empty cart raises ZeroDivisionError.",
        "repositories": [RepositorySpec(url="https://github.com/acme/shop", name="shop")],
        "requester": "U123",
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    values.update(overrides)
    return TaskInput.model_validate(values)


WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
BRANCH = "fixbot/task-123"


def push_fix(fake: FakeGitHub, change: RepositoryChange, workdir: Path, **overrides: Any) -> str:
    """`commit_and_push` of `change` to acme/shop on the fake, with test defaults."""
    arguments: dict[str, Any] = {
        "source": str(fake.repo_path("acme", "shop")),
        "change": change,
        "branch": BRANCH,
        "push_url": fake.clone_url("acme", "shop"),
        "auth": GitAuth("x-access-token", fake.token),
        "author_name": "fixbot",
        "author_email": "fixbot@example.invalid",
        "commit_date": WHEN,
        "message": "fixbot: crash when the cart is empty",
        "workdir": workdir,
    }
    arguments.update(overrides)
    return commit_and_push(**arguments)
