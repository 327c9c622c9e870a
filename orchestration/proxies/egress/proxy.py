"""A per-task allowlisting HTTP(S) forward proxy: the sandbox's only way to package registries.

Each task gets a unix socket ``egress.sock`` in its own directory (shared with the model proxy's
``model.sock``), bind-mounted into that task's container only, where socat forwards it from
127.0.0.1. ``CONNECT host:port`` opens a tunnel and absolute-form ``http://`` requests are
forwarded, but only to hosts on the task's allowlist; everything else gets a 403 or a 400 and
is never even resolved. Nothing listens until a route is opened.

The parts: `allowlist` (which hosts), `request_head` (where a request wants to go), `relay`
(the bytes both ways), and the shared `RouteRegistry` (one socket per task).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from pydantic import BaseModel, Field

from orchestration.proxies.egress.allowlist import check_entries, host_allowed
from orchestration.proxies.egress.relay import Stream, answer, forward, owned, tunnel
from orchestration.proxies.egress.request_head import Reply, Target, parse_head, target_of
from orchestration.proxies.registry import Route, RouteRegistry
from orchestration.proxies.sockets import SocketServer, serve_streams

log = structlog.get_logger(__name__)

SOCKET_NAME = "egress.sock"
MAX_HEAD_BYTES = 16 * 1024  # request line and headers together
HEAD_TIMEOUT_SECONDS = 10.0  # a client must send its whole request head within this
UPSTREAM_BUFFER_BYTES = 256 * 1024
MAX_REFUSED_HOSTS = 50


class EgressStats(BaseModel):
    """What one task's egress traffic asked for so far."""

    allowed: int = 0
    refused: int = 0
    refused_hosts: list[str] = Field(default_factory=list)  # distinct, the first 50


@dataclass(frozen=True)
class EgressRoute:
    """Where one task's sandbox reaches the egress proxy."""

    task_id: str
    socket_dir: Path
    socket_path: Path


@dataclass
class _Task:
    """What the proxy keeps for one open route: its allowlist and what was asked so far."""

    public: EgressRoute
    allowed_hosts: list[str]
    stats: EgressStats = field(default_factory=EgressStats)
    # an allowlist from a repository (its setup's registries) may not reach internal
    # addresses unless the operator said so; the deployment's own allowlist may
    internal_allowed: bool = True


class EgressProxy:
    """Serves one unix socket per task and lets each task reach only its allowlisted hosts."""

    def __init__(
        self,
        *,
        socket_root: Path,
        connect_timeout: float = 10.0,
        head_timeout: float = HEAD_TIMEOUT_SECONDS,
    ) -> None:
        """Keep the settings; nothing listens until routes are opened."""
        if connect_timeout <= 0 or head_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._socket_root = socket_root
        self._connect_timeout = connect_timeout
        self._head_timeout = head_timeout
        self._routes: RouteRegistry[_Task] = RouteRegistry(
            proxy="egress", socket_root=socket_root, socket_name=SOCKET_NAME, listen=self._listen
        )

    def __repr__(self) -> str:
        """Describe the proxy."""
        return f"EgressProxy(socket_root={str(self._socket_root)!r}, routes={len(self._routes)})"

    async def start(self) -> None:
        """Get ready to open routes; nothing listens until one is opened."""
        self._routes.start()

    async def stop(self) -> None:
        """Close every route; their sockets stay for the next worker."""
        await self._routes.stop()

    async def open_route(
        self, task_id: str, *, allowed_hosts: list[str], internal_allowed: bool = True
    ) -> EgressRoute:
        """Listen on the task's socket; the same task gets the same route (allowlist updated).
        Without `internal_allowed`, a host that resolves to a loopback, private, link-local
        or otherwise internal address is refused even when allowlisted."""
        check_entries(allowed_hosts)
        new = functools.partial(_new_task, task_id, list(allowed_hosts))
        route = await self._routes.open(task_id, new)
        route.state.allowed_hosts = list(allowed_hosts)
        route.state.internal_allowed = internal_allowed
        log.info("egress allowlist set", task_id=task_id, allowed_hosts=allowed_hosts)
        return route.state.public

    async def close_route(self, task_id: str) -> EgressStats | None:
        """Stop listening, cut open connections, remove the socket; return the final stats."""
        route = await self._routes.close(task_id)
        if route is None:
            return None
        log.info("egress route closed", task_id=task_id, **route.state.stats.model_dump())
        return route.state.stats.model_copy(deep=True)

    def stats(self, task_id: str) -> EgressStats | None:
        """A snapshot of an open route's stats."""
        route = self._routes.get(task_id)
        return None if route is None else route.state.stats.model_copy(deep=True)

    def route(self, task_id: str) -> EgressRoute | None:
        """The open route of a task."""
        route = self._routes.get(task_id)
        return None if route is None else route.state.public

    async def _listen(self, route: Route[_Task]) -> SocketServer:
        """Serve the route's socket as raw streams: CONNECT tunnels are not HTTP exchanges."""
        handler = functools.partial(self._serve, route)
        return await serve_streams(route.socket_path, handler, limit=MAX_HEAD_BYTES)

    async def _serve(
        self, route: Route[_Task], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one client connection, tracked so that closing the route can cut it."""
        with route.serving() as admitted:
            if not admitted:
                writer.transport.abort()
                return
            try:
                async with owned(writer):
                    await self._handle(route.state, Stream(reader, writer))
            except (OSError, asyncio.IncompleteReadError) as exc:
                log.debug("egress connection broke", task_id=route.task_id, error=repr(exc))

    async def _handle(self, task: _Task, client: Stream) -> None:
        """Read one request, check it against the allowlist and carry it out."""
        try:
            head = await self._read_head(client.reader)
            if head is None:
                return
            request = parse_head(head)
            target = target_of(request)
            _admit(task, target)
            upstream = await self._connect(target, task.internal_allowed)
        except Reply as reply:
            await answer(client.writer, reply.status, reply.message)
            return
        async with owned(upstream.writer):
            if request.method == "CONNECT":
                await tunnel(client, upstream)
            else:
                await forward(request, target, client, upstream)

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        """The request head, or None when the client sends none in time or goes away."""
        try:
            async with asyncio.timeout(self._head_timeout):
                return await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None
        except asyncio.LimitOverrunError:
            raise Reply(431, "fixbot egress: request head too large") from None

    async def _connect(self, target: Target, internal_allowed: bool) -> Stream:
        """Open TCP to an allowed target (resolving its name only now), or answer 502/504;
        an internal address is refused (403) when the route may not reach one. The checked
        address is the one connected to: a second lookup could answer differently."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                host = target.host
                if not internal_allowed:
                    host = await _external_address(target)
                reader, writer = await asyncio.open_connection(
                    host, target.port, limit=UPSTREAM_BUFFER_BYTES, happy_eyeballs_delay=0.25
                )
        except TimeoutError:
            raise Reply(504, f"fixbot egress: timed out connecting to {target.shown}") from None
        except OSError as exc:
            message = f"fixbot egress: cannot reach {target.shown} ({type(exc).__name__})"
            raise Reply(502, message) from None
        return Stream(reader, writer)


async def _external_address(target: Target) -> str:
    """The target's first address, when none of its addresses is internal."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    internal = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_global]
    if internal or not addresses:
        raise Reply(
            403,
            f"fixbot egress: {target.shown} resolves to an internal address ({', '.join(internal)})"
            "; FIXBOT_ENVIRONMENT__ALLOW_INTERNAL_REGISTRIES lets setup reach it",
        )
    return addresses[0]


def _new_task(task_id: str, allowed_hosts: list[str], socket_path: Path) -> _Task:
    """A route's state, with nothing asked yet."""
    return _Task(EgressRoute(task_id, socket_path.parent, socket_path), allowed_hosts)


def _admit(task: _Task, target: Target) -> None:
    """Count the request; refuse it with a 403 unless its host is on the allowlist."""
    stats = task.stats
    if host_allowed(target.host, target.port, task.allowed_hosts):
        stats.allowed += 1
        return
    stats.refused += 1
    shown = target.shown
    if shown not in stats.refused_hosts and len(stats.refused_hosts) < MAX_REFUSED_HOSTS:
        stats.refused_hosts.append(shown)
        log.info("egress refused", task_id=task.public.task_id, target=shown)
    raise Reply(403, f"fixbot egress: {shown} is not on this task's allowlist")
