"""Preparing /workspace from the mirror cache, and collecting the agent's change from it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.errors import permanent
from orchestration.activities.heartbeat import heartbeats
from orchestration.agents.prompt import GUIDE_FILE, workspace_guide
from orchestration.models import (
    ChangeSet,
    CollectRequest,
    PreparedRepository,
    RepositoryChange,
    RepositorySpec,
    SandboxTarget,
    WorkspaceReport,
)
from orchestration.workspace import changes
from orchestration.workspace.archive import WorkspaceArchive
from orchestration.workspace.git import run_git
from orchestration.workspace.mirror import MirrorCache, resolve_branch
from sandbox.interface import WORKSPACE_PATH, Sandbox

GitEnvironment = Callable[[str], Mapping[str, str]]


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
    ) -> None:
        # the task's guide goes into AGENTS.md and whatever else the agent CLI reads
        self._guide_files = tuple(dict.fromkeys((GUIDE_FILE, *guide_files)))
        self._backend = backend
        self._mirrors = mirrors
        self._git_env = git_env
        self._protected_paths = protected_paths
        self._allow_protected = allow_protected

    @activity.defn(name=contracts.PREPARE_WORKSPACE.name)
    @heartbeats
    async def prepare(self, target: SandboxTarget) -> WorkspaceReport:
        """Fetch each repository into the mirror cache and stream its tree into the sandbox."""
        archive = WorkspaceArchive()
        prepared: list[PreparedRepository] = []
        for repo in target.task.repositories:
            activity.heartbeat(f"fetching {repo.name}")
            commit = await asyncio.to_thread(self._add_repository, archive, repo)
            prepared.append(
                PreparedRepository(
                    name=repo.name,
                    branch=repo.branch,
                    commit=commit,
                    path=f"{WORKSPACE_PATH}/{repo.name}",
                )
            )
        guide = workspace_guide(target.task)
        for name in self._guide_files:
            archive.add_file(name, guide)
        sandbox_id = target.sandbox.sandbox_id
        await asyncio.to_thread(
            self._backend.put_archive, sandbox_id, WORKSPACE_PATH, archive.finish()
        )
        for repo_state in prepared:
            await self._check(sandbox_id, ["git", "-C", repo_state.path, "reset", "--quiet"])
        return WorkspaceReport(repositories=prepared)

    def _add_repository(self, archive: WorkspaceArchive, repo: RepositorySpec) -> str:
        mirror = self._mirrors.update(repo.url, env=self._git_env(repo.url))
        try:
            commit = resolve_branch(mirror, repo.url, repo.branch)
        except RuntimeError as exc:
            raise permanent(str(exc), "BranchMissing") from None
        archive.add_repository(mirror, repo.name, repo.branch, commit)
        return commit

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
                change.protected_files = changes.protected(change.files, self._protected_paths)
                collected.repositories.append(change)
        return collected

    async def _collect_one(
        self, sandbox_id: str, repo: RepositorySpec, prepared: PreparedRepository
    ) -> RepositoryChange | None:
        await self._check(sandbox_id, changes.stage_argv(prepared.path))
        patch = await self._check(sandbox_id, changes.patch_argv(prepared.path, prepared.commit))
        # the file list comes from the very patch that will be shown and pushed, computed
        # here on the worker: nothing in the sandbox can make the two disagree
        numstat = await asyncio.to_thread(patch_numstat, patch)
        try:
            return changes.repository_change(repo, prepared.commit, numstat, patch)
        except changes.ChangeTooLarge as exc:
            raise permanent(str(exc), "ChangeTooLarge") from None

    async def _check(self, sandbox_id: str, argv: list[str]) -> bytes:
        result = await asyncio.to_thread(self._backend.exec, sandbox_id, argv, timeout_seconds=300)
        if result.exit_code != 0:
            stderr = result.stderr.decode(errors="replace").strip()[-1000:]
            raise RuntimeError(
                f"`{' '.join(argv[:4])} …` failed in the sandbox ({result.exit_code}): {stderr}"
            )
        return result.stdout
