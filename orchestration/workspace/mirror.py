"""The worker-side cache of bare mirrors: cloned once per URL, fetched after.

Tasks read repositories from here instead of cloning from the network each time; a file lock
per mirror keeps concurrent tasks on the same repository from fetching over each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from orchestration.policy.validation import repository_name_from_url
from orchestration.workspace.git import GitError, run_git


class MirrorCache:
    """Bare mirrors under one directory, keyed by repository URL."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return self.root / f"{repository_name_from_url(url)}-{digest}.git"

    def update(self, url: str, *, env: Mapping[str, str] | None = None) -> Path:
        """Create the mirror on first use, fetch what is new after; returns its path."""
        mirror = self.path_for(url)
        with self._locked(mirror):
            if (mirror / "HEAD").exists():
                run_git(
                    ["--git-dir", str(mirror), "fetch", "--prune", "--quiet", "origin"], env=env
                )
            else:
                self._clone(url, mirror, env)
            _archive_everything(mirror)
        return mirror

    def _clone(self, url: str, mirror: Path, env: Mapping[str, str] | None) -> None:
        partial = mirror.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            run_git(["clone", "--mirror", "--quiet", "--", url, str(partial)], env=env)
        except GitError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise GitError(f"could not fetch {url}: {exc}") from None
        partial.rename(mirror)

    @contextlib.contextmanager
    def _locked(self, mirror: Path) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with mirror.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _archive_everything(mirror: Path) -> None:
    """`git archive` honours the repository's export-ignore/export-subst; the agent must see
    (and the diff must keep) exactly the committed tree, so both are switched off here."""
    attributes = mirror / "info" / "attributes"
    attributes.parent.mkdir(exist_ok=True)
    attributes.write_text("* -export-ignore -export-subst\n")


def resolve_branch(mirror: Path, url: str, branch: str) -> str:
    """The commit a branch points at in the mirror; a clear error when it does not exist."""
    try:
        out = run_git(
            [
                "--git-dir",
                str(mirror),
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{branch}^{{commit}}",
            ]
        )
    except GitError:
        raise GitError(f"branch {branch!r} does not exist in {url}") from None
    return out.decode().strip()
