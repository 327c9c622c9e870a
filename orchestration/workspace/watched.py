"""Running a long git transfer with no fixed deadline: watched for progress, stalls and cancels.

A fetch of a large repository over a slow network may take a long time and still be healthy;
a fixed timeout would throw its work away. Instead git runs with `--progress`, every line it
prints counts as life, and the command is stopped only when it prints nothing for a while
(stalled), when the caller cancels, or when the caller's `judge` decides from the progress so
far that another way is better (a one-shot fetch projected to take too long).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestration.workspace.git import GIT_ENV, GitError

STALL_SECONDS = 120.0
_TAIL_BYTES = 4096
_LINE_LIMIT = 200
_POLL_SECONDS = 0.5
_PERCENT = re.compile(r"^(Receiving objects|Resolving deltas):\s+(\d+)%")

ProgressSink = Callable[[str], None]
# Given the seconds since the transfer began and the latest "Receiving objects" percentage,
# a reason to stop it now, or None to let it run.
Judge = Callable[[float, int], str | None]


class GitStalled(GitError):
    """git printed nothing for STALL_SECONDS; what it fetched is not kept unless it finished."""


class GitStopped(GitError):
    """The judge or the caller stopped git; the message says why."""


class _Watch:
    """What the watcher knows about one running git: its output tail and its pace."""

    def __init__(self, on_line: ProgressSink, judge: Judge | None) -> None:
        self.started = time.monotonic()
        self.last_output = self.started
        self.tail = b""
        self.receiving = 0
        self._on_line = on_line
        self._judge = judge

    def feed(self, data: bytes) -> None:
        """Take a piece of stderr: remember its tail, report its last complete line."""
        self.last_output = time.monotonic()
        self.tail = (self.tail + data)[-_TAIL_BYTES:]
        lines = [part for part in re.split(rb"[\r\n]", self.tail) if part.strip()]
        if not lines:
            return
        line = lines[-1].decode(errors="replace").removeprefix("remote: ").strip()
        match = _PERCENT.match(line)
        if match and match.group(1) == "Receiving objects":
            self.receiving = int(match.group(2))
        self._on_line(line[:_LINE_LIMIT])

    def verdict(self, cancel: threading.Event | None) -> str | None:
        """Why git must stop now, or None."""
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            return "cancelled"
        if now - self.last_output > STALL_SECONDS:
            return f"stalled: no progress for {STALL_SECONDS:.0f}s"
        if self._judge is not None:
            return self._judge(now - self.started, self.receiving)
        return None


def run_watched(
    args: Sequence[str],
    *,
    on_line: ProgressSink,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    cancel: threading.Event | None = None,
    judge: Judge | None = None,
    cwd: Path | None = None,
) -> None:
    """Run `git <args>` (which should include `--progress`) until it ends or must stop."""
    process = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV, **(env or {})},
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watch = _Watch(on_line, judge)
    try:
        _feed_stdin(process, stdin)
        reason = _watch_until_done(process, watch, cancel)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()
    if reason is not None:
        error = GitStalled if reason.startswith("stalled") else GitStopped
        raise error(f"git {args[0]} {reason}")
    if process.returncode != 0:
        stderr = watch.tail.decode(errors="replace").strip()
        raise GitError(f"git {args[0]} failed ({process.returncode}): {stderr[-2000:]}")


def _feed_stdin(process: subprocess.Popen[bytes], data: bytes | None) -> None:
    """Hand git its (bounded) input in the background, so its stderr is read meanwhile."""
    if data is None or process.stdin is None:
        return
    pipe = process.stdin

    def write() -> None:
        with contextlib.suppress(OSError):  # git ended early: its exit code tells why
            pipe.write(data)
        with contextlib.suppress(OSError):
            pipe.close()

    threading.Thread(target=write, daemon=True).start()


def _watch_until_done(
    process: subprocess.Popen[bytes], watch: _Watch, cancel: threading.Event | None
) -> str | None:
    """Read stderr until it closes; the reason to stop git early, if one came up."""
    if process.stderr is None:
        return None
    fd = process.stderr.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                return None
            watch.feed(data)
        reason = watch.verdict(cancel)
        if reason is not None:
            return reason
