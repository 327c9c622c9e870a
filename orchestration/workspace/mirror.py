"""The worker-side cache of bare mirrors: per repository URL, only the branches tasks asked for.

A task needs one branch's recent history, never the whole repository: the first task on a
branch fetches it shallow (HISTORY_DEPTH commits), later tasks fetch only what is new, and a
branch whose history is shorter than that is deepened. A one-shot fetch that projects to take
too long (a large repository over a slow network) is stopped early and the branch is fetched
in steps that each keep their progress: its commits and trees first, then its files in
batches (`fill`). No step has a fixed timeout; git is stopped only when it stalls.

A file lock per mirror keeps concurrent tasks on the same repository from fetching over each
other. Everything reachable from a mirror's branches (down to its shallow boundary) is present
once `update` returns, so other readers (publishing clones it) never need the network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from orchestration.policy.validation import repository_name_from_url
from orchestration.workspace.fill import PROMISOR, fill_missing, forget_filter
from orchestration.workspace.git import GitError, run_git
from orchestration.workspace.watched import GitStopped, ProgressSink, run_watched

HISTORY_DEPTH = 50
ONE_SHOT_SECONDS = 120.0
_JUDGE_AFTER_SECONDS = 10.0
# Written before a fetch that leaves files out, removed once they are all filled in.
_INCOMPLETE = "fixbot-incomplete"
_SLOW = "projected to take too long"
_SHALLOW_FILE_LIMIT = 16 * 1024 * 1024


class BranchNotFound(GitError):
    """The repository has no such branch (a permanent failure, unlike the network's)."""


class MirrorCache:
    """Bare mirrors under one directory, keyed by repository URL."""

    def __init__(
        self,
        root: Path,
        *,
        depth: int = HISTORY_DEPTH,
        one_shot_seconds: float = ONE_SHOT_SECONDS,
    ) -> None:
        """one_shot_seconds: the projected duration past which a one-shot fetch gives way to
        resumable steps; 0 always fetches in resumable steps."""
        self.root = root
        self.depth = depth
        self.one_shot_seconds = one_shot_seconds

    def path_for(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return self.root / f"{repository_name_from_url(url)}-{digest}.git"

    def update(
        self,
        url: str,
        *,
        env: Mapping[str, str] | None = None,
        branch: str | None = None,
        on_line: ProgressSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Fetch branch (default: every branch the mirror already has, or every branch of the
        repository when it has none); returns the mirror's path."""
        mirror = self.path_for(url)
        fetch = _Fetch(self, mirror, env, on_line or (lambda _line: None), cancel)
        with self._locked(mirror):
            _ensure_repository(mirror, url)
            if branch is None and not _known_branches(mirror):
                fetch.every_branch()
            for name in [branch] if branch else _known_branches(mirror):
                fetch.branch(url, name)
        return mirror

    @contextlib.contextmanager
    def _locked(self, mirror: Path) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with mirror.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class _Fetch:
    """One update's fetches into one mirror, with the cache's policy and the caller's sinks."""

    def __init__(
        self,
        cache: MirrorCache,
        mirror: Path,
        env: Mapping[str, str] | None,
        on_line: ProgressSink,
        cancel: threading.Event | None,
    ) -> None:
        self.cache, self.mirror, self.env = cache, mirror, env
        self.on_line, self.cancel = on_line, cancel

    def branch(self, url: str, branch: str) -> None:
        """Bring branch up to date and complete, by the cheapest way that keeps progress."""
        ref = f"refs/heads/{branch}"
        known = _has_ref(self.mirror, ref)
        depth = [] if known else [f"--depth={self.cache.depth}"]
        refspec = f"+{ref}:{ref}"
        try:
            if self.cache.one_shot_seconds > 0 and not self._incomplete.exists():
                self._run(depth, refspec, judged=True)
            else:
                self._resumable(depth, refspec)
        except GitStopped as exc:
            if _SLOW not in str(exc):
                raise
            self._resumable(depth, refspec)
        except GitError as exc:
            if "couldn't find remote ref" in str(exc):
                raise BranchNotFound(f"branch {branch!r} does not exist in {url}") from None
            raise GitError(f"could not fetch {url}: {exc}") from None
        self._deepen_if_short(ref)

    def every_branch(self) -> None:
        """The last `depth` commits of every branch, for a reader that names none (publishing
        on a worker whose cache has not seen the repository)."""
        refspec = "+refs/heads/*:refs/heads/*"
        self._run([f"--depth={self.cache.depth}"], refspec, judged=False)

    @property
    def _incomplete(self) -> Path:
        return self.mirror / _INCOMPLETE

    def _resumable(self, depth: list[str], refspec: str) -> None:
        """Commits and trees first, then the files in batches; each step is kept."""
        self._incomplete.touch()
        try:
            self._run([*depth, "--filter=blob:none"], refspec, judged=False, promisor=True)
        finally:
            forget_filter(self.mirror)
        self._fill()

    def _fill(self) -> None:
        """Fetch every file the mirror's branches need and lack, then mark it complete."""
        branches = [f"refs/heads/{name}" for name in _known_branches(self.mirror)]
        if branches:
            fill_missing(
                self.mirror, branches, env=self.env, on_line=self.on_line, cancel=self.cancel
            )
        self._incomplete.unlink(missing_ok=True)

    def _deepen_if_short(self, ref: str) -> None:
        """Fetch older commits when the branch shows fewer than `depth` (another branch's
        shallow fetch may have cut it short)."""
        window = _window(self.mirror, ref, self.cache.depth)
        if len(window) >= self.cache.depth or not set(window) & shallow_commits(self.mirror):
            return
        self._run([f"--deepen={self.cache.depth - len(window)}"], f"+{ref}:{ref}", judged=False)

    def _run(
        self, options: list[str], refspec: str, *, judged: bool, promisor: bool = False
    ) -> None:
        fetch = ["fetch", "--progress", "--no-tags", "--no-write-fetch-head", *options]
        run_watched(
            [
                "--git-dir",
                str(self.mirror),
                *(PROMISOR if promisor else ()),
                *fetch,
                "origin",
                refspec,
            ],
            on_line=self.on_line,
            env=self.env,
            cancel=self.cancel,
            judge=self._judge if judged else None,
        )

    def _judge(self, elapsed: float, received_percent: int) -> str | None:
        """Stop a one-shot fetch early when its pace says it would run past the limit."""
        limit = self.cache.one_shot_seconds
        if elapsed < _JUDGE_AFTER_SECONDS:
            return None
        projected = elapsed * 100 / received_percent if received_percent else elapsed
        if projected <= limit or (received_percent == 0 and elapsed <= limit):
            return None
        return f"{_SLOW} ({projected:.0f}s); fetching in resumable steps"


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
        raise BranchNotFound(f"branch {branch!r} does not exist in {url}") from None
    return out.decode().strip()


def shallow_commits(mirror: Path) -> set[str]:
    """The mirror's shallow boundary: commits whose parents it does not have."""
    path = mirror / "shallow"
    if not path.is_file():
        return set()
    with path.open("rb") as shallow:
        return set(shallow.read(_SHALLOW_FILE_LIMIT).decode().split())


def _window(mirror: Path, revision: str, depth: int) -> list[str]:
    out = run_git(["--git-dir", str(mirror), "rev-list", f"--max-count={depth}", revision, "--"])
    return out.decode().split()


def _ensure_repository(mirror: Path, url: str) -> None:
    """An empty bare repository fetching from url, on first use."""
    if (mirror / "HEAD").exists():
        return
    partial = mirror.with_suffix(".partial")
    run_git(["init", "--bare", "--quiet", "--", str(partial)])
    for key, value in {"remote.origin.url": url, "core.hooksPath": "/dev/null"}.items():
        run_git(["--git-dir", str(partial), "config", key, value])
    partial.rename(mirror)


def _has_ref(mirror: Path, ref: str) -> bool:
    try:
        run_git(["--git-dir", str(mirror), "rev-parse", "--verify", "--quiet", ref])
    except GitError:
        return False
    return True


def _known_branches(mirror: Path) -> list[str]:
    out = run_git(
        ["--git-dir", str(mirror), "for-each-ref", "--format=%(refname:strip=2)", "refs/heads/"]
    )
    return out.decode().split()
