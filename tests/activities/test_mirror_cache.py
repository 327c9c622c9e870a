"""The mirror cache on real git: shallow per branch, only what is new later, and a resumable
fetch that keeps each completed batch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestration.workspace.fill import FIRST_BATCH, missing_objects
from orchestration.workspace.git import run_git
from orchestration.workspace.mirror import BranchNotFound, MirrorCache, shallow_commits
from orchestration.workspace.watched import GitStopped
from tests.forge.gitrepo import git, init_repo, write_files


def commits(mirror: Path, ref: str = "refs/heads/main") -> int:
    return int(run_git(["--git-dir", str(mirror), "rev-list", "--count", ref]).decode())


@pytest.fixture
def long_history(tmp_path: Path) -> Path:
    """A repository with 60 commits on main and a side branch."""
    path = tmp_path / "origin" / "long"
    init_repo(path, {"counter.txt": "0\n"})
    for number in range(1, 60):
        write_files(path, {"counter.txt": f"{number}\n"})
        git(path, "commit", "--quiet", "--no-gpg-sign", "--all", "-m", f"Count {number}")
    git(path, "branch", "side")
    return path


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    """A repository with more files than one fill batch, serving partial fetches."""
    path = tmp_path / "origin" / "wide"
    init_repo(path, {f"f/{n:05}.txt": f"file {n}\n" for n in range(FIRST_BATCH + 500)})
    git(path, "config", "uploadpack.allowFilter", "true")
    git(path, "config", "uploadpack.allowAnySHA1InWant", "true")
    return path


def test_first_fetch_is_one_shallow_branch(long_history: Path, tmp_path: Path) -> None:
    """The first task on a branch gets its last 50 commits, and no other branch."""
    cache = MirrorCache(tmp_path / "mirrors")
    mirror = cache.update(long_history.as_uri(), branch="main")
    assert commits(mirror) == 50
    assert len(shallow_commits(mirror)) == 1
    refs = run_git(["--git-dir", str(mirror), "for-each-ref", "--format=%(refname)"])
    assert refs.decode().split() == ["refs/heads/main"]
    assert missing_objects(mirror, ["refs/heads/main"]) == []


def test_a_later_fetch_brings_only_new_commits(long_history: Path, tmp_path: Path) -> None:
    """New commits on the branch are added to the history the mirror already has."""
    cache = MirrorCache(tmp_path / "mirrors")
    mirror = cache.update(long_history.as_uri(), branch="main")
    write_files(long_history, {"counter.txt": "60\n"})
    git(long_history, "commit", "--quiet", "--no-gpg-sign", "--all", "-m", "Count 60")
    cache.update(long_history.as_uri(), branch="main")
    assert commits(mirror) == 51
    head = run_git(["--git-dir", str(mirror), "rev-parse", "refs/heads/main"]).decode().strip()
    assert head == git(long_history, "rev-parse", "HEAD")
    counts = run_git(["--git-dir", str(mirror), "count-objects"]).decode()
    assert counts.startswith("3 objects"), counts  # the commit, its tree and the one file


def test_a_missing_branch_is_named(long_history: Path, tmp_path: Path) -> None:
    """A branch the repository lacks raises BranchNotFound, not a network error."""
    cache = MirrorCache(tmp_path / "mirrors")
    with pytest.raises(BranchNotFound, match="no-such"):
        cache.update(long_history.as_uri(), branch="no-such")


def test_resumable_fetch_fills_in_every_file(many_files: Path, tmp_path: Path) -> None:
    """Commits and trees first, then files in batches: the mirror ends complete and whole
    fetches stay the default afterwards."""
    cache = MirrorCache(tmp_path / "mirrors", one_shot_seconds=0)
    lines: list[str] = []
    mirror = cache.update(many_files.as_uri(), branch="main", on_line=lines.append)
    assert missing_objects(mirror, ["refs/heads/main"]) == []
    assert any(line.startswith("files 0-2,000 of 2,500:") for line in lines)
    assert not (mirror / "fixbot-incomplete").exists()
    config = run_git(["--git-dir", str(mirror), "config", "--list"]).decode()
    assert "partialclonefilter" not in config


def test_an_interrupted_fill_resumes_where_it_stopped(many_files: Path, tmp_path: Path) -> None:
    """A cancel during the second batch keeps the first; the next update fetches the rest."""
    cache = MirrorCache(tmp_path / "mirrors", one_shot_seconds=0)
    cancel = threading.Event()

    def stop_in_second_batch(line: str) -> None:
        if line.startswith("files 2,000"):
            cancel.set()

    with pytest.raises(GitStopped, match="cancelled"):
        cache.update(
            many_files.as_uri(), branch="main", on_line=stop_in_second_batch, cancel=cancel
        )
    mirror = cache.path_for(many_files.as_uri())
    left = missing_objects(mirror, ["refs/heads/main"])
    assert 0 < len(left) <= 500
    assert (mirror / "fixbot-incomplete").exists()
    lines: list[str] = []
    cache.update(many_files.as_uri(), branch="main", on_line=lines.append)
    assert missing_objects(mirror, ["refs/heads/main"]) == []
    assert any(line.startswith(f"files 0-{len(left)} of {len(left)}") for line in lines)


def test_an_update_naming_no_branch_fetches_every_branch(
    long_history: Path, tmp_path: Path
) -> None:
    """Publishing on a cold cache still finds the branches' recent commits."""
    mirror = MirrorCache(tmp_path / "mirrors").update(long_history.as_uri())
    assert commits(mirror) == 50
    assert commits(mirror, "refs/heads/side") == 50
