"""A per-task allowlisting HTTP(S) forward proxy: the sandbox's only way to package registries.

Each task gets a unix socket ``egress.sock`` in its own directory (shared with the model proxy's
``model.sock``), bind-mounted into that task's container only, where socat forwards it from
127.0.0.1. ``CONNECT host:port`` opens a tunnel and absolute-form ``http://`` requests are
forwarded, but only to hosts on the task's allowlist; everything else gets a 403 or a 400 and
is never even resolved. Nothing listens until a route is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, Field

from orchestration.proxies.routes import (
    HOP_BY_HOP,
    SOCKET_MODE,
    check_task_id,
    prepare_dir,
    remove_socket,
    socket_path_for,
)

log = structlog.get_logger(__name__)

SOCKET_NAME = "egress.sock"
MAX_HEAD_BYTES = 16 * 1024  # request line and headers together
HEAD_TIMEOUT_SECONDS = 10.0  # a client must send its whole request head within this
CLOSE_GRACE_SECONDS = 1.0  # how long a finished connection may take to flush before it is cut
CHUNK_BYTES = 64 * 1024
UPSTREAM_BUFFER_BYTES = 256 * 1024
MAX_REFUSED_HOSTS = 50
MAX_SHOWN_HOST = 260
DEFAULT_PORTS = frozenset({80, 443})  # what an allowlist entry without a port allows
HTTP_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOSTNAME = re.compile(rf"{LABEL}(?:\.{LABEL})*")
NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # inet_aton would read such a name as an IP
AUTHORITY = re.compile(r"(?:\[(?P<v6>[^\[\]]+)\]|(?P<name>[^\[\]:]+))(?::(?P<port>[0-9]{1,5}))?")
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
NOT_FORWARDED = HOP_BY_HOP | {"host", "expect", "content-length"}
TUNNEL_OPEN = b"HTTP/1.1 200 Connection Established\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


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
class _Route:
    """A route's mutable state inside the proxy."""

    public: EgressRoute
    allowed_hosts: list[str]
    stats: EgressStats = field(default_factory=EgressStats)
    server: asyncio.Server | None = None
    closed: bool = False
    connections: set[asyncio.Task[Any]] = field(default_factory=set)


@dataclass(frozen=True)
class _Request:
    """A parsed request head."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body_length: int


@dataclass(frozen=True)
class _Target:
    """Where a request wants to go, and the origin-form path for a plain HTTP request."""

    host: str
    port: int
    path: str

    @property
    def shown(self) -> str:
        """``host:port`` made safe to print."""
        host = "".join(c if " " < c < "\x7f" else f"\\x{ord(c):02x}" for c in self.host)
        host = host[:MAX_SHOWN_HOST]
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The ``Host`` header value for a forwarded plain HTTP request."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


@dataclass(frozen=True)
class _Stream:
    """Both ends of one connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class _Reply(Exception):
    """An error answer to send the client before closing its connection."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the status and the one-line message."""
        super().__init__(message)
        self.status = status
        self.message = message


def host_allowed(host: str, port: int, allowed: list[str]) -> bool:
    """Whether an allowlist lets a connection to ``host:port`` through."""
    name = _normal_host(host)
    if name is None or not 0 < port < 65536:
        return False
    return any(_entry_matches(entry, name, port) for entry in allowed)


def valid_entry(entry: str) -> bool:
    """Whether an allowlist entry is well formed (a malformed one never matches)."""
    return _parse_entry(entry) is not None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an IP literal spells, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(host: str) -> str | None:
    """The host in lowercase if it is an IP literal or a plain ASCII DNS name, else None."""
    if not host.isascii():
        return None
    name = host.lower()
    if _ip(name) is not None:
        return name
    if HOSTNAME.fullmatch(name) and not NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        return name
    return None


def _split_authority(text: str) -> tuple[str, int | None] | None:
    """Split ``host``, ``host:port`` or ``[v6]:port`` into host and port (None when absent)."""
    match = AUTHORITY.fullmatch(text)
    if match is None:
        return None
    v6, port = match["v6"], match["port"]
    if v6 is not None and not isinstance(_ip(v6), ipaddress.IPv6Address):
        return None
    number = int(port) if port else None
    if number is not None and not 0 < number < 65536:
        return None
    return (v6 if v6 is not None else match["name"]), number


def _parse_entry(entry: str) -> tuple[str, int | None] | None:
    """An allowlist entry as (normal host or ``*.suffix``, port or None), or None if malformed."""
    text = entry.strip()
    wildcard = text.startswith("*.")
    rest = text[2:] if wildcard else text
    bare_v6 = not wildcard and rest.count(":") > 1 and _ip(rest) is not None
    split = (rest, None) if bare_v6 else _split_authority(rest)
    if split is None:
        return None
    host = _normal_host(split[0])
    if host is None or (wildcard and _ip(host) is not None):
        return None
    return ("*." + host if wildcard else host), split[1]


def _entry_matches(entry: str, host: str, port: int) -> bool:
    """Whether one allowlist entry matches a normalised host and a port."""
    parsed = _parse_entry(entry)
    if parsed is None:
        return False
    pattern, entry_port = parsed
    ports = DEFAULT_PORTS if entry_port is None else {entry_port}
    if port not in ports:
        return False
    if pattern.startswith("*."):
        return _ip(host) is None and host.endswith(pattern[1:])
    if pattern == host:
        return True
    address = _ip(pattern)
    return address is not None and address == _ip(host)


def _check_entries(allowed_hosts: list[str]) -> None:
    """Refuse an allowlist with entries that could never match."""
    bad = [entry for entry in allowed_hosts if not valid_entry(entry)]
    if bad:
        raise ValueError(f"malformed allowlist entries: {bad!r}")


def _parse_head(head: bytes) -> _Request:
    """Parse a request head that ends in a blank line."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    if any(bad in line for line in lines for bad in "\r\n\x00"):
        raise _Reply(400, "fixbot egress: malformed request head")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or parts[2] not in HTTP_VERSIONS:
        raise _Reply(400, "fixbot egress: malformed request line")
    headers = [_parse_header(line) for line in lines[1:]]
    length = 0 if parts[0] == "CONNECT" else _body_length(headers)
    return _Request(parts[0], parts[1], parts[2], headers, length)


def _parse_header(line: str) -> tuple[str, str]:
    """Split one header line into name and value."""
    name, sep, value = line.partition(":")
    if not sep or not TOKEN.fullmatch(name):
        raise _Reply(400, "fixbot egress: malformed header line")
    return name, value.strip(" \t")


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    """Every value of a header, by case-insensitive name."""
    return [value for key, value in headers if key.lower() == name]


def _body_length(headers: list[tuple[str, str]]) -> int:
    """The request body's length from Content-Length; chunked bodies are not supported."""
    if _values(headers, "transfer-encoding"):
        raise _Reply(411, "fixbot egress: send request bodies with a Content-Length")
    lengths = set(_values(headers, "content-length"))
    if not lengths:
        return 0
    length = lengths.pop()
    if lengths or not CONTENT_LENGTH.fullmatch(length):
        raise _Reply(400, "fixbot egress: bad Content-Length")
    return int(length)


def _target(request: _Request) -> _Target:
    """Where a CONNECT or an absolute-form request wants to go."""
    if request.method == "CONNECT":
        split = _split_authority(request.target)
        if split is None or split[1] is None:
            raise _Reply(400, "fixbot egress: CONNECT needs host:port")
        return _Target(split[0].lower(), split[1], "")
    scheme, sep, rest = request.target.partition("://")
    if not sep:
        raise _Reply(400, "fixbot egress: this is a proxy; send http:// URLs or use CONNECT")
    if scheme.lower() != "http":
        raise _Reply(400, "fixbot egress: only http:// URLs are forwarded; use CONNECT for TLS")
    return _absolute_target(rest)


def _absolute_target(rest: str) -> _Target:
    """The host, port and origin-form path of an http URL without its scheme."""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    split = _split_authority(rest[:end])
    if split is None:
        raise _Reply(400, "fixbot egress: bad host in the URL")
    path = rest[end:].partition("#")[0]
    path = path if path.startswith("/") else "/" + path
    return _Target(split[0].lower(), 80 if split[1] is None else split[1], path)


def _forward_head(request: _Request, target: _Target) -> bytes:
    """The request head for the origin: origin-form, its own Host, no hop-by-hop headers."""
    listed = ",".join(_values(request.headers, "connection")).lower().split(",")
    dropped = NOT_FORWARDED | {token.strip() for token in listed}
    lines = [f"{request.method} {target.path} {request.version}", f"Host: {target.host_header}"]
    lines += [f"{name}: {value}" for name, value in request.headers if name.lower() not in dropped]
    if request.body_length:
        lines.append(f"Content-Length: {request.body_length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _expects_continue(request: _Request) -> bool:
    """Whether the client waits for a 100 Continue before sending its body."""
    wanted = any(v.lower() == "100-continue" for v in _values(request.headers, "expect"))
    return wanted and request.body_length > 0


async def _answer(writer: asyncio.StreamWriter, status: int, message: str) -> None:
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
async def _owned(writer: asyncio.StreamWriter) -> AsyncIterator[None]:
    """Close the stream on leaving: flushed after success, cut at once after a failure."""
    try:
        yield
    except BaseException:
        writer.transport.abort()
        raise
    finally:
        await _close(writer)


async def _tunnel(client: _Stream, upstream: _Stream) -> None:
    """Confirm the tunnel, then splice bytes both ways until either side closes."""
    client.writer.write(TUNNEL_OPEN)
    await client.writer.drain()
    await _race(_pump(client.reader, upstream.writer), _pump(upstream.reader, client.writer))


async def _forward(request: _Request, target: _Target, client: _Stream, upstream: _Stream) -> None:
    """Send one plain HTTP request to the origin and relay its answer until the origin closes."""
    if _expects_continue(request):
        client.writer.write(CONTINUE)
    upstream.writer.write(_forward_head(request, target))
    await _copy_exactly(client.reader, upstream.writer, request.body_length)
    await _pump(upstream.reader, client.writer)


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
        self._routes: dict[str, _Route] = {}
        self._lock = asyncio.Lock()
        self._started = False

    def __repr__(self) -> str:
        """Describe the proxy."""
        return f"EgressProxy(socket_root={str(self._socket_root)!r}, routes={len(self._routes)})"

    async def start(self) -> None:
        """Get ready to open routes; nothing listens until one is opened."""
        self._started = True

    async def stop(self) -> None:
        """Close every route. Sockets and task directories stay: running sandboxes have them
        mounted, and the next worker serves the same paths."""
        self._started = False
        for task_id in list(self._routes):
            route = self._routes.pop(task_id)
            await self._shut(route, keep_socket=True)

    async def open_route(self, task_id: str, *, allowed_hosts: list[str]) -> EgressRoute:
        """Listen on the task's socket; the same task gets the same route (allowlist updated)."""
        check_task_id(task_id)
        _check_entries(allowed_hosts)
        if not self._started:
            raise RuntimeError("the egress proxy is not started")
        async with self._lock:
            existing = self._routes.get(task_id)
            if existing is not None:
                existing.allowed_hosts = list(allowed_hosts)
                return existing.public
            route = _Route(public=self._new_route(task_id), allowed_hosts=list(allowed_hosts))
            await self._listen(route)
            self._routes[task_id] = route
        log.info("egress route opened", task_id=task_id, allowed_hosts=allowed_hosts)
        return route.public

    async def close_route(self, task_id: str) -> EgressStats | None:
        """Stop listening, cut open connections, remove the socket; return the final stats."""
        async with self._lock:
            route = self._routes.pop(task_id, None)
            if route is None:
                return None
            await self._shut(route)
        log.info("egress route closed", task_id=task_id, **route.stats.model_dump())
        return route.stats.model_copy(deep=True)

    def stats(self, task_id: str) -> EgressStats | None:
        """A snapshot of an open route's stats."""
        route = self._routes.get(task_id)
        return None if route is None else route.stats.model_copy(deep=True)

    def route(self, task_id: str) -> EgressRoute | None:
        """The open route of a task."""
        route = self._routes.get(task_id)
        return None if route is None else route.public

    def _new_route(self, task_id: str) -> EgressRoute:
        """Choose the paths of a task's route."""
        socket_path = socket_path_for(self._socket_root, task_id, SOCKET_NAME)
        return EgressRoute(task_id, socket_path.parent, socket_path)

    async def _listen(self, route: _Route) -> None:
        """Start the route's server on its unix socket, reachable by any local user."""
        prepare_dir(route.public.socket_dir, route.public.socket_path)
        try:
            route.server = await asyncio.start_unix_server(
                functools.partial(self._serve, route),
                path=str(route.public.socket_path),
                limit=MAX_HEAD_BYTES,
            )
            route.public.socket_path.chmod(SOCKET_MODE)
        except BaseException:
            if route.server is not None:
                route.server.close()
            remove_socket(route.public.socket_path)
            raise

    async def _shut(self, route: _Route, *, keep_socket: bool = False) -> None:
        """Stop accepting, cut every open connection, remove the socket."""
        route.closed = True
        try:
            if route.server is not None:
                route.server.close()
            connections = list(route.connections)
            for task in connections:
                task.cancel()  # the task has ended: its downloads are of no use any more
            await asyncio.gather(*connections, return_exceptions=True)
            if route.server is not None:
                await route.server.wait_closed()
        finally:
            if not keep_socket:
                remove_socket(route.public.socket_path)

    async def _serve(
        self, route: _Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one client connection, tracked so that closing the route can cut it."""
        task = asyncio.current_task()
        if route.closed or task is None:
            writer.transport.abort()
            return
        route.connections.add(task)
        try:
            async with _owned(writer):
                await self._handle(route, _Stream(reader, writer))
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.debug("egress connection broke", task_id=route.public.task_id, error=repr(exc))
        finally:
            route.connections.discard(task)

    async def _handle(self, route: _Route, client: _Stream) -> None:
        """Read one request, check it against the allowlist and carry it out."""
        try:
            head = await self._read_head(client.reader)
            if head is None:
                return
            request = _parse_head(head)
            target = _target(request)
            self._admit(route, target)
            upstream = await self._connect(target)
        except _Reply as reply:
            await _answer(client.writer, reply.status, reply.message)
            return
        async with _owned(upstream.writer):
            if request.method == "CONNECT":
                await _tunnel(client, upstream)
            else:
                await _forward(request, target, client, upstream)

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        """The request head, or None when the client sends none in time or goes away."""
        try:
            async with asyncio.timeout(self._head_timeout):
                return await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None
        except asyncio.LimitOverrunError:
            raise _Reply(431, "fixbot egress: request head too large") from None

    def _admit(self, route: _Route, target: _Target) -> None:
        """Count the request; refuse it with a 403 unless its host is on the allowlist."""
        stats = route.stats
        if host_allowed(target.host, target.port, route.allowed_hosts):
            stats.allowed += 1
            return
        stats.refused += 1
        shown = target.shown
        if shown not in stats.refused_hosts and len(stats.refused_hosts) < MAX_REFUSED_HOSTS:
            stats.refused_hosts.append(shown)
            log.info("egress refused", task_id=route.public.task_id, target=shown)
        raise _Reply(403, f"fixbot egress: {shown} is not on this task's allowlist")

    async def _connect(self, target: _Target) -> _Stream:
        """Open TCP to an allowed target (resolving its name only now), or answer 502/504."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    target.host, target.port, limit=UPSTREAM_BUFFER_BYTES, happy_eyeballs_delay=0.25
                )
        except TimeoutError:
            raise _Reply(504, f"fixbot egress: timed out connecting to {target.shown}") from None
        except OSError as exc:
            message = f"fixbot egress: cannot reach {target.shown} ({type(exc).__name__})"
            raise _Reply(502, message) from None
        return _Stream(reader, writer)
