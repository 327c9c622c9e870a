"""Commands of the in-memory sandbox double: real host processes with streamed output.

A deadline behaves as coreutils `timeout --kill-after=5` does in the Docker backend: TERM to
the command's process group at the deadline, KILL 5 s later; exit code 124 (137 after the
KILL) and timed_out=True. A command that exits 124 by itself before the deadline did not time
out. Like the Docker backend, argv and env are checked before anything runs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import IO, Literal

from sandbox.interface import ExecResult, OutputChunk, SandboxError
from sandbox.streams import ReadOnceStream

KILL_AFTER_SECONDS = 5.0
TIMEOUT_EXIT_CODE = 124
KILLED_EXIT_CODE = 128 + signal.SIGKILL
_READ_SIZE = 65536
_JOIN_SECONDS = 5.0

StreamName = Literal["stdout", "stderr"]


def signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Signal the command and everything it started (its own session and process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def end_process(process: subprocess.Popen[bytes]) -> None:
    """Kill a command's whole process group and reap it."""
    signal_group(process, signal.SIGKILL)
    process.wait()


class ProcessStream(ReadOnceStream):
    """A running command: iterate for OutputChunks, then `result()` for the exit code."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        stdin: bytes | None,
        timeout_seconds: float | None,
        on_end: Callable[[], None],
    ) -> None:
        """Pump the command's output (and feed its stdin) in threads; arm its deadline."""
        self._process = process
        self._on_end = on_end
        self._queue: queue.Queue[OutputChunk | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        super().__init__()
        self._deadline = _Deadline(process, timeout_seconds)
        if process.stdout is None or process.stderr is None:
            raise SandboxError("a streamed command needs both output pipes")
        self._spawn(_pump, process.stdout, "stdout", self._queue)
        self._spawn(_pump, process.stderr, "stderr", self._queue)
        if stdin is not None and process.stdin is not None:
            self._spawn(_feed, process.stdin, stdin)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        """Start a daemon thread and remember it for joining."""
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _chunks(self) -> Iterator[OutputChunk]:
        """Yield until both pipes end, then record the result; an abandoned run is killed."""
        try:
            open_pipes = 2
            while open_pipes:
                item = self._queue.get()
                if item is None:
                    open_pipes -= 1
                else:
                    yield item
            self._result = self._finish()
        finally:
            self._end()

    def _finish(self) -> ExecResult:
        """The exit code as `timeout` reports it, and whether the deadline ended the command."""
        code = self._process.wait()
        if self._deadline.killed:
            return ExecResult(exit_code=KILLED_EXIT_CODE, timed_out=True)
        if self._deadline.fired:
            return ExecResult(exit_code=TIMEOUT_EXIT_CODE, timed_out=True)
        return ExecResult(exit_code=128 - code if code < 0 else code)

    def _end(self) -> None:
        """Disarm the deadline, kill what still runs, join the threads, close the pipes."""
        self._deadline.cancel()
        if self._process.poll() is None:
            end_process(self._process)
        for thread in self._threads:
            thread.join(_JOIN_SECONDS)
        for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._on_end()


class FailedStart(ReadOnceStream):
    """The stream of a command that could not start: the reason on stderr, then the code.

    Docker reports a missing executable or workdir the same way, as output and an exit
    code rather than an exception.
    """

    def __init__(self, exit_code: int, message: str) -> None:
        """Remember what to report."""
        self._exit_code = exit_code
        self._message = message.encode()
        super().__init__()

    def _chunks(self) -> Iterator[OutputChunk]:
        """Yield the reason, then record the result."""
        yield OutputChunk(stream="stderr", data=self._message)
        self._result = ExecResult(exit_code=self._exit_code)


class _Deadline:
    """coreutils `timeout --kill-after`: TERM the process group at the deadline, KILL later."""

    def __init__(self, process: subprocess.Popen[bytes], seconds: float | None) -> None:
        """Arm both timers (none without a timeout)."""
        self.fired = False
        self.killed = False
        self._process = process
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        if seconds is None:
            return
        for delay, signum in (
            (seconds, signal.SIGTERM),
            (seconds + KILL_AFTER_SECONDS, signal.SIGKILL),
        ):
            timer = threading.Timer(delay, self._signal, (signum,))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def cancel(self) -> None:
        """Disarm the timers once the command has ended."""
        for timer in self._timers:
            timer.cancel()

    def _signal(self, signum: signal.Signals) -> None:
        """TERM a command that still runs; KILL its group regardless; remember what it hit."""
        with self._lock:
            running = self._process.poll() is None
            if signum == signal.SIGKILL:
                # also what the command left behind holding its output pipes open
                signal_group(self._process, signum)
                self.killed = running
            elif running:
                signal_group(self._process, signum)
                self.fired = True


def _pump(pipe: IO[bytes], name: StreamName, sink: queue.Queue[OutputChunk | None]) -> None:
    """Forward a pipe's bytes as they arrive; None marks its end."""
    try:
        while data := os.read(pipe.fileno(), _READ_SIZE):
            sink.put(OutputChunk(stream=name, data=data))
    except OSError:
        pass
    finally:
        sink.put(None)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    """Write all of data as stdin and close it; a command that stops reading early is fine."""
    with contextlib.suppress(OSError):
        pipe.write(data)
    with contextlib.suppress(OSError):
        pipe.close()
