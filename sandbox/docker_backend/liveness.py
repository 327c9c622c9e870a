"""Reading an exec's output without outliving its sandbox.

Under gVisor (runsc) a sandbox that reaches its memory limit dies whole, and the engine may
leave an exec's connection open after it: a read that waits only for the command's own
deadline would wait that long (the agent's: half an hour) on a sandbox that is gone.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

import docker

# how long the connection may be silent before the sandbox is checked (then again as often)
LIVENESS_SECONDS = 5.0


class SandboxStopped(Exception):
    """The sandbox an exec ran in stopped while its output was being read."""


class WatchedSocket:
    """An exec's socket whose reads check, every silent LIVENESS_SECONDS, that the sandbox
    still runs (SandboxStopped when not) and give up at the deadline (TimeoutError). It
    waits with select, so the socket's own timeout (its stdin writer's) is left alone."""

    def __init__(
        self, sock: socket.socket, api: Any, container_id: str, deadline: float | None
    ) -> None:
        self._sock = sock
        self._api = api
        self._container_id = container_id
        self._deadline = deadline  # monotonic; None: no limit

    def recv(self, size: int, /) -> bytes:
        """Up to size bytes, as socket.recv, waiting only while the sandbox runs."""
        while not select.select([self._sock], [], [], self._wait_seconds())[0]:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                raise TimeoutError("no output from the exec until its deadline")
            if not container_running(self._api, self._container_id):
                raise SandboxStopped(self._container_id)
        return self._sock.recv(size)

    def _wait_seconds(self) -> float:
        if self._deadline is None:
            return LIVENESS_SECONDS
        return max(0.0, min(LIVENESS_SECONDS, self._deadline - time.monotonic()))


def container_running(api: Any, container_id: str) -> bool:
    """Whether the container exists and runs (a failed look-up counts as running: the
    deadline still ends the wait)."""
    try:
        state = api.inspect_container(container_id)["State"]
    except docker.errors.NotFound:
        return False
    except (docker.errors.DockerException, OSError):
        return True
    return bool(state.get("Running"))


def container_exit_code(api: Any, container_id: str) -> int:
    """The stopped container's exit code (137: killed, e.g. at its memory limit), -1 if
    it is gone."""
    try:
        state = api.inspect_container(container_id)["State"]
    except (docker.errors.DockerException, OSError):
        return -1
    code = state.get("ExitCode")
    return int(code) if code else -1
