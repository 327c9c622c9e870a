"""An exec's output is read only while its sandbox runs: a silent connection of a sandbox
that died (gVisor kills the whole sandbox at its memory limit) ends the read at once."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from sandbox.docker_backend import liveness
from sandbox.docker_backend.liveness import SandboxStopped, WatchedSocket


class FakeApi:
    def __init__(self, running: bool) -> None:
        self.running = running
        self.inspected = 0

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        self.inspected += 1
        return {"State": {"Running": self.running, "ExitCode": 0 if self.running else 137}}


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liveness, "LIVENESS_SECONDS", 0.05)


def test_data_is_read_as_from_the_socket() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"hello")
        assert WatchedSocket(ours, FakeApi(running=True), "c", None).recv(5) == b"hello"


def test_a_silent_connection_of_a_stopped_sandbox_ends_the_read() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, pytest.raises(SandboxStopped):
        WatchedSocket(ours, FakeApi(running=False), "c", None).recv(5)


def test_a_running_sandbox_is_waited_for_until_the_deadline() -> None:
    ours, theirs = socket.socketpair()
    api = FakeApi(running=True)
    started = time.monotonic()
    with ours, theirs, pytest.raises(TimeoutError):
        WatchedSocket(ours, api, "c", started + 0.3).recv(5)
    assert time.monotonic() - started >= 0.3
    assert api.inspected >= 2  # checked while it waited


def test_the_exit_code_of_a_killed_sandbox() -> None:
    assert liveness.container_exit_code(FakeApi(running=False), "c") == 137
