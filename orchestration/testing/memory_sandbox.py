"""InMemorySandbox: the Sandbox port without Docker, for activity tests and users' own tests.

This is a test double. It is NOT isolation: commands run as ordinary host processes, as the
calling user, with the host's network and the host's whole filesystem in reach. Never give it
code or input you would not run on the worker itself.

What is real: each sandbox is a directory tree on the host, commands are real subprocesses
(argv lists, never a shell), archives are real tar streams, and timeouts really end the command.

Paths. Only these sandbox paths exist; each is a host directory under the double's root:

    WORKSPACE_PATH (/workspace)  <root>/volumes/fixbot-ws-<task>  (outlives the sandbox, as a
                                                                    Docker volume does)
    /tmp                         <root>/sandboxes/fixbot-<task>/tmp
    AGENT_HOME (/home/agent)     <root>/sandboxes/fixbot-<task>/home
    SERVICES_PATH (/run/fixbot)  the spec's services_dir, when it has one

`workdir` and the paths given to put_archive/get_archive are translated; any other path
(/usr, /etc) is refused with SandboxError, where Docker would read the image. In argv, an
item that *is* a mapped path (`/workspace/shop`, `/tmp/out.txt`) is rewritten to its host
path, so `git -C /workspace/shop diff` works. Nothing else is rewritten: a path inside a
larger argument (`--file=/workspace/x`, a `sh -c` script) or an env value reaches the command
unchanged, and output shows host paths (`pwd` prints the host directory). Commands meant to
behave alike on every backend name such paths relative to workdir.

Environment: a minimal PATH, the spec's env, HOME and TMPDIR pointing at the mapped home and
/tmp, then the env given to the call; nothing of the worker's own environment.

Timeouts behave as the Docker backend's `timeout --kill-after=5`: TERM to the command's
process group at the deadline, KILL 5 s later; exit code 124 (137 after the KILL) and
timed_out=True. Ownership in tars, resource limits and the network setting are ignored.
"""

from __future__ import annotations

import io
import posixpath
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sandbox.commands import checked_argv, checked_env, checked_timeout
from sandbox.interface import (
    AGENT_USER,
    DEFAULT_ARCHIVE_LIMIT,
    DEFAULT_OUTPUT_LIMIT,
    SERVICES_PATH,
    WORKSPACE_PATH,
    ExecResult,
    ExecStream,
    ImageMissing,
    Sandbox,
    SandboxError,
    SandboxInfo,
    SandboxSpec,
    SandboxUnavailable,
    archive_too_large,
)
from sandbox.naming import container_name, task_id_from_container_name, volume_name
from sandbox.streams import collect

from .memory_exec import (
    FailedStart,
    ProcessStream,
    end_process,
)

AGENT_HOME = f"/home/{AGENT_USER}"
AGENT_TMP = "/tmp"  # noqa: S108 - the sandbox's own /tmp, mapped to a private host directory
MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
# The same names as the Docker backend, so reapers and people read them alike.


@dataclass
class _Volume:
    """A workspace volume: a host directory and whose it is."""

    path: Path
    owner: str


@dataclass
class _Box:
    """One sandbox: its description, spec, host directory and the processes running in it."""

    info: SandboxInfo
    spec: SandboxSpec
    path: Path
    processes: set[subprocess.Popen[bytes]] = field(default_factory=set)


class InMemorySandbox:
    """The Sandbox port on host directories and host processes; see the module docstring."""

    def __init__(self, root: Path | None = None, *, images: Iterable[str] | None = None) -> None:
        """Keep state under root (a fresh temporary directory by default, removed by close()).

        With images, create() raises ImageMissing for any other image, as Docker does for an
        image that is not built; by default every image name is accepted.
        """
        self._owns_root = root is None
        self.root = (
            Path(tempfile.mkdtemp(prefix="fixbot-memory-sandbox-")) if root is None else root
        )
        self._images = None if images is None else frozenset(images)
        self._lock = threading.RLock()
        self._boxes: dict[str, _Box] = {}  # by sandbox id
        self._volumes: dict[str, _Volume] = {}  # by volume name
        self._closed = False

    def __enter__(self) -> InMemorySandbox:
        """Use as a context manager that closes the double at the end."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close: nothing the double made is left behind."""
        self.close()

    def close(self) -> None:
        """End every process, remove every sandbox and volume, and the root if it made it."""
        with self._lock:
            for sandbox_id in list(self._boxes):
                self.destroy(sandbox_id)
            for name in list(self._volumes):
                self.remove_volume(name)
            self._closed = True
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def runtimes(self) -> frozenset[str]:
        """Host processes have no isolation runtime to choose."""
        return frozenset()

    def ping(self) -> None:
        """Always answers until closed."""
        if self._closed:
            raise SandboxUnavailable("the in-memory sandbox was closed; create a new one")

    def create(self, spec: SandboxSpec) -> SandboxInfo:
        """Create the task's sandbox, or start and return the existing one."""
        name = container_name(spec.task_id)
        with self._lock:
            self.ping()
            existing = self._by_name(name)
            if existing is not None:
                existing.info.running = True
                return existing.info.model_copy()
            if self._images is not None and spec.image not in self._images:
                raise ImageMissing(f"sandbox image {spec.image} is not built")
            return self._new_box(spec, name).info.model_copy()

    def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = WORKSPACE_PATH,
        timeout_seconds: float | None = None,
        stdin: bytes | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> ExecResult:
        """Run argv and collect at most output_limit bytes of each stream."""
        stream = self._start(sandbox_id, argv, env, workdir, timeout_seconds, stdin)
        return collect(stream, output_limit)

    def exec_stream(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = WORKSPACE_PATH,
        timeout_seconds: float | None = None,
    ) -> ExecStream:
        """Run argv and stream its output as it comes."""
        return self._start(sandbox_id, argv, env, workdir, timeout_seconds, None)

    def start_background(
        self, sandbox_id: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> None:
        """Start argv in the workspace and leave it running until the sandbox stops."""
        command, environment = checked_argv(argv), checked_env(env)
        with self._lock:
            box = self._running(sandbox_id)
            try:
                process = subprocess.Popen(
                    [self._translated(box, arg) for arg in command],
                    cwd=self._workspace(box),
                    env=self._environment(box, environment),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                raise SandboxError(
                    f"starting {command[0]!r} in sandbox {sandbox_id}: {exc}"
                ) from exc
            box.processes.add(process)

    def put_archive(self, sandbox_id: str, path: str, tar: bytes | Iterable[bytes]) -> None:
        """Extract a tar at path, refusing members that would land outside it."""
        data = tar if isinstance(tar, bytes) else b"".join(tar)
        with self._lock:
            target = self._existing_path(self._box(sandbox_id), path)
            if not target.is_dir():
                raise SandboxError(f"copying into {path}: not a directory in sandbox {sandbox_id}")
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                    archive.extractall(target, filter=_inside_target)  # noqa: S202 - "data" filter, see _inside_target
            except (tarfile.TarError, OSError) as exc:
                raise SandboxError(
                    f"copying into {path} in sandbox {sandbox_id} failed: {exc}"
                ) from exc

    def get_archive(
        self, sandbox_id: str, path: str, *, limit: int = DEFAULT_ARCHIVE_LIMIT
    ) -> bytes:
        """A tar of path, named by its last component as Docker names it."""
        with self._lock:
            source = self._existing_path(self._box(sandbox_id), path)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
                archive.add(source, arcname=posixpath.basename(posixpath.normpath(path)) or ".")
            if buffer.tell() > limit:
                raise archive_too_large(path, limit)
            return buffer.getvalue()

    def destroy(self, sandbox_id: str) -> None:
        """End the sandbox's processes, remove it and its volume; missing ones are fine."""
        with self._lock:
            box = self._lookup(sandbox_id)
            if box is None:
                task_id = task_id_from_container_name(sandbox_id)
                if task_id is not None:
                    self.remove_volume(volume_name(task_id))
                return
            self.remove_keeping_volume(box.info.sandbox_id)
            self.remove_volume(box.info.volume)

    def image_id(self, image: str) -> str:
        """Images here have no content ids."""
        return ""

    def find(self, task_id: str) -> SandboxInfo | None:
        """The task's sandbox, if one exists."""
        with self._lock:
            box = self._by_name(container_name(task_id))
            return None if box is None else box.info.model_copy()

    def list_sandboxes(self) -> list[SandboxInfo]:
        """Every sandbox of this double."""
        with self._lock:
            return [box.info.model_copy() for box in self._boxes.values()]

    def list_orphan_volumes(self, owner: str | None = None) -> list[str]:
        """Workspace volumes whose sandbox is gone (of one owner, when given)."""
        with self._lock:
            used = {box.info.volume for box in self._boxes.values()}
            return sorted(
                name
                for name, volume in self._volumes.items()
                if name not in used and (owner is None or volume.owner == owner)
            )

    def remove_volume(self, name: str) -> None:
        """Remove a workspace volume; a missing one is fine, one in use is refused."""
        with self._lock:
            volume = self._volumes.get(name)
            if volume is None:
                return
            if any(box.info.volume == name for box in self._boxes.values()):
                raise SandboxError(f"removing volume {name} failed: it is in use by a sandbox")
            shutil.rmtree(volume.path, ignore_errors=True)
            del self._volumes[name]

    def stop(self, sandbox_id: str) -> None:
        """What stopping a container does: end its processes, empty its tmpfs mounts.

        The workspace is emptied too when the spec caps its size (a tmpfs volume on Docker).
        create() starts it again.
        """
        with self._lock:
            box = self._box(sandbox_id)
            _end_processes(box)
            box.info.running = False
            for mount in ("tmp", "home"):
                _empty(box.path / mount)
            if box.spec.limits.workspace_size_mb is not None:
                _empty(self._workspace(box))

    def remove_keeping_volume(self, sandbox_id: str) -> None:
        """Remove the sandbox but keep its workspace volume, as a crash mid-destroy would."""
        with self._lock:
            box = self._box(sandbox_id)
            _end_processes(box)
            shutil.rmtree(box.path, ignore_errors=True)
            del self._boxes[box.info.sandbox_id]

    def host_path(self, sandbox_id: str, path: str) -> Path:
        """Where a sandbox path lives on the host, for tests that look inside."""
        with self._lock:
            return self._mapped(self._box(sandbox_id), path)

    def _new_box(self, spec: SandboxSpec, name: str) -> _Box:
        """Create the directories and the records of a new sandbox (its volume may exist)."""
        volume = volume_name(spec.task_id)
        if volume not in self._volumes:
            path = self.root / "volumes" / volume
            path.mkdir(parents=True)
            self._volumes[volume] = _Volume(path=path, owner=spec.owner)
        box_path = self.root / "sandboxes" / name
        for mount in ("tmp", "home"):
            (box_path / mount).mkdir(parents=True, exist_ok=True)
        info = SandboxInfo(
            sandbox_id=secrets.token_hex(32),
            name=name,
            task_id=spec.task_id,
            workflow_id=spec.workflow_id,
            owner=spec.owner,
            volume=volume,
            running=True,
            created_at=datetime.now(UTC),
        )
        box = _Box(info=info, spec=spec, path=box_path)
        self._boxes[info.sandbox_id] = box
        return box

    def _start(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        workdir: str,
        timeout_seconds: float | None,
        stdin: bytes | None,
    ) -> ExecStream:
        """Validate the request and start the command in a running sandbox."""
        command, environment = checked_argv(argv), checked_env(env)
        checked_timeout(timeout_seconds)
        if not workdir.startswith("/"):
            raise SandboxError(f"workdir must be an absolute path, got {workdir!r}")
        with self._lock:
            box = self._running(sandbox_id)
            cwd = self._mapped(box, workdir)
            if not cwd.is_dir():
                return FailedStart(126, f"workdir {workdir} does not exist\n")
            try:
                process = subprocess.Popen(
                    [self._translated(box, arg) for arg in command],
                    cwd=cwd,
                    env=self._environment(box, environment),
                    stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            except FileNotFoundError:
                return FailedStart(127, f"{command[0]}: command not found\n")
            except PermissionError:
                return FailedStart(126, f"{command[0]}: permission denied\n")
            box.processes.add(process)
        return ProcessStream(process, stdin, timeout_seconds, lambda: self._forget(box, process))

    def _forget(self, box: _Box, process: subprocess.Popen[bytes]) -> None:
        """Drop a finished command from its sandbox's processes."""
        with self._lock:
            box.processes.discard(process)

    def _mounts(self, box: _Box) -> list[tuple[str, Path]]:
        """The sandbox paths that exist, and the host directories behind them."""
        mounts = [
            (WORKSPACE_PATH, self._workspace(box)),
            (AGENT_TMP, box.path / "tmp"),
            (AGENT_HOME, box.path / "home"),
        ]
        if box.spec.services_dir:
            mounts.append((SERVICES_PATH, Path(box.spec.services_dir)))
        return mounts

    def _workspace(self, box: _Box) -> Path:
        """The host directory of the sandbox's workspace volume."""
        return self._volumes[box.info.volume].path

    def _host_path(self, box: _Box, path: str) -> Path | None:
        """The host path of an absolute sandbox path, or None outside the mapped ones."""
        normal = posixpath.normpath(path)
        for prefix, host in self._mounts(box):
            if normal == prefix or normal.startswith(prefix + "/"):
                return host / normal[len(prefix) :].lstrip("/")
        return None

    def _mapped(self, box: _Box, path: str) -> Path:
        """Like _host_path, refusing paths the double does not have."""
        host = self._host_path(box, path) if path.startswith("/") else None
        if host is None:
            mapped = ", ".join(prefix for prefix, _ in self._mounts(box))
            raise SandboxError(f"{path} is not in the in-memory sandbox (it has {mapped})")
        return host

    def _existing_path(self, box: _Box, path: str) -> Path:
        """A mapped path that exists and, symlinks followed, stays inside its mount."""
        host = self._mapped(box, path)
        resolved = host.resolve()
        if not any(resolved.is_relative_to(root.resolve()) for _, root in self._mounts(box)):
            raise SandboxError(f"{path} leads outside the sandbox {box.info.name}")
        if not host.exists():
            raise SandboxError(f"could not find {path} in sandbox {box.info.name}")
        return host

    def _translated(self, box: _Box, arg: str) -> str:
        """An argv item that is a mapped sandbox path, as its host path; others unchanged."""
        host = self._host_path(box, arg) if arg.startswith("/") else None
        if host is None:
            return arg
        return f"{host}/" if arg.endswith("/") else str(host)

    def _environment(self, box: _Box, env: Mapping[str, str]) -> dict[str, str]:
        """PATH, the spec's env, HOME and TMPDIR in the sandbox, then the call's env."""
        return {
            "PATH": MINIMAL_PATH,
            **box.spec.env,
            "HOME": str(box.path / "home"),
            "TMPDIR": str(box.path / "tmp"),
            **env,
        }

    def _lookup(self, sandbox_id: str) -> _Box | None:
        """The sandbox with this id or name, if any."""
        return self._boxes.get(sandbox_id) or self._by_name(sandbox_id.lstrip("/"))

    def _by_name(self, name: str) -> _Box | None:
        """The sandbox of this name, if any."""
        return next((box for box in self._boxes.values() if box.info.name == name), None)

    def _box(self, sandbox_id: str) -> _Box:
        """The sandbox with this id or name, or SandboxError."""
        box = self._lookup(sandbox_id)
        if box is None:
            raise SandboxError(f"sandbox {sandbox_id} does not exist")
        return box

    def _running(self, sandbox_id: str) -> _Box:
        """Like _box, refusing a stopped sandbox as Docker refuses an exec in one."""
        box = self._box(sandbox_id)
        if not box.info.running:
            raise SandboxError(f"sandbox {sandbox_id} is not running")
        return box


def _inside_target(member: tarfile.TarInfo, target: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, except that a symlink may point anywhere, as in a container.

    Where a symlink points is data inside a sandbox; what would be written through one is
    still refused, because the filter checks each member's real path on the host.
    """
    if not member.issym():
        return tarfile.data_filter(member, target)
    return tarfile.data_filter(member.replace(linkname="."), target).replace(
        linkname=member.linkname
    )


def _end_processes(box: _Box) -> None:
    """Kill every command still running in the sandbox, as stopping a container does."""
    for process in list(box.processes):
        end_process(process)
    box.processes.clear()


def _empty(directory: Path) -> None:
    """Remove what is inside a directory, keeping the directory (a tmpfs after a restart)."""
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _conforms(backend: InMemorySandbox) -> Sandbox:
    """Let mypy check that InMemorySandbox satisfies the Sandbox protocol."""
    return backend
