"""Preparing /workspace from the mirror cache, and collecting the agent's change from it."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.errors import permanent
from orchestration.activities.heartbeat import heartbeating, heartbeats
from orchestration.agents.prompt import GUIDE_FILE, workspace_guide
from orchestration.environment.spec_file import EnvironmentSpecError
from orchestration.environment.spec_source import environment_for
from orchestration.models import (
    ChangeSet,
    CollectRequest,
    PreparedRepository,
    RepositoryChange,
    RepositorySpec,
    SandboxTarget,
    TaskInput,
    WorkspaceReport,
)
from orchestration.models.environment import EnvironmentSpec
from orchestration.policy.protected_paths import violations
from orchestration.workspace import changes
from orchestration.workspace.archive import RepositoryEntry, checkout_argv, workspace_tar
from orchestration.workspace.git import run_git
from orchestration.workspace.history import History, history_pack
from orchestration.workspace.mirror import BranchNotFound, MirrorCache, resolve_branch
from orchestration.workspace.result_tree import changed_entries
from orchestration.workspace.tree_limits import TreeLimits, measure, refusal
from sandbox.interface import DEFAULT_OUTPUT_LIMIT, WORKSPACE_PATH, Sandbox

GitEnvironment = Callable[[str], Mapping[str, str]]
DEFAULT_TREE_LIMITS = TreeLimits(max_unpacked_mb=1024, max_files=200_000, max_path_depth=64)


def patch_numstat(patch: bytes) -> bytes:
    """`git apply --numstat -z` of a patch, run on the worker outside any repository."""
    if not patch:
        return b""
    with tempfile.TemporaryDirectory(prefix="fixbot-numstat-") as scratch:
        return run_git(["apply", "--numstat", "-z", "-"], cwd=Path(scratch), stdin=patch)


class WorkspaceActivities:
    """Holds the sandbox backend, the mirror cache, and how to authenticate git per URL."""

    def __init__(
        self,
        backend: Sandbox,
        mirrors: MirrorCache,
        git_env: GitEnvironment,
        *,
        protected_paths: list[str],
        allow_protected: bool,
        guide_files: Sequence[str] = (),
        tree_limits: TreeLimits = DEFAULT_TREE_LIMITS,
        environments: Mapping[str, EnvironmentSpec] | None = None,
    ) -> None:
        self._tree_limits = tree_limits
        # operators' specs by repository URL, for repositories they cannot add a file to
        self._environments = dict(environments or {})
        # the task's guide goes into AGENTS.md and whatever else the agent CLI reads
        self._guide_files = tuple(dict.fromkeys((GUIDE_FILE, *guide_files)))
        self._backend = backend
        self._mirrors = mirrors
        self._git_env = git_env
        self._protected_paths = protected_paths
        self._allow_protected = allow_protected

    @activity.defn(name=contracts.PREPARE_WORKSPACE.name)
    async def prepare(self, target: SandboxTarget) -> WorkspaceReport:
        """Fetch each repository into the mirror cache and stream its history into the sandbox,
        heartbeating what is happening (a large fetch shows its progress)."""
        board = _Board()
        cancel = threading.Event()  # stops git when Temporal cancels or times out the activity
        async with heartbeating(lambda: board.text):
            try:
                return await self._prepare(target, board, cancel)
            finally:
                cancel.set()

    async def _prepare(
        self, target: SandboxTarget, board: _Board, cancel: threading.Event
    ) -> WorkspaceReport:
        prepared = await self.fill(target.sandbox.sandbox_id, target.task, board.say, cancel)
        return WorkspaceReport(repositories=prepared)

    async def fill(
        self,
        sandbox_id: str,
        task: TaskInput,
        say: Callable[[str], None],
        cancel: threading.Event,
        pinned: Mapping[str, str] | None = None,
    ) -> list[PreparedRepository]:
        """Write each repository of the task into the sandbox's workspace, at its branch's
        newest commit or at the commit `pinned` names for it, with its environment spec."""
        self._mirrors.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="fixbot-history-", dir=self._mirrors.root) as tmp:
            entries: list[RepositoryEntry] = []
            prepared: list[PreparedRepository] = []
            for repo in task.repositories:
                say(f"fetching {repo.name}")
                scratch = Path(tmp) / str(len(entries))
                commit = (pinned or {}).get(repo.name)
                history = await asyncio.to_thread(self._history, repo, commit, scratch, say, cancel)
                entries.append(RepositoryEntry(name=repo.name, history=history))
                environment = await asyncio.to_thread(self._environment, repo, history.commit)
                prepared.append(_prepared(entries[-1], environment))
            checks = {
                r.name: r.environment.verify.run
                for r in prepared
                if r.environment is not None and r.environment.verify is not None
            }
            guide = workspace_guide(task, checks)
            stream = workspace_tar(entries, dict.fromkeys(self._guide_files, guide))
            say("copying into the sandbox")
            await asyncio.to_thread(self._backend.put_archive, sandbox_id, WORKSPACE_PATH, stream)
        for repo_state in prepared:
            say(f"checking out {repo_state.name}")
            await self._check(sandbox_id, checkout_argv(repo_state.path))
        return prepared

    def _history(
        self,
        repo: RepositorySpec,
        pinned: str | None,
        scratch: Path,
        say: Callable[[str], None],
        cancel: threading.Event,
    ) -> History:
        mirror, commit = self._fetch(repo, pinned, say, cancel)
        say(f"measuring {repo.name}")
        too_big = refusal(repo.name, measure(mirror, commit, self._tree_limits), self._tree_limits)
        if too_big is not None:
            raise permanent(too_big, "RepositoryTooLarge")
        scratch.mkdir()
        return history_pack(mirror, repo.branch, commit, self._mirrors.depth, scratch)

    def inspect(self, repo: RepositorySpec, say: Callable[[str], None]) -> PreparedRepository:
        """Fetch repo into the mirror and read its branch's commit and environment spec, with
        no sandbox (blocking: call from a thread)."""
        _, commit = self._fetch(repo, None, say, threading.Event())
        return PreparedRepository(
            name=repo.name,
            branch=repo.branch,
            commit=commit,
            path=f"{WORKSPACE_PATH}/{repo.name}",
            environment=self._environment(repo, commit),
        )

    def _fetch(
        self,
        repo: RepositorySpec,
        pinned: str | None,
        say: Callable[[str], None],
        cancel: threading.Event,
    ) -> tuple[Path, str]:
        """Bring repo's mirror up to date; the mirror and the commit to prepare (pinned, or
        the branch's newest)."""
        try:
            mirror = self._mirrors.update(
                repo.url,
                env=self._git_env(repo.url),
                branch=repo.branch,
                on_line=lambda line: say(f"fetching {repo.name}: {line}"),
                cancel=cancel,
            )
            return mirror, pinned or resolve_branch(mirror, repo.url, repo.branch)
        except BranchNotFound as exc:
            raise permanent(str(exc), "BranchMissing") from None

    def mirror_for(self, url: str) -> Path:
        """The mirror cache's repository for url (fetched by `fill`)."""
        return self._mirrors.path_for(url)

    def _environment(self, repo: RepositorySpec, commit: str) -> EnvironmentSpec | None:
        """The repository's environment spec; a broken one fails the task, saying why."""
        mirror = self._mirrors.path_for(repo.url)
        try:
            return environment_for(mirror, commit, repo.url, self._environments)
        except EnvironmentSpecError as exc:
            raise permanent(f"{repo.name}: {exc}", "EnvironmentSpecInvalid") from None

    @activity.defn(name=contracts.COLLECT_CHANGES.name)
    @heartbeats
    async def collect(self, request: CollectRequest) -> ChangeSet:
        """Each repository's change against the commit it was prepared at."""
        by_name = {r.name: r for r in request.task.repositories}
        collected = ChangeSet(protected_paths_allowed=self._allow_protected)
        for prepared in request.workspace.repositories:
            change = await self._collect_one(
                request.sandbox.sandbox_id, by_name[prepared.name], prepared
            )
            if change is not None:
                change.protected_files = await asyncio.to_thread(self._protected, change)
                collected.repositories.append(change)
        return collected

    async def _collect_one(
        self, sandbox_id: str, repo: RepositorySpec, prepared: PreparedRepository
    ) -> RepositoryChange | None:
        await self._check(sandbox_id, changes.stage_argv(prepared.path))
        argv = changes.patch_argv(prepared.path, prepared.commit)
        try:
            patch = await self._check(sandbox_id, argv, output_limit=changes.MAX_PATCH_BYTES)
        except OutputTooLarge:
            raise permanent(changes.too_large(repo.name, None), "ChangeTooLarge") from None
        # the file list comes from the very patch that will be shown and pushed, computed
        # here on the worker: nothing in the sandbox can make the two disagree
        numstat = await asyncio.to_thread(patch_numstat, patch)
        try:
            return changes.repository_change(repo, prepared.commit, numstat, patch)
        except changes.ChangeTooLarge as exc:
            raise permanent(str(exc), "ChangeTooLarge") from None

    def _protected(self, change: RepositoryChange) -> list[str]:
        """The entries of the tree this change would push that touch protected paths."""
        mirror = self._mirrors.path_for(change.repository.url)
        entries = changed_entries(mirror, change.base_commit, change.patch.encode())
        return violations(entries, self._protected_paths)

    async def _check(
        self, sandbox_id: str, argv: list[str], output_limit: int = DEFAULT_OUTPUT_LIMIT
    ) -> bytes:
        """argv's stdout; a failure or more output than output_limit raises."""
        result = await asyncio.to_thread(
            self._backend.exec,
            sandbox_id,
            argv,
            timeout_seconds=300,
            output_limit=output_limit,
        )
        if result.exit_code != 0:
            stderr = result.stderr.decode(errors="replace").strip()[-1000:]
            raise RuntimeError(
                f"`{' '.join(argv[:4])} …` failed in the sandbox ({result.exit_code}): {stderr}"
            )
        if result.truncated:
            raise OutputTooLarge(f"`{' '.join(argv[:4])} …` wrote more than {output_limit:,} bytes")
        return result.stdout


class OutputTooLarge(RuntimeError):
    """A command in the sandbox wrote more than its caller reads."""


def _prepared(entry: RepositoryEntry, environment: EnvironmentSpec | None) -> PreparedRepository:
    return PreparedRepository(
        name=entry.name,
        branch=entry.history.branch,
        commit=entry.history.commit,
        path=f"{WORKSPACE_PATH}/{entry.name}",
        environment=environment,
    )


class _Board:
    """The latest thing prepare is doing, written from worker threads, read by heartbeats."""

    def __init__(self) -> None:
        self.text = "starting"

    def say(self, text: str) -> None:
        self.text = text  # one reference swap: safe across threads
