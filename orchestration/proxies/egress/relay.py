"""Moving bytes between a sandbox's connection and an allowed origin: a CONNECT tunnel, one
plain HTTP request and its answer, and the short error answers the proxy gives itself.

Every connection is closed on the way out, flushed after success and cut after a failure, so
that closing a route leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from orchestration.proxies.egress.request_head import (
    RequestHead,
    Target,
    expects_continue,
    forward_head,
)

CLOSE_GRACE_SECONDS = 1.0  # how long a finished connection may take to flush before it is cut
CHUNK_BYTES = 64 * 1024
TUNNEL_OPEN = b"HTTP/1.1 200 Connection Established\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class Stream:
    """Both ends of one connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


async def answer(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    """Send a short plain-text answer that ends the connection."""
    body = (message + "\n").encode("ascii", "backslashreplace")
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("ascii") + body)
    await writer.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes from one stream to the other until the reader ends."""
    while chunk := await reader.read(CHUNK_BYTES):
        writer.write(chunk)
        await writer.drain()


async def _copy_exactly(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int
) -> None:
    """Copy exactly ``length`` bytes; a client that stops short raises IncompleteReadError."""
    while length > 0:
        chunk = await reader.read(min(length, CHUNK_BYTES))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", length)
        writer.write(chunk)
        await writer.drain()
        length -= len(chunk)


async def _race(*coros: Coroutine[Any, Any, None]) -> None:
    """Run coroutines until the first one ends, then cancel the others and wait for them."""
    tasks = [asyncio.create_task(coro) for coro in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a stream, letting it flush for a moment before it is cut."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE_SECONDS):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        pass
    finally:
        writer.transport.abort()


@contextlib.asynccontextmanager
async def owned(writer: asyncio.StreamWriter) -> AsyncIterator[None]:
    """Close the stream on leaving: flushed after success, cut at once after a failure."""
    try:
        yield
    except BaseException:
        writer.transport.abort()
        raise
    finally:
        await _close(writer)


async def tunnel(client: Stream, upstream: Stream) -> None:
    """Confirm the tunnel, then splice bytes both ways until either side closes."""
    client.writer.write(TUNNEL_OPEN)
    await client.writer.drain()
    await _race(_pump(client.reader, upstream.writer), _pump(upstream.reader, client.writer))


async def forward(request: RequestHead, target: Target, client: Stream, upstream: Stream) -> None:
    """Send one plain HTTP request to the origin and relay its answer until the origin closes."""
    if expects_continue(request):
        client.writer.write(CONTINUE)
    upstream.writer.write(forward_head(request, target))
    await _copy_exactly(client.reader, upstream.writer, request.body_length)
    await _pump(upstream.reader, client.writer)
