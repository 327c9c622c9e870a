"""Fixtures: a loopback package registry, a listener that records connections, and a proxy."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from orchestration.proxies.egress.proxy import EgressProxy, EgressRoute

INDEX_PAGE = b"<html><body><a href='pkg-1.0.tar.gz'>pkg-1.0.tar.gz</a></body></html>"
HEAD_TIMEOUT = 0.3


@dataclass(frozen=True)
class Seen:
    """One request as the registry received it."""

    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


class Registry:
    """A plain HTTP package index on 127.0.0.1 that records what it is asked."""

    def __init__(self) -> None:
        """Nothing seen yet, not listening yet."""
        self.seen: list[Seen] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        """Record the request and answer with an index page naming the path."""
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        return web.Response(body=INDEX_PAGE, headers={"X-Path": request.path_qs})


@dataclass
class Listener:
    """A loopback TCP port that counts the connections it accepts and says nothing."""

    port: int = 0
    accepted: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Count the connection and close it."""
        self.accepted += 1
        writer.close()


@pytest.fixture
def socket_root() -> Iterator[Path]:
    """A short directory for sockets (unix socket paths are limited to 107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="ep-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    """The package registry stand-in."""
    server = Registry()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    """A second loopback port that must never be reached."""
    server = Listener()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(socket_root: Path) -> AsyncIterator[EgressProxy]:
    """A started egress proxy with a short head timeout."""
    egress = EgressProxy(socket_root=socket_root, connect_timeout=2.0, head_timeout=HEAD_TIMEOUT)
    await egress.start()
    yield egress
    await egress.stop()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read an answer's head; return its status and the raw head."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return int(head.split(b" ", 2)[1]), head


async def exchange(route: EgressRoute, data: bytes) -> tuple[int, bytes, bytes]:
    """Send raw bytes to the route and read the whole answer: status, head and body."""
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    try:
        writer.write(data)
        await writer.drain()
        status, head = await read_head(reader)
        body = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    return status, head, body


async def open_tunnel(
    route: EgressRoute, authority: str
) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send CONNECT for ``authority``; return the status and the open connection."""
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    await writer.drain()
    status, _ = await read_head(reader)
    return status, reader, writer


def get(url: str, host: str) -> bytes:
    """A GET request head with the given target and Host header."""
    return f"GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pip/26\r\n\r\n".encode()
