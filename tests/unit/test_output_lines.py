"""Sandbox output is split into lines with bounded memory, however it is shaped."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from orchestration.activities.output_lines import (
    CUT_MARKER,
    MAX_QUEUED_CHUNKS,
    BoundedLines,
    stdout_lines,
)
from sandbox.interface import ExecResult, OutputChunk, SandboxError


def test_lines_across_chunks_come_out_whole_and_in_order() -> None:
    """A line split over several chunks is one line; several lines in a chunk are several."""
    lines = BoundedLines(limit=100)
    assert lines.feed(b'{"a"') == []
    assert lines.feed(b':1}\n{"b":2}\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert lines.feed(b":3}") == []
    assert lines.rest() == b'{"c":3}'
    assert lines.rest() is None


def test_a_line_over_the_limit_is_cut_and_marked_and_the_next_line_is_whole() -> None:
    """Only the first `limit` bytes of a long line are kept; the line after it is untouched."""
    lines = BoundedLines(limit=10)
    out = lines.feed(b"x" * 25) + lines.feed(b"y" * 25) + lines.feed(b"\nnext\n")
    assert out == [b"x" * 10 + CUT_MARKER, b"next"]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_gigantic_line_without_newline_keeps_memory_at_the_limit(chunk: int) -> None:
    """200 KB with no newline, fed in small or large chunks, holds at most the limit."""
    lines = BoundedLines(limit=1000)
    data = b"z" * 200_000
    for start in range(0, len(data), chunk):
        assert lines.feed(data[start : start + chunk]) == []
        assert lines._size <= 1000
    assert lines.rest() == b"z" * 1000 + CUT_MARKER


def test_an_empty_line_is_a_line() -> None:
    """Blank lines are kept (the parser skips them; the splitter does not decide that)."""
    assert BoundedLines().feed(b"\n\na\n") == [b"", b"", b"a"]


async def test_a_stream_that_breaks_raises_in_the_reader_not_in_a_thread() -> None:
    """An error while reading (the container gone mid-run) reaches the caller, after the
    lines read before it."""

    class Broken:
        def __iter__(self) -> Iterator[OutputChunk]:
            yield OutputChunk(stream="stdout", data=b"first\n")
            raise SandboxError("the container vanished")

        def result(self) -> ExecResult:
            raise AssertionError("not reached")

    seen: list[str] = []
    with pytest.raises(SandboxError, match="vanished"):
        async for line in stdout_lines(Broken(), idle_seconds=5, on_idle=lambda: None):
            seen.append(line)
    assert seen == ["first"]


class _Flood:
    """A command writing 1,000 chunks as fast as it can; counts what was read from it."""

    def __init__(self) -> None:
        self.read = 0

    def __iter__(self) -> Iterator[OutputChunk]:
        for _ in range(1000):
            self.read += 1
            yield OutputChunk(stream="stdout", data=b"line\n")

    def result(self) -> ExecResult:
        return ExecResult(exit_code=0)


async def test_a_flood_waits_for_the_parser_instead_of_queueing_in_the_worker() -> None:
    """Output read but not yet parsed stays within MAX_QUEUED_CHUNKS, however slow the
    consumer is: the reader waits (the command then waits in its pipe)."""
    flood = _Flood()
    ahead: list[int] = []
    parsed = 0
    async for _ in stdout_lines(flood, idle_seconds=5, on_idle=lambda: None):
        parsed += 1
        ahead.append(flood.read - parsed)
        if parsed % 100 == 0:
            await asyncio.sleep(0.01)  # a slow parser: the reader runs ahead while it can
    assert parsed == 1000
    assert max(ahead) <= MAX_QUEUED_CHUNKS + 1
    assert max(ahead) >= MAX_QUEUED_CHUNKS // 2  # it did run ahead: the bound was reached


async def test_a_consumer_that_stops_early_releases_the_reader() -> None:
    """Closing the lines early (a cancelled run) ends the reading thread, not leaves it
    waiting for room forever."""
    flood = _Flood()
    lines = stdout_lines(flood, idle_seconds=5, on_idle=lambda: None)
    async for _ in lines:
        break
    await lines.aclose()
    deadline = time.monotonic() + 5
    while any(t.name == "sandbox-output" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the reader thread is still waiting"
        await asyncio.sleep(0.05)
    assert flood.read < 1000
