"""Each repository's environment: built once by its setup commands, kept as a snapshot, and
restored into every later sandbox of that repository.

Setup runs in a sandbox of its own, hardened like the agent's, with no route to the model and
no secrets; its only way out is the egress proxy, allowed to the spec's hosts. What it leaves
in the workspace (the repository's untracked and ignored files, and its environment
directory) becomes the snapshot. A failing command stops the task before any model spend
and says which command failed and how its output ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.errors import permanent
from orchestration.activities.heartbeat import heartbeating
from orchestration.activities.helper_sandboxes import fresh_sandbox
from orchestration.activities.logged_command import last_lines, run_logged
from orchestration.activities.sandbox_activities import (
    EGRESS_PORT,
    EGRESS_SOCKET,
    egress_environment,
    forwarder,
)
from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.environment.env_dirs import setup_environment
from orchestration.environment.snapshot_key import lockfile_blobs, snapshot_key
from orchestration.environment.snapshot_store import SnapshotInfo, SnapshotStore, SnapshotTooLarge
from orchestration.models import PreparedRepository, SetupRequest
from orchestration.models.environment import EnvironmentReady, EnvironmentSpec, SetupReport
from orchestration.proxies.egress.proxy import EgressProxy
from sandbox.interface import WORKSPACE_PATH, Sandbox, SandboxSpec

LOG_TAIL_BYTES = 1 << 20  # of each command's output, kept in the task's setup log
# A constant script: $1 is the workspace, $2 the repository's folder (validated names only).
# It writes one tar of the repository's ignored files (node_modules, .venv: files that are
# not ignored would show up as part of every later fix) and its environment directory.
CAPTURE_SCRIPT = (
    'set -e; list=/tmp/fixbot-snapshot.list; cd "$1/$2"; '
    "git ls-files -z --others --ignored --exclude-standard --directory "
    '| sed -z "s|^|$2/|" > "$list"; '
    'if [ -d "$1/.fixbot-env/$2" ]; then printf "%s\\0" ".fixbot-env/$2" >> "$list"; fi; '
    'exec tar -cf - -C "$1" --null -T "$list"'
)

SetupSpecFor = Callable[[str, str, str], SandboxSpec]  # task id, workflow id, services dir


class SetupActivities:
    """Holds the backend, the workspace filler, the snapshot store and the egress proxy."""

    def __init__(
        self,
        backend: Sandbox,
        workspace: WorkspaceActivities,
        snapshots: SnapshotStore,
        egress: EgressProxy,
        spec_for: SetupSpecFor,
        *,
        image: str,
        allowed_hosts: list[str],
        internal_allowed: bool,
        logs_dir: Path,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._backend = backend
        self._image = image
        self._workspace = workspace
        self._snapshots = snapshots
        self._egress = egress
        self._spec_for = spec_for
        self._allowed_hosts = allowed_hosts  # empty: a repository may name any public host
        self._internal_allowed = internal_allowed
        self._logs_dir = logs_dir
        self._redact = redact

    @activity.defn(name=contracts.PREPARE_ENVIRONMENT.name)
    async def prepare(self, request: SetupRequest) -> SetupReport:
        """Restore each repository's environment into the task's sandbox, building it first
        (once, whoever asks at the same time) when no snapshot of it exists."""
        doing = ["starting"]
        report = SetupReport()
        async with heartbeating(lambda: doing[-1]):
            image_id = await asyncio.to_thread(self._backend.image_id, self._image)
            for repo in request.workspace.repositories:
                spec = repo.environment
                if spec is None or not spec.setup.run:
                    continue
                ready = await self._ready(request, repo, spec, image_id, doing.append)
                doing.append(f"restoring the environment of {repo.name}")
                chunks = self._snapshots.chunks(ready.snapshot)
                await asyncio.to_thread(
                    self._backend.put_archive, request.sandbox.sandbox_id, WORKSPACE_PATH, chunks
                )
                report.environments.append(ready)
        return report

    async def build(
        self, request: SetupRequest, repo: PreparedRepository, say: Callable[[str], None]
    ) -> EnvironmentReady:
        """Make sure the repository's environment snapshot exists (`fixbot env build`)."""
        if repo.environment is None or not repo.environment.setup.run:
            raise ValueError(f"{repo.name} has no setup commands: nothing to build")
        image_id = await asyncio.to_thread(self._backend.image_id, self._image)
        return await self._ready(request, repo, repo.environment, image_id, say)

    async def _ready(
        self,
        request: SetupRequest,
        repo: PreparedRepository,
        spec: EnvironmentSpec,
        image_id: str,
        say: Callable[[str], None],
    ) -> EnvironmentReady:
        url = _url_of(request, repo.name)
        mirror = self._workspace.mirror_for(url)
        lockfiles = await asyncio.to_thread(lockfile_blobs, mirror, repo.commit, spec.setup)
        key = snapshot_key(image_id, url, spec.setup, lockfiles)
        say(f"waiting for the environment of {repo.name}")
        async with self._building(key):
            existing = self._snapshots.find(key)
            if existing is not None:
                return _ready(repo.name, existing, built=False)
            info = await self._build(request, repo, spec, key, url, say)
        return _ready(repo.name, info, built=True)

    async def _build(
        self,
        request: SetupRequest,
        repo: PreparedRepository,
        spec: EnvironmentSpec,
        key: str,
        url: str,
        say: Callable[[str], None],
    ) -> SnapshotInfo:
        hosts = self._hosts(spec, repo.name)
        setup_id = f"{request.task.task_id}.setup"
        route = await self._egress.open_route(
            setup_id,
            allowed_hosts=hosts,
            internal_allowed=self._internal_allowed or spec.from_operator,
        )
        sandbox_spec = self._spec_for(setup_id, request.workflow_id, str(route.socket_dir))
        try:
            async with fresh_sandbox(self._backend, sandbox_spec) as info:
                return await self._set_up(request, repo, spec, key, url, info.sandbox_id, say)
        finally:
            await self._egress.close_route(setup_id)

    async def _set_up(
        self,
        request: SetupRequest,
        repo: PreparedRepository,
        spec: EnvironmentSpec,
        key: str,
        url: str,
        sandbox_id: str,
        say: Callable[[str], None],
    ) -> SnapshotInfo:
        """Fill the setup sandbox, run the commands, save what they left."""
        await asyncio.to_thread(
            self._backend.start_background, sandbox_id, forwarder(EGRESS_PORT, EGRESS_SOCKET)
        )
        pinned = {r.name: r.commit for r in request.workspace.repositories}
        await self._workspace.fill(sandbox_id, request.task, say, threading.Event(), pinned=pinned)
        started = time.monotonic()
        await self._run_commands(request.task.task_id, sandbox_id, repo, spec, say)
        seconds = round(time.monotonic() - started, 3)
        say(f"saving the environment of {repo.name}")
        return await self._capture(sandbox_id, repo.name, key, url, seconds)

    async def _run_commands(
        self,
        task_id: str,
        sandbox_id: str,
        repo: PreparedRepository,
        spec: EnvironmentSpec,
        say: Callable[[str], None],
    ) -> None:
        """Each setup command in order; the first that fails stops the task, saying why."""
        # no NO_PROXY: setup has no model forwarder on loopback, and a registry given as a
        # loopback address is the worker's, reachable only through the proxy
        env = {
            **setup_environment(repo.name),
            **egress_environment(),
            "NO_PROXY": "",
            "no_proxy": "",
        }
        mkdir = ["mkdir", "-p", env["HOME"], env["PYTHONUSERBASE"]]
        await asyncio.to_thread(self._backend.exec, sandbox_id, mkdir, timeout_seconds=30)
        deadline = time.monotonic() + spec.setup.timeout_seconds
        for command in spec.setup.run:
            say(f"setting up {repo.name}: {command[:200]}")
            outcome = await run_logged(
                self._backend,
                sandbox_id,
                command,
                workdir=f"{WORKSPACE_PATH}/{repo.name}",
                env=env,
                seconds=max(int(deadline - time.monotonic()), 1),
                tail_bytes=LOG_TAIL_BYTES,
            )
            output = self._redact(outcome.output)
            log = self._keep_log(task_id, repo.name, command, outcome.exit_code, output)
            if outcome.exit_code != 0:
                how = "timed out" if outcome.timed_out else f"failed (exit {outcome.exit_code})"
                raise permanent(
                    f"{repo.name}: setup command `{command}` {how}; the end of its output "
                    f"(all of it: {log}):\n{last_lines(output, 20)}",
                    "SetupFailed",
                )

    async def _capture(
        self, sandbox_id: str, repo: str, key: str, url: str, seconds: float
    ) -> SnapshotInfo:
        """Stream the set-up files out of the sandbox into the snapshot store."""
        stream = await asyncio.to_thread(
            self._backend.exec_stream,
            sandbox_id,
            ["sh", "-c", CAPTURE_SCRIPT, "capture", WORKSPACE_PATH, repo],
            timeout_seconds=1800,
        )
        now = time.time()
        record = SnapshotInfo(
            key=key,
            repository=url,
            size_bytes=0,
            created_at=now,
            last_used_at=now,
            setup_seconds=seconds,
        )

        def save() -> SnapshotInfo:
            chunks = (chunk.data for chunk in stream if chunk.stream == "stdout")
            return self._snapshots.save(record, chunks)

        try:
            saved = await asyncio.to_thread(save)
        except SnapshotTooLarge as exc:
            message = f"{repo}: {exc}; raise FIXBOT_ENVIRONMENT__MAX_SNAPSHOT_MB"
            raise permanent(message, "SetupFailed") from None
        if stream.result().exit_code != 0:
            self._snapshots.remove(key)
            raise permanent(f"{repo}: saving the environment failed", "SetupFailed")
        return saved

    def _hosts(self, spec: EnvironmentSpec, repo: str) -> list[str]:
        """The hosts setup may reach: the spec's, within the operator's allowlist."""
        if spec.from_operator or not self._allowed_hosts:
            return spec.setup.egress
        refused = [h for h in spec.setup.egress if h not in self._allowed_hosts]
        if refused:
            raise permanent(
                f"{repo}: {spec.source} asks setup to reach {', '.join(refused)}, which "
                "FIXBOT_ENVIRONMENT__SETUP_HOSTS does not allow",
                "SetupHostRefused",
            )
        return spec.setup.egress

    def _keep_log(self, task_id: str, repo: str, command: str, exit_code: int, text: str) -> Path:
        path = self._logs_dir / task_id / f"{repo}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"$ {command}\n{text}\n[exit {exit_code}]\n")
        return path

    @contextlib.asynccontextmanager
    async def _building(self, key: str) -> AsyncIterator[None]:
        """The key's build lock, taken on a thread (it may wait for another task's build)."""
        lock = self._snapshots.building(key)
        await asyncio.to_thread(lock.__enter__)
        try:
            yield
        finally:
            lock.__exit__(None, None, None)


def _ready(repo: str, info: SnapshotInfo, *, built: bool) -> EnvironmentReady:
    return EnvironmentReady(
        repository=repo,
        snapshot=info.key,
        built=built,
        setup_seconds=info.setup_seconds,
        size_bytes=info.size_bytes,
    )


def _url_of(request: SetupRequest, name: str) -> str:
    return next(r.url for r in request.task.repositories if r.name == name)
