"""Running one command in a sandbox as the agent user, with output streamed as it comes."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import docker

from sandbox.commands import checked_timeout
from sandbox.interface import ExecResult, OutputChunk, SandboxError
from sandbox.streams import ReadOnceStream

from .container_config import AGENT_USER_SPEC
from .errors import explain
from .framing import read_frames
from .liveness import SandboxStopped, WatchedSocket, container_exit_code

KILL_AFTER_SECONDS = 5
# Host-side guard on top of `timeout`: a silent connection this long past the deadline is dead.
_GUARD_SLACK_SECONDS = 30
_TIMEOUT_EXIT_CODES = frozenset({124, 137})
_INSPECT_ATTEMPTS = 100
_INSPECT_PAUSE_SECONDS = 0.02


def env_items(env: Mapping[str, str]) -> list[str]:
    """env as the engine's NAME=value items."""
    return [f"{name}={value}" for name, value in env.items()]


def with_timeout(argv: list[str], timeout_seconds: float | None) -> list[str]:
    """argv wrapped in coreutils `timeout` (TERM at the deadline, KILL 5 s later)."""
    if timeout_seconds is None:
        return argv
    checked_timeout(timeout_seconds)
    # Millisecond precision, never rounded down to 0 (which `timeout` reads as "no limit").
    seconds = f"{max(timeout_seconds, 0.001):.3f}".rstrip("0").rstrip(".")
    return ["timeout", f"--kill-after={KILL_AFTER_SECONDS}", seconds, *argv]


def start_exec(
    api: Any,
    container_id: str,
    argv: list[str],
    *,
    env: list[str],
    workdir: str,
    timeout_seconds: float | None,
    stdin: bytes | None,
) -> DockerExecStream:
    """Start argv in the container as the agent user and return its live output."""
    if not workdir.startswith("/"):
        raise SandboxError(f"workdir must be an absolute path, got {workdir!r}")
    created = api.exec_create(
        container_id,
        with_timeout(argv, timeout_seconds),
        stdout=True,
        stderr=True,
        stdin=stdin is not None,
        tty=False,
        environment=env,
        workdir=workdir,
        user=AGENT_USER_SPEC,
    )
    exec_id = str(created["Id"])
    started = time.monotonic()
    connection = api.exec_start(exec_id, socket=True)
    return DockerExecStream(
        api, exec_id, connection, stdin, timeout_seconds, started, container_id=container_id
    )


def start_detached(
    api: Any, container_id: str, argv: list[str], *, env: list[str], workdir: str
) -> None:
    """Start argv in the container as the agent user without waiting for it."""
    created = api.exec_create(
        container_id,
        argv,
        stdout=False,
        stderr=False,
        stdin=False,
        tty=False,
        environment=env,
        workdir=workdir,
        user=AGENT_USER_SPEC,
    )
    api.exec_start(str(created["Id"]), detach=True)


class DockerExecStream(ReadOnceStream):
    """A running exec: iterate for OutputChunks, then `result()` for the exit code."""

    def __init__(
        self,
        api: Any,
        exec_id: str,
        connection: Any,
        stdin: bytes | None,
        timeout_seconds: float | None,
        started: float,
        *,
        container_id: str,
    ) -> None:
        """Take over the exec's hijacked connection; stdin (if any) is sent in the background."""
        self._api = api
        self._exec_id = exec_id
        self._container_id = container_id
        self._connection = connection
        self._sock = _raw_socket(connection)
        self._timeout_seconds = timeout_seconds
        self._started = started  # monotonic time just before the command was started
        super().__init__()
        self._guard_hit = False
        self._sandbox_stopped = False
        guard = None
        if timeout_seconds is not None:
            guard = timeout_seconds + KILL_AFTER_SECONDS + _GUARD_SLACK_SECONDS
        self._sock.settimeout(guard)
        deadline = None if guard is None else started + guard
        self._reader = WatchedSocket(self._sock, api, container_id, deadline)
        self._writer = _start_writer(self._sock, stdin) if stdin is not None else None

    def _chunks(self) -> Iterator[OutputChunk]:
        """Read frames until the end, then record the result."""
        try:
            for stream, data in read_frames(self._reader):
                yield OutputChunk(stream=stream, data=data)
        except TimeoutError:
            self._guard_hit = True
        except SandboxStopped:
            self._sandbox_stopped = True
        except OSError as exc:
            raise SandboxError(f"output of exec {self._exec_id[:12]} broke off: {exc}") from exc
        finally:
            self._close()
        try:
            self._result = self._finish()
        except (docker.errors.DockerException, OSError) as exc:
            message = f"reading the exit code of exec {self._exec_id[:12]} failed: {explain(exc)}"
            raise SandboxError(message) from exc

    def _close(self) -> None:
        """Stop the stdin writer (a command may exit without reading) and close the connection."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._writer is not None:
            self._writer.join(timeout=5)
        for closable in (self._connection, self._sock):
            with contextlib.suppress(OSError):
                closable.close()

    def _finish(self) -> ExecResult:
        """The exit code from the engine, and whether the deadline ended the command."""
        exit_code = self._exit_code()
        elapsed = time.monotonic() - self._started
        deadline_passed = (
            self._timeout_seconds is not None
            and elapsed >= self._timeout_seconds
            and exit_code in _TIMEOUT_EXIT_CODES
        )
        return ExecResult(exit_code=exit_code, timed_out=deadline_passed or self._guard_hit)

    def _exit_code(self) -> int:
        """The exec's exit code once the engine reports it finished, -1 if it never does; a
        command that died with its sandbox has the sandbox's (137 when it was killed)."""
        if self._sandbox_stopped:
            return container_exit_code(self._api, self._container_id)
        for _ in range(_INSPECT_ATTEMPTS):
            try:
                state = self._api.exec_inspect(self._exec_id)
            except docker.errors.NotFound:  # the engine forgets a dead sandbox's execs
                return container_exit_code(self._api, self._container_id)
            if not state.get("Running") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            time.sleep(_INSPECT_PAUSE_SECONDS)
        return -1


def _raw_socket(connection: Any) -> socket.socket:
    """The socket under the SDK's connection object (unix or plain TCP transports)."""
    is_wrapped = isinstance(connection, socket.SocketIO)
    raw = getattr(connection, "_sock", None) if is_wrapped else connection
    if not isinstance(raw, socket.socket):
        raise SandboxError(f"exec over {type(connection).__name__} transports is not supported")
    return raw


def _start_writer(sock: socket.socket, data: bytes) -> threading.Thread:
    """Send data as the command's stdin from a thread, then close stdin."""
    thread = threading.Thread(target=_write_stdin, args=(sock, data), daemon=True)
    thread.start()
    return thread


def _write_stdin(sock: socket.socket, data: bytes) -> None:
    """Write all of data and half-close; a command that stops reading early is fine."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
