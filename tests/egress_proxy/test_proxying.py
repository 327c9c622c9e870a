"""CONNECT tunnels and absolute-form HTTP requests: allowed ones go through, others get 403/400."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from orchestration.proxies.egress.proxy import EgressProxy
from tests.egress_proxy.conftest import (
    INDEX_PAGE,
    Listener,
    Registry,
    exchange,
    get,
    open_tunnel,
    read_head,
)


async def test_connect_to_an_allowed_host_tunnels(proxy: EgressProxy, registry: Registry) -> None:
    """CONNECT to an allowed host:port answers 200, then bytes flow both ways to the server."""
    route = await proxy.open_route("t-tunnel", allowed_hosts=[f"127.0.0.1:{registry.port}"])
    status, reader, writer = await open_tunnel(route, f"127.0.0.1:{registry.port}")
    assert status == 200
    request = f"GET /simple/pkg/ HTTP/1.1\r\nHost: 127.0.0.1:{registry.port}\r\n"
    writer.write((request + "Connection: close\r\n\r\n").encode())
    status, head = await read_head(reader)
    body = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert status == 200 and b"X-Path: /simple/pkg/" in head and body == INDEX_PAGE
    assert [seen.path_qs for seen in registry.seen] == ["/simple/pkg/"]
    stats = proxy.stats("t-tunnel")
    assert stats is not None and (stats.allowed, stats.refused) == (1, 0)


async def test_bytes_sent_right_after_connect_are_kept(
    proxy: EgressProxy, registry: Registry
) -> None:
    """Data a client sends in the same write as its CONNECT head goes through the tunnel."""
    authority = f"127.0.0.1:{registry.port}"
    route = await proxy.open_route("t-eager", allowed_hosts=[authority])
    connect = f"CONNECT {authority} HTTP/1.1\r\n\r\n"
    inner = f"GET /eager HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    status, head, rest = await exchange(route, (connect + inner).encode())
    assert status == 200 and head.endswith(b"Established\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 200 OK") and rest.endswith(INDEX_PAGE)
    assert [seen.path_qs for seen in registry.seen] == ["/eager"]


async def test_connect_to_a_port_not_listed_is_refused(
    proxy: EgressProxy, registry: Registry, listener: Listener
) -> None:
    """CONNECT to another port of an allowed IP gets a 403 naming it; nothing is contacted."""
    route = await proxy.open_route("t-refuse", allowed_hosts=[f"127.0.0.1:{registry.port}"])
    target = f"127.0.0.1:{listener.port}"
    for _ in range(2):
        status, head, body = await exchange(route, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
        assert status == 403 and b"Content-Length:" in head
        assert body == f"fixbot egress: {target} is not on this task's allowlist\n".encode()
    await asyncio.sleep(0.05)
    assert listener.accepted == 0 and registry.seen == []
    stats = await proxy.close_route("t-refuse")
    assert stats is not None
    assert (stats.allowed, stats.refused, stats.refused_hosts) == (0, 2, [target])


async def test_absolute_form_get_is_forwarded(proxy: EgressProxy, registry: Registry) -> None:
    """An allowed ``GET http://host:port/path`` reaches the origin in origin form and answers."""
    authority = f"127.0.0.1:{registry.port}"
    route = await proxy.open_route("t-get", allowed_hosts=[authority])
    request = get(f"http://{authority}/simple/pkg/?x=1", "wrong.example")
    status, head, body = await exchange(route, request)
    assert status == 200 and b"X-Path: /simple/pkg/?x=1" in head and body == INDEX_PAGE
    (seen,) = registry.seen
    assert seen.method == "GET" and seen.path_qs == "/simple/pkg/?x=1"
    assert seen.headers["Host"] == authority  # the URL's host, not the client's Host header
    assert seen.headers["Connection"] == "close" and seen.headers["User-Agent"] == "pip/26"


async def test_absolute_form_post_with_body_and_expect(
    proxy: EgressProxy, registry: Registry
) -> None:
    """A body sent after ``100 Continue`` reaches the origin whole; proxy headers stay behind."""
    authority = f"127.0.0.1:{registry.port}"
    route = await proxy.open_route("t-post", allowed_hosts=[authority])
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    writer.write(
        f"POST http://{authority}/upload HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 5\r\n"
        "Expect: 100-continue\r\nProxy-Authorization: Basic c2VjcmV0\r\n\r\n".encode()
    )
    assert (await read_head(reader))[0] == 100
    writer.write(b"hello")
    status, _ = await read_head(reader)
    await asyncio.wait_for(reader.read(), 5)
    writer.close()
    (seen,) = registry.seen
    assert status == 200 and seen.body == b"hello"
    assert "Proxy-Authorization" not in seen.headers and "Expect" not in seen.headers


async def test_absolute_form_get_not_listed_is_refused(
    proxy: EgressProxy, registry: Registry
) -> None:
    """An absolute-form request to a host:port not on the allowlist gets a 403."""
    route = await proxy.open_route("t-get-no", allowed_hosts=["pypi.org"])
    url = f"http://127.0.0.1:{registry.port}/simple/pkg/"
    status, _, body = await exchange(route, get(url, "pypi.org"))
    assert status == 403 and b"is not on this task's allowlist" in body
    assert registry.seen == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /simple/pkg/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n", 400),
        (b"GET https://pypi.org/simple/ HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT pypi.org HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT pypi.org:0 HTTP/1.1\r\n\r\n", 400),
        (b"GET http://[pypi.org]/ HTTP/1.1\r\n\r\n", 400),
        (b"GET http://pypi.org/ HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"GET http://pypi.org/ HTTP/1.1\r\nX: a\nY: b\r\n\r\n", 400),
        (b"GET http://pypi.org/ HTTP/2.0\r\n\r\n", 400),
        (b"POST http://pypi.org/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"POST http://pypi.org/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET http://pypi.org/ HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    ],
)
async def test_malformed_requests_get_client_errors(
    proxy: EgressProxy, request_bytes: bytes, status: int
) -> None:
    """Origin-form, https absolute-form, portless CONNECT and broken heads are not proxied."""
    route = await proxy.open_route("t-bad", allowed_hosts=[])  # so nothing is ever contacted
    assert (await exchange(route, request_bytes))[0] == status
    stats = proxy.stats("t-bad")
    assert stats is not None and (stats.allowed, stats.refused) == (0, 0)


async def test_refused_names_are_never_resolved(
    proxy: EgressProxy, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused host name is not looked up in DNS; an allowed one is, only when used."""
    loop = asyncio.get_running_loop()
    looked_up: list[str] = []
    real = loop.getaddrinfo

    async def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        """Record the name, then resolve it for real."""
        looked_up.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", spy)
    route = await proxy.open_route("t-dns", allowed_hosts=[f"localhost:{registry.port}"])
    refused = await exchange(route, b"CONNECT exfil.attacker.invalid:443 HTTP/1.1\r\n\r\n")
    assert refused[0] == 403 and looked_up == []
    status, _, body = await exchange(route, get(f"http://localhost:{registry.port}/", "x"))
    assert status == 200 and body == INDEX_PAGE and looked_up == ["localhost"]


async def test_unreachable_allowed_target_gets_502(proxy: EgressProxy) -> None:
    """An allowed target that refuses the connection gets a 502 instead of a hang."""
    with socket.socket() as probe:  # a loopback port that is free, so nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    route = await proxy.open_route("t-502", allowed_hosts=[f"127.0.0.1:{port}"])
    status, _, body = await exchange(route, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert status == 502 and b"ConnectionRefusedError" in body


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_route_without_internal_access_refuses_an_allowlisted_internal_host(
    proxy: EgressProxy, registry: Registry, host: str
) -> None:
    """A repository's setup route names a loopback registry: the name is on its allowlist,
    but it resolves to an internal address, so the proxy refuses it and never connects."""
    authority = f"{host}:{registry.port}"
    route = await proxy.open_route("t-internal", allowed_hosts=[authority], internal_allowed=False)
    status, _, body = await exchange(route, get(f"http://{authority}/simple/pkg/", authority))
    assert status == 403
    assert b"resolves to an internal address" in body
    assert b"FIXBOT_ENVIRONMENT__ALLOW_INTERNAL_REGISTRIES" in body
    assert registry.seen == []
    allowed = await proxy.open_route("t-internal-ok", allowed_hosts=[authority])
    status, _, _ = await exchange(allowed, get(f"http://{authority}/simple/pkg/", authority))
    assert status == 200 and len(registry.seen) == 1
