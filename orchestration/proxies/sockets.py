"""Per-task unix sockets the worker serves to sandboxes, and the two kinds of server on them.

Each task has one directory under the socket root, bind-mounted into its sandbox; each proxy
puts its own socket there and removes only that socket, and the directory once it is empty.
The model proxy speaks HTTP (an aiohttp server), the egress proxy reads raw streams (CONNECT
tunnels); both reach the registry as a `SocketServer` that can be closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from aiohttp import web

from sandbox.naming import TASK_ID

SOCKET_DIR_MODE = 0o755
SOCKET_MODE = 0o666  # uid 1000 in the container must be able to connect
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the trailing NUL on Linux

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class SocketServer(Protocol):
    """A server listening on one unix socket."""

    async def close(self) -> None:
        """Stop accepting and end the server's connections."""


def check_task_id(task_id: str) -> None:
    """Refuse a task id that is not a safe single path component (the sandbox naming rule:
    it starts with a letter or digit, so "." and ".." are out)."""
    if not TASK_ID.fullmatch(task_id):
        raise ValueError(f"task id {task_id!r} is not usable as a directory name")


def socket_path_for(socket_root: Path, task_id: str, name: str) -> Path:
    """`<root>/<task id>/<name>`, refused when too long for a unix socket address."""
    path = socket_root / task_id / name
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise ValueError(f"socket path {path} is too long for a unix socket")
    return path


def prepare_dir(socket_path: Path) -> None:
    """Create the task's directory (0755) and clear a stale socket left by a crash or by
    the previous worker, which leaves its sockets for the next one to take over."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.parent.chmod(SOCKET_DIR_MODE)
    socket_path.unlink(missing_ok=True)


def remove_socket(socket_path: Path) -> None:
    """Remove one socket, and its directory only when nothing else is left in it."""
    socket_path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: another proxy's socket is still there
        socket_path.parent.rmdir()


class _AppServer:
    """An aiohttp server on a unix socket."""

    def __init__(self, runner: web.AppRunner) -> None:
        """Hold the runner that owns the site and its connections."""
        self._runner = runner

    async def close(self) -> None:
        """Stop the site and end its connections, waiting at most the runner's grace."""
        await self._runner.cleanup()


class _StreamServer:
    """An asyncio stream server on a unix socket."""

    def __init__(self, server: asyncio.Server) -> None:
        """Hold the listening server."""
        self._server = server

    async def close(self) -> None:
        """Stop accepting; the route has already cut the connections it tracks."""
        self._server.close()
        await self._server.wait_closed()


async def serve_app(socket_path: Path, handler: RequestHandler, *, grace: float) -> SocketServer:
    """Serve every method and path with one handler. Request bodies reach it undecoded, as
    sent, because a proxy relays bytes; closing waits ``grace`` seconds for connections."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=grace,
        handler_cancellation=True,
        auto_decompress=False,
    )
    await runner.setup()
    try:
        await web.UnixSite(runner, str(socket_path)).start()
    except BaseException:
        await runner.cleanup()
        raise
    return _AppServer(runner)


async def serve_streams(socket_path: Path, handler: StreamHandler, *, limit: int) -> SocketServer:
    """Serve each connection as a pair of streams; ``limit`` bounds one buffered read."""
    server = await asyncio.start_unix_server(handler, path=str(socket_path), limit=limit)
    return _StreamServer(server)
