"""Opening and closing per-task routes: sockets, permissions, idempotency, upstream failure."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from pathlib import Path

import aiohttp
import pytest

from orchestration.proxies.model.proxy import SOCKET_NAME, ModelProxy
from tests.model_proxy.conftest import COST_PER_ANSWER, REAL_KEY, REQUEST, call, unix_client
from tests.model_proxy.upstream import FakeUpstream, SlowStream


def entries(folder: Path) -> list[Path]:
    """What a folder holds."""
    return list(folder.iterdir())


async def test_open_route_creates_a_reachable_socket(proxy: ModelProxy, socket_root: Path) -> None:
    """The socket lives in socket_root/<task>/, the dir is 0755 and the socket 0666."""
    route = await proxy.open_route("t-open", budget_usd=1.0)
    assert route.socket_dir == socket_root / "t-open"
    assert route.socket_path == route.socket_dir / SOCKET_NAME
    assert stat.S_ISSOCK(route.socket_path.stat().st_mode)
    assert stat.S_IMODE(route.socket_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(route.socket_path.stat().st_mode) == 0o666
    assert proxy.route("t-open") == route
    assert (await call(route))[0] == 200


async def test_open_route_is_idempotent(proxy: ModelProxy) -> None:
    """Opening the same task again, even concurrently, gives the same token and socket."""
    routes = await asyncio.gather(*(proxy.open_route("t-same", budget_usd=1.0) for _ in range(3)))
    again = await proxy.open_route("t-same", budget_usd=1.0)
    assert all(route == again for route in routes)
    assert len({route.token for route in [*routes, again]}) == 1


async def test_close_route_removes_the_socket_and_returns_usage(proxy: ModelProxy) -> None:
    """After close the socket and its dir are gone, connecting fails, and final usage is given."""
    route = await proxy.open_route("t-close", budget_usd=1.0)
    assert (await call(route))[0] == 200
    usage = await proxy.close_route("t-close")
    assert usage is not None and usage.requests == 1
    assert usage.cost_usd == pytest.approx(COST_PER_ANSWER)
    assert not route.socket_path.exists() and not route.socket_dir.exists()
    with pytest.raises(aiohttp.ClientConnectorError):
        await call(route)
    assert proxy.usage("t-close") is None and proxy.route("t-close") is None
    assert await proxy.close_route("t-close") is None


async def test_reopening_a_closed_task_gives_a_new_token(proxy: ModelProxy) -> None:
    """A closed route's token is dead: opening the task again issues a fresh one."""
    first = await proxy.open_route("t-again", budget_usd=1.0)
    await proxy.close_route("t-again")
    second = await proxy.open_route("t-again", budget_usd=1.0)
    assert second.token != first.token and second.socket_path == first.socket_path
    assert (await call(second, token=first.token))[0] == 401


async def test_close_route_cuts_a_request_in_flight(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Closing a route ends a stream still in progress instead of waiting for it."""
    slow = SlowStream()
    upstream.handler = slow
    route = await proxy.open_route("t-inflight", budget_usd=1.0)
    async with (
        unix_client(route) as client,
        client.post(
            "http://localhost/v1/messages", json=REQUEST, headers={"x-api-key": route.token}
        ) as response,
    ):
        await response.content.readany()
        async with asyncio.timeout(5):
            usage = await proxy.close_route("t-inflight")
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
    assert usage is not None and usage.input_tokens == 100
    assert not route.socket_dir.exists()


async def test_stop_closes_every_route(proxy: ModelProxy, socket_root: Path) -> None:
    """Stopping the proxy (a worker shutting down) stops serving every route but leaves the
    task directories: running sandboxes have them mounted, and the next worker serves the
    same socket paths (a new process cannot reach a re-created directory through the mount)."""
    routes = [await proxy.open_route(f"t-stop-{n}", budget_usd=1.0) for n in range(3)]
    await proxy.stop()
    assert all(route.socket_dir.is_dir() for route in routes)
    for route in routes:
        with socket.socket(socket.AF_UNIX) as client, pytest.raises(OSError):
            client.connect(str(route.socket_path))
    with pytest.raises(RuntimeError):
        await proxy.open_route("t-after", budget_usd=1.0)


async def test_stale_socket_from_a_crash_is_replaced(proxy: ModelProxy, socket_root: Path) -> None:
    """A leftover socket file in the task's dir does not stop the route from opening."""
    stale_dir = socket_root / "t-stale"
    stale_dir.mkdir()
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(stale_dir / SOCKET_NAME))
    route = await proxy.open_route("t-stale", budget_usd=1.0)
    assert (await call(route))[0] == 200


@pytest.mark.parametrize("task_id", ["", "..", "a/b", "../escape", "x" * 200])
async def test_unsafe_task_ids_are_refused(proxy: ModelProxy, task_id: str) -> None:
    """A task id that is not a plain, short directory name is refused."""
    with pytest.raises(ValueError):
        await proxy.open_route(task_id, budget_usd=1.0)


async def test_too_long_socket_path_is_refused(upstream: FakeUpstream, tmp_path: Path) -> None:
    """A socket root too deep for a unix socket path fails clearly."""
    proxy = ModelProxy(upstream_url=upstream.url, api_key=None, socket_root=tmp_path / ("d" * 90))
    await proxy.start()
    try:
        with pytest.raises(ValueError, match="too long"):
            await proxy.open_route("t-long", budget_usd=1.0)
    finally:
        await proxy.stop()


async def test_unreachable_upstream_gives_502_api_error(socket_root: Path) -> None:
    """When the upstream cannot be reached the client gets an Anthropic-style 502 api_error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = ModelProxy(
        upstream_url=f"http://127.0.0.1:{port}", api_key=REAL_KEY, socket_root=socket_root
    )
    await proxy.start()
    try:
        route = await proxy.open_route("t-down", budget_usd=1.0)
        status, headers, body = await call(route)
    finally:
        await proxy.stop()
    assert status == 502 and "x-should-retry" not in headers
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "could not be reached" in error["error"]["message"]
    assert REAL_KEY.encode() not in body


async def test_repr_shows_neither_key_nor_token(proxy: ModelProxy) -> None:
    """Neither the proxy's nor a route's repr contains a credential."""
    route = await proxy.open_route("t-repr", budget_usd=1.0)
    assert REAL_KEY not in repr(proxy) and "api_key=set" in repr(proxy)
    assert route.token not in repr(route) and "t-repr" in repr(route)


@pytest.mark.parametrize(
    ("target", "status", "path_qs"),
    [
        ("http://evil.example/v1/messages?beta=true", b"200", "/v1/messages?beta=true"),
        ("//evil.example/v1/messages", b"403", None),
    ],
)
async def test_request_target_cannot_change_the_upstream_host(
    proxy: ModelProxy, upstream: FakeUpstream, target: str, status: bytes, path_qs: str | None
) -> None:
    """An absolute-form request target still goes to the configured upstream; a ``//host``
    target is no Messages API path at all and is refused without reaching upstream."""
    route = await proxy.open_route("t-target", budget_usd=1.0)
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    head = f"POST {target} HTTP/1.1\r\nHost: x\r\nx-api-key: {route.token}\r\n"
    sent = json.dumps(REQUEST)
    body = (
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(sent)}\r\nConnection: close\r\n\r\n{sent}"
    )
    writer.write((head + body).encode())
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert [seen.path_qs for seen in upstream.seen] == ([path_qs] if path_qs else [])
    if path_qs:
        assert upstream.seen[0].headers["x-api-key"] == REAL_KEY


async def test_only_the_messages_api_is_reachable(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Batches, files and other endpoints billed out of the proxy's sight are refused."""
    route = await proxy.open_route("t-paths", budget_usd=1.0)
    async with unix_client(route) as client:
        for method, path in [
            ("POST", "/v1/messages/batches"),
            ("POST", "/v1/files"),
            ("DELETE", "/v1/messages"),
            ("GET", "/v1/organizations/me"),
        ]:
            async with client.request(
                method, f"http://localhost{path}", headers={"x-api-key": route.token}
            ) as response:
                assert response.status == 403, path
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("upstream_url", "message"),
    [("api.anthropic.com", "absolute"), ("ftp://host", "absolute")],
)
def test_bad_settings_are_refused(upstream_url: str, message: str, tmp_path: Path) -> None:
    """A relative or non-HTTP upstream URL is refused; so is a key that cannot be a header."""
    with pytest.raises(ValueError, match=message):
        ModelProxy(upstream_url=upstream_url, api_key=None, socket_root=tmp_path)
    with pytest.raises(ValueError, match="not allowed") as caught:
        ModelProxy(upstream_url="https://h", api_key="sk-ant-x\nInjected: 1", socket_root=tmp_path)
    assert "sk-ant-x" not in str(caught.value)


async def test_paths_an_upstream_could_normalise_are_refused(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Dot segments, percent-encoding and doubled slashes never reach upstream: a gateway
    that normalises them could otherwise serve another endpoint with the real key."""
    route = await proxy.open_route("t-normalise", budget_usd=1.0)
    for method, target in [
        ("GET", "/v1/models/../files"),
        ("GET", "/v1/models/%2e%2e/files"),
        ("POST", "/v1/messages/../files"),
        ("GET", "/v1/models//x"),
        ("GET", "/v1/models/%2Fx"),
    ]:
        reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
        head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nx-api-key: {route.token}\r\n"
        writer.write((head + "Content-Length: 0\r\nConnection: close\r\n\r\n").encode())
        async with asyncio.timeout(5):
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 403"), target
    assert upstream.seen == []
