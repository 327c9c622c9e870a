"""Reading a sandbox command's output as lines, with bounded memory and linear work.

The output is hostile: a line without a newline may be gigabytes long. Lines are cut at a
byte limit (the rest of such a line is dropped up to its newline), and each chunk is searched
for newlines once, so the work stays linear in the output whatever its shape. The blocking
stream is read on a thread of its own, not the shared pool: an agent run lasts minutes and
must not hold a thread that short Docker and git calls are waiting for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

from sandbox.interface import ExecStream

MAX_LINE_BYTES = 8 << 20  # a stream-json line quoting a large file stays whole below this
CUT_MARKER = b" [line cut]"
MAX_QUEUED_CHUNKS = 64  # read from the sandbox but not yet split into lines (64 KB each)
_CREDIT_WAIT_SECONDS = 0.5


class BoundedLines:
    """Splits bytes into lines of at most `limit` bytes (longer ones are cut and marked)."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._cut = False  # the current line was already cut: drop the rest of it

    def feed(self, data: bytes) -> list[bytes]:
        """The lines that `data` completes, in order."""
        lines: list[bytes] = []
        start = 0
        while (end := data.find(b"\n", start)) != -1:
            self._take(data[start:end])
            lines.append(self._line())
            start = end + 1
        self._take(data[start:])
        return lines

    def rest(self) -> bytes | None:
        """What is left after the last newline, as a final line (None when nothing is)."""
        return self._line() if self._size or self._cut else None

    def _take(self, piece: bytes) -> None:
        if self._cut or not piece:
            return
        room = self._limit - self._size
        if len(piece) > room:
            piece, self._cut = piece[:room], True
        self._parts.append(piece)
        self._size += len(piece)

    def _line(self) -> bytes:
        line = b"".join(self._parts) + (CUT_MARKER if self._cut else b"")
        self._parts, self._size, self._cut = [], 0, False
        return line


async def stdout_lines(
    stream: ExecStream, *, idle_seconds: float, on_idle: Callable[[], None]
) -> AsyncIterator[str]:
    """The stream's stdout as text lines; `on_idle` runs whenever nothing came for a while
    (the agent activity heartbeats there, so a quiet run is still seen alive)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    # the reader holds a credit per chunk in the queue: a command that writes faster than its
    # lines are parsed waits in its pipe instead of growing the worker
    credits = threading.Semaphore(MAX_QUEUED_CHUNKS)
    stopped = threading.Event()
    failures: list[Exception] = []  # what broke the reading, raised again on the loop's side

    def pump() -> None:
        try:
            for chunk in stream:
                if chunk.stream != "stdout":
                    continue
                while not credits.acquire(timeout=_CREDIT_WAIT_SECONDS):
                    if stopped.is_set():
                        return
                loop.call_soon_threadsafe(queue.put_nowait, chunk.data)
        except Exception as exc:  # e.g. the container vanished mid-run
            failures.append(exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    reader = threading.Thread(target=pump, name="sandbox-output", daemon=True)
    reader.start()
    lines = BoundedLines()
    try:
        while True:
            try:
                data = await asyncio.wait_for(queue.get(), timeout=idle_seconds)
            except TimeoutError:
                on_idle()
                continue
            if data is None:
                break
            credits.release()
            for raw in lines.feed(data):
                yield raw.decode(errors="replace")
    finally:
        stopped.set()  # a reader still waiting for room gives up
    last = lines.rest()
    if last is not None:
        yield last.decode(errors="replace")
    await asyncio.to_thread(reader.join)
    if failures:
        raise failures[0]
