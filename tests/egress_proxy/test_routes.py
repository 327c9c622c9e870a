"""Opening and closing per-task routes: sockets, permissions, idempotency, cut connections."""

from __future__ import annotations

import asyncio
import socket
import stat
import time
from pathlib import Path

import pytest

from orchestration.proxies.egress.proxy import SOCKET_NAME, EgressProxy
from tests.egress_proxy.conftest import (
    HEAD_TIMEOUT,
    INDEX_PAGE,
    Registry,
    exchange,
    get,
    open_tunnel,
)


def proxy_tasks() -> list[asyncio.Task[object]]:
    """The running tasks that serve proxy connections or pump their bytes."""
    names = {"EgressProxy._serve", "_pump"}
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") in names and not task.done()
    ]


async def test_open_route_creates_a_reachable_socket(proxy: EgressProxy, socket_root: Path) -> None:
    """The socket is socket_root/<task>/egress.sock, the dir is 0755 and the socket 0666."""
    route = await proxy.open_route("t-open", allowed_hosts=["pypi.org"])
    assert route.socket_dir == socket_root / "t-open"
    assert route.socket_path == route.socket_dir / SOCKET_NAME == route.socket_dir / "egress.sock"
    assert stat.S_ISSOCK(route.socket_path.stat().st_mode)
    assert stat.S_IMODE(route.socket_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(route.socket_path.stat().st_mode) == 0o666
    assert proxy.route("t-open") == route


async def test_open_route_is_idempotent_and_updates_the_allowlist(
    proxy: EgressProxy, registry: Registry
) -> None:
    """Opening the task again gives the same route and the new allowlist applies at once."""
    url = f"http://127.0.0.1:{registry.port}/simple/pkg/"
    routes = await asyncio.gather(
        *(proxy.open_route("t-same", allowed_hosts=["pypi.org"]) for _ in range(3))
    )
    assert (await exchange(routes[0], get(url, "x")))[0] == 403
    again = await proxy.open_route("t-same", allowed_hosts=[f"127.0.0.1:{registry.port}"])
    assert all(route == again for route in routes)
    assert (await exchange(again, get(url, "x")))[0] == 200
    stats = proxy.stats("t-same")
    assert stats is not None and (stats.allowed, stats.refused) == (1, 1)


async def test_bad_task_ids_and_entries_are_refused(proxy: EgressProxy) -> None:
    """Task ids must be one path component; allowlist entries must be able to match."""
    with pytest.raises(ValueError, match="task id"):
        await proxy.open_route("../up", allowed_hosts=[])
    with pytest.raises(ValueError, match="malformed"):
        await proxy.open_route("t-entries", allowed_hosts=["https://pypi.org/simple"])
    assert proxy.route("t-entries") is None


async def test_open_route_needs_a_started_proxy(socket_root: Path) -> None:
    """Routes open only between start and stop."""
    egress = EgressProxy(socket_root=socket_root)
    with pytest.raises(RuntimeError, match="not started"):
        await egress.open_route("t-early", allowed_hosts=[])


async def test_close_route_removes_only_its_socket(proxy: EgressProxy) -> None:
    """Closing removes egress.sock, keeps a sibling model.sock and the dir; connects then fail."""
    route = await proxy.open_route("t-close", allowed_hosts=["pypi.org"])
    sibling = route.socket_dir / "model.sock"
    sibling.write_text("the model proxy's socket")
    assert (await exchange(route, b"CONNECT evil.example:443 HTTP/1.1\r\n\r\n"))[0] == 403
    stats = await proxy.close_route("t-close")
    assert stats is not None and stats.refused_hosts == ["evil.example:443"]
    assert not route.socket_path.exists() and sibling.exists()
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        await asyncio.open_unix_connection(str(route.socket_path))
    assert proxy.route("t-close") is None and proxy.stats("t-close") is None
    assert await proxy.close_route("t-close") is None


async def test_close_route_removes_an_empty_dir(proxy: EgressProxy) -> None:
    """With no other socket left, the task's directory goes too."""
    route = await proxy.open_route("t-alone", allowed_hosts=[])
    await proxy.close_route("t-alone")
    assert not route.socket_dir.exists()


async def test_close_route_cuts_an_open_tunnel(proxy: EgressProxy, registry: Registry) -> None:
    """An open tunnel is cut when its route closes, and nothing is left running."""
    route = await proxy.open_route("t-cut", allowed_hosts=[f"127.0.0.1:{registry.port}"])
    status, reader, writer = await open_tunnel(route, f"127.0.0.1:{registry.port}")
    assert status == 200
    assert len(proxy_tasks()) == 3  # the connection and its two pumps
    await asyncio.wait_for(proxy.close_route("t-cut"), 2)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    assert proxy_tasks() == []


async def test_refused_hosts_keep_the_first_fifty(proxy: EgressProxy) -> None:
    """Every refusal is counted, but only the first 50 distinct targets are listed."""
    route = await proxy.open_route("t-many", allowed_hosts=[])
    for number in [*range(60), 0]:
        request = f"CONNECT host{number}.example:443 HTTP/1.1\r\n\r\n".encode()
        assert (await exchange(route, request))[0] == 403
    stats = proxy.stats("t-many")
    assert stats is not None and stats.refused == 61
    assert stats.refused_hosts == [f"host{number}.example:443" for number in range(50)]


async def test_silent_client_is_dropped_after_the_head_timeout(proxy: EgressProxy) -> None:
    """A client that sends no complete request head is disconnected after the head timeout."""
    route = await proxy.open_route("t-slow", allowed_hosts=[])
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    writer.write(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nX-Garbage: ")
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert HEAD_TIMEOUT * 0.9 <= time.monotonic() - started < HEAD_TIMEOUT + 1.0
    stats = proxy.stats("t-slow")
    assert stats is not None and (stats.allowed, stats.refused) == (0, 0)


async def test_stop_closes_every_route(socket_root: Path, registry: Registry) -> None:
    """Stopping the proxy closes all routes; their sockets stay for the next worker, dead."""
    egress = EgressProxy(socket_root=socket_root)
    await egress.start()
    first = await egress.open_route("t-a", allowed_hosts=[f"127.0.0.1:{registry.port}"])
    second = await egress.open_route("t-b", allowed_hosts=[])
    url = f"http://127.0.0.1:{registry.port}/"
    assert (await exchange(first, get(url, "x")))[2] == INDEX_PAGE
    await egress.stop()
    for route in (first, second):
        with socket.socket(socket.AF_UNIX) as client, pytest.raises(OSError):
            client.connect(str(route.socket_path))
    assert egress.route("t-a") is None and egress.route("t-b") is None
