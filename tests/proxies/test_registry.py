"""The shared per-task route registry, on both kinds of socket server the proxies use."""

from __future__ import annotations

import asyncio
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from orchestration.proxies.registry import Route, RouteRegistry
from orchestration.proxies.sockets import SocketServer, serve_app, serve_streams

PING = {"app": b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "streams": b"ping\n"}
HOLD = {"app": b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n", "streams": b"hold\n"}


@dataclass
class Seen:
    """What a route's server did: requests answered, held ones cut."""

    answered: int = 0
    cut: int = 0
    holding: asyncio.Event = field(default_factory=asyncio.Event)


async def _serve(route: Route[Seen], ask: str) -> bytes:
    """Answer ``ping`` at once; hold ``hold`` until cancelled, counting the cut."""
    if ask != "hold":
        route.state.answered += 1
        return f"pong {route.task_id}\n".encode()
    route.state.holding.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.sleep(0.1)  # winding down takes a moment, which close must wait out
        route.state.cut += 1
        raise
    raise AssertionError("unreachable")


async def listen_app(route: Route[Seen]) -> SocketServer:
    """An aiohttp server whose handler is tracked, as the model proxy's is."""

    async def handle(request: web.Request) -> web.StreamResponse:
        with route.serving():
            return web.Response(body=await _serve(route, request.path.strip("/")))

    return await serve_app(route.socket_path, handle, grace=0.5)


async def listen_streams(route: Route[Seen]) -> SocketServer:
    """A stream server whose connections are tracked, as the egress proxy's are."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with route.serving() as admitted:
            try:
                if admitted:
                    writer.write(await _serve(route, (await reader.readline()).decode().strip()))
                    await writer.drain()
            finally:
                writer.close()

    return await serve_streams(route.socket_path, handle, limit=1024)


LISTEN: dict[str, Callable[[Route[Seen]], Awaitable[SocketServer]]] = {
    "app": listen_app,
    "streams": listen_streams,
}


@pytest.fixture(params=["app", "streams"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which kind of server the registry starts on each socket."""
    return str(request.param)


@pytest.fixture
def socket_root() -> Iterator[Path]:
    """A short directory for sockets (unix socket paths are limited to 107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="rr-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def registry_for(kind: str, socket_root: Path, name: str = "x.sock") -> RouteRegistry[Seen]:
    """A registry serving ``kind`` servers on ``<root>/<task>/<name>``."""
    return RouteRegistry(proxy=kind, socket_root=socket_root, socket_name=name, listen=LISTEN[kind])


@pytest.fixture
async def registry(kind: str, socket_root: Path) -> AsyncIterator[RouteRegistry[Seen]]:
    """A started registry of the given kind."""
    routes = registry_for(kind, socket_root)
    routes.start()
    yield routes
    await routes.stop()


def entries(folder: Path) -> list[Path]:
    """What a folder holds."""
    return list(folder.iterdir())


def fresh(_: Path) -> Seen:
    """The state of a newly opened route."""
    return Seen()


async def exchange(path: Path, data: bytes) -> bytes:
    """Send bytes to a socket and read until the server closes the connection."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_open_serves_a_socket_any_local_user_can_reach(
    registry: RouteRegistry[Seen], kind: str, socket_root: Path
) -> None:
    """The socket is <root>/<task>/<name>, 0666 in a 0755 directory, and answers."""
    route = await registry.open("t-open", fresh)
    assert route.socket_path == socket_root / "t-open" / "x.sock"
    assert stat.S_ISSOCK(route.socket_path.stat().st_mode)
    assert stat.S_IMODE(route.socket_path.stat().st_mode) == 0o666
    assert stat.S_IMODE(route.socket_path.parent.stat().st_mode) == 0o755
    assert b"pong t-open" in await exchange(route.socket_path, PING[kind])
    assert registry.get("t-open") is route and route.state.answered == 1


async def test_open_is_idempotent_even_when_concurrent(registry: RouteRegistry[Seen]) -> None:
    """Opening a task again returns the open route; its state is made once."""
    made: list[Path] = []

    def counting(path: Path) -> Seen:
        made.append(path)
        return Seen()

    routes = await asyncio.gather(*(registry.open("t-same", counting) for _ in range(3)))
    again = await registry.open("t-same", counting)
    assert all(route is again for route in routes)
    assert len(made) == 1 and len(registry) == 1


async def test_close_removes_the_socket_and_the_empty_directory(
    registry: RouteRegistry[Seen],
) -> None:
    """After closing, nothing is left on disk, nothing answers, and a second close is a no-op."""
    route = await registry.open("t-close", fresh)
    closed = await registry.close("t-close")
    assert closed is route and route.closed
    assert not route.socket_path.parent.exists()
    with pytest.raises(FileNotFoundError):
        await asyncio.open_unix_connection(str(route.socket_path))
    assert registry.get("t-close") is None and await registry.close("t-close") is None


async def test_close_cuts_work_in_flight_and_waits_for_it(
    registry: RouteRegistry[Seen], kind: str
) -> None:
    """A request still being served is cancelled, and has ended when close returns."""
    route = await registry.open("t-cut", fresh)
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    writer.write(HOLD[kind])
    await asyncio.wait_for(route.state.holding.wait(), 5)
    await asyncio.wait_for(registry.close("t-cut"), 5)
    assert route.state.cut == 1
    assert b"pong" not in await asyncio.wait_for(reader.read(), 5)
    writer.close()


async def test_a_closing_route_admits_no_new_work(registry: RouteRegistry[Seen]) -> None:
    """Once cut, a route tracks nothing more: work that slips in cannot outlive the close."""
    route = await registry.open("t-late", fresh)
    with route.serving() as admitted:
        assert admitted
    await route.cut()
    with route.serving() as admitted:
        assert not admitted


async def test_each_proxy_removes_only_its_own_socket(socket_root: Path) -> None:
    """Two proxies share a task's directory; the directory goes with the last socket."""
    model, egress = registry_for("app", socket_root, "m.sock"), registry_for("streams", socket_root)
    model.start()
    egress.start()
    first = await model.open("t-both", fresh)
    second = await egress.open("t-both", fresh)
    assert first.socket_path.parent == second.socket_path.parent
    await model.close("t-both")
    assert not first.socket_path.exists()
    assert b"pong t-both" in await exchange(second.socket_path, PING["streams"])
    await egress.close("t-both")
    assert not second.socket_path.parent.exists()


async def test_stop_leaves_sockets_for_the_next_worker(kind: str, socket_root: Path) -> None:
    """Stopping ends every route but keeps its directory (sandboxes have it mounted); a new
    worker's registry then serves the same path, replacing the dead socket."""
    old = registry_for(kind, socket_root)
    old.start()
    routes = [await old.open(f"t-stop-{n}", fresh) for n in range(2)]
    await old.stop()
    assert len(old) == 0 and all(route.socket_path.parent.is_dir() for route in routes)
    with socket.socket(socket.AF_UNIX) as client, pytest.raises(OSError):
        client.connect(str(routes[0].socket_path))
    with pytest.raises(RuntimeError, match="not started"):
        await old.open("t-after", fresh)
    new = registry_for(kind, socket_root)
    new.start()
    try:
        again = await new.open("t-stop-0", fresh)
        assert again.socket_path == routes[0].socket_path
        assert b"pong t-stop-0" in await exchange(again.socket_path, PING[kind])
    finally:
        await new.stop()


async def test_routes_open_only_once_started(kind: str, socket_root: Path) -> None:
    """Before start nothing may listen."""
    with pytest.raises(RuntimeError, match=f"the {kind} proxy is not started"):
        await registry_for(kind, socket_root).open("t-early", fresh)
    assert entries(socket_root) == []


@pytest.mark.parametrize(
    ("task_id", "message"),
    [("../up", "task id"), ("a/b", "task id"), ("..", "task id"), ("x" * 110, "too long")],
)
async def test_unsafe_task_ids_are_refused(
    registry: RouteRegistry[Seen], socket_root: Path, task_id: str, message: str
) -> None:
    """A task id must be one short path component; nothing is created for a refused one."""
    with pytest.raises(ValueError, match=message):
        await registry.open(task_id, fresh)
    assert entries(socket_root) == []


async def test_a_server_that_fails_to_start_leaves_nothing_behind(
    kind: str, socket_root: Path
) -> None:
    """When the proxy's server cannot start, the socket and directory go and no route stays."""
    failures = [OSError("no server today")]

    async def flaky(route: Route[Seen]) -> SocketServer:
        if failures:
            raise failures.pop()
        return await LISTEN[kind](route)

    routes: RouteRegistry[Seen] = RouteRegistry(
        proxy=kind, socket_root=socket_root, socket_name="x.sock", listen=flaky
    )
    routes.start()
    with pytest.raises(OSError, match="no server today"):
        await routes.open("t-fail", fresh)
    assert routes.get("t-fail") is None and entries(socket_root) == []
    route = await routes.open("t-fail", fresh)
    assert b"pong t-fail" in await exchange(route.socket_path, PING[kind])
    await routes.stop()
