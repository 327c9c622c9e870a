"""The proxy forwards requests and streams answers through unchanged, with the real key only
upstream."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from orchestration.proxies.model.proxy import ModelProxy
from tests.model_proxy.conftest import REAL_KEY, REQUEST, call, unix_client
from tests.model_proxy.upstream import SSE_BODY, FakeUpstream, SlowStream, message_json, sse_events


async def test_streamed_answer_passes_through_byte_identical(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """An SSE answer reaches the client byte for byte, with status and content type."""
    route = await proxy.open_route("t-bytes", budget_usd=1.0)
    status, headers, body = await call(route)
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    assert headers["request-id"] == "req_fake"
    assert body == SSE_BODY


async def test_first_event_arrives_before_upstream_finishes(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """The first SSE event reaches the client while the upstream is still holding the rest."""
    slow = SlowStream()
    upstream.handler = slow
    route = await proxy.open_route("t-progressive", budget_usd=1.0)
    first = sse_events()[0]
    async with (
        unix_client(route) as client,
        client.post(
            "http://localhost/v1/messages", json=REQUEST, headers={"x-api-key": route.token}
        ) as response,
    ):
        received = b""
        async with asyncio.timeout(5):
            while len(received) < len(first):
                received += await response.content.readany()
        assert received == first and not slow.release.is_set()
        slow.release.set()
        received += await response.read()
    assert received == SSE_BODY


async def test_upstream_gets_real_key_and_never_the_task_token(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """The token and Authorization are swapped for the real key; other headers pass through."""
    route = await proxy.open_route("t-keys", budget_usd=1.0)
    extra = {
        "Authorization": f"Bearer {route.token}",
        "anthropic-beta": "claude-code-20250219",
        "anthropic-version": "2023-06-01",
        "Connection": "keep-alive, x-hop",
        "x-hop": "dropped",
    }
    status, headers, body = await call(route, headers=extra, path="/v1/messages?beta=true")
    assert status == 200
    seen = upstream.seen[0]
    assert seen.method == "POST" and seen.path_qs == "/v1/messages?beta=true"
    assert seen.headers.getall("x-api-key") == [REAL_KEY]
    assert "Authorization" not in seen.headers and "x-hop" not in seen.headers
    assert seen.headers["anthropic-beta"] == "claude-code-20250219"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["Accept-Encoding"] == "identity"
    assert route.token not in str(dict(seen.headers))
    assert json.loads(seen.body) == REQUEST
    assert int(seen.headers["Content-Length"]) == len(seen.body)
    assert REAL_KEY not in str(dict(headers)) and REAL_KEY.encode() not in body


async def test_bearer_token_alone_is_accepted(proxy: ModelProxy, upstream: FakeUpstream) -> None:
    """A client that sends the token as ``Authorization: Bearer`` is let through."""
    route = await proxy.open_route("t-bearer", budget_usd=1.0)
    status, _, _ = await call(route, token="", headers={"Authorization": f"Bearer {route.token}"})
    assert status == 200
    assert upstream.seen[0].headers["x-api-key"] == REAL_KEY


async def test_extra_upstream_headers_are_added(upstream: FakeUpstream, socket_root: Path) -> None:
    """Configured extra headers reach the upstream; with no api key none is invented."""
    proxy = ModelProxy(
        upstream_url=upstream.url + "/",
        api_key=None,
        socket_root=socket_root,
        extra_upstream_headers={"x-gateway": "fixbot"},
    )
    await proxy.start()
    try:
        route = await proxy.open_route("t-extra", budget_usd=1.0)
        status, _, _ = await call(route)
    finally:
        await proxy.stop()
    assert status == 200
    seen = upstream.seen[0]
    assert seen.headers["x-gateway"] == "fixbot" and "x-api-key" not in seen.headers
    assert seen.path_qs == "/v1/messages?beta=true"


async def test_chunked_request_body_is_streamed_through(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """A request body sent in chunks without a length arrives upstream whole."""
    route = await proxy.open_route("t-chunked", budget_usd=1.0)
    raw = json.dumps(REQUEST).encode()

    async def pieces() -> AsyncIterator[bytes]:
        """Yield the body in small pieces."""
        for start in range(0, len(raw), 7):
            yield raw[start : start + 7]

    async with (
        unix_client(route) as client,
        client.post(
            "http://localhost/v1/messages", data=pieces(), headers={"x-api-key": route.token}
        ) as response,
    ):
        assert response.status == 200
    assert upstream.seen[0].body == raw


async def test_gzip_from_upstream_is_decoded_for_the_client(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """An upstream that compresses anyway is decoded; the client gets plain JSON, no encoding."""

    async def gzipped(request: web.Request) -> web.StreamResponse:
        """Answer with a gzip-encoded JSON message."""
        body = gzip.compress(json.dumps(message_json()).encode())
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers)

    upstream.handler = gzipped
    route = await proxy.open_route("t-gzip", budget_usd=1.0)
    async with (
        unix_client(route, auto_decompress=False) as client,
        client.post(
            "http://localhost/v1/messages", json=REQUEST, headers={"x-api-key": route.token}
        ) as response,
    ):
        assert "Content-Encoding" not in response.headers
        assert json.loads(await response.read()) == message_json()
    usage = proxy.usage("t-gzip")
    assert usage is not None and usage.input_tokens == 100 and usage.output_tokens == 20


async def test_upstream_error_status_passes_through(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """An upstream 529 reaches the client unchanged, so Claude Code retries as it would."""
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

    async def overloaded(request: web.Request) -> web.StreamResponse:
        """Answer 529 overloaded."""
        return web.json_response(error, status=529, headers={"x-should-retry": "true"})

    upstream.handler = overloaded
    route = await proxy.open_route("t-529", budget_usd=1.0)
    status, headers, body = await call(route)
    assert status == 529 and json.loads(body) == error
    assert headers["x-should-retry"] == "true"


async def test_real_key_echoed_by_upstream_is_masked(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """A key echoed upstream, even split across chunks or in a header, never reaches the client."""

    async def echo(request: web.Request) -> web.StreamResponse:
        """Echo the received key in a header and across two body chunks."""
        key = request.headers["x-api-key"].encode()
        response = web.StreamResponse(
            headers={"Content-Type": "text/plain", "x-echo": key.decode()}
        )
        await response.prepare(request)
        await response.write(b"key=" + key[:10])
        await asyncio.sleep(0.05)
        await response.write(key[10:] + b";again=" + key + b";end")
        await response.write_eof()
        return response

    upstream.handler = echo
    route = await proxy.open_route("t-echo", budget_usd=1.0)
    status, headers, body = await call(route)
    mask = b"*" * len(REAL_KEY)
    assert status == 200 and "x-echo" not in headers
    assert body == b"key=" + mask + b";again=" + mask + b";end"


async def test_upstream_cut_mid_stream_is_cut_for_the_client(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """A stream the upstream drops is dropped for the client too, not made to look complete."""

    async def drop(request: web.Request) -> web.StreamResponse:
        """Send two events, then abort the connection."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in sse_events()[:2]:
            await response.write(event)
        assert request.transport is not None
        request.transport.abort()
        return response

    upstream.handler = drop
    route = await proxy.open_route("t-drop", budget_usd=1.0)
    with pytest.raises(aiohttp.ClientPayloadError):
        await call(route)
    usage = proxy.usage("t-drop")
    assert usage is not None and usage.input_tokens == 100 and usage.output_tokens == 1


async def test_client_leaving_mid_stream_ends_the_upstream_request(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """When the client goes away mid-stream the upstream request is dropped, tokens still count."""
    slow = SlowStream()
    upstream.handler = slow
    route = await proxy.open_route("t-leave", budget_usd=1.0)
    async with (
        unix_client(route) as client,
        client.post(
            "http://localhost/v1/messages", json=REQUEST, headers={"x-api-key": route.token}
        ) as response,
    ):
        await response.content.readany()
        response.close()
    async with asyncio.timeout(5):
        await slow.cancelled.wait()
    usage = proxy.usage("t-leave")
    assert usage is not None and usage.requests == 1 and usage.input_tokens == 100


async def test_bodiless_probe_passes_through(proxy: ModelProxy, upstream: FakeUpstream) -> None:
    """A HEAD or GET probe without a body is forwarded and answered like any request."""

    async def ok(request: web.Request) -> web.StreamResponse:
        """Answer a probe with a small JSON body."""
        return web.json_response({"ok": True})

    upstream.handler = ok
    route = await proxy.open_route("t-probe", budget_usd=1.0)
    async with unix_client(route) as client:
        for method in ("HEAD", "GET"):
            async with client.request(
                method, "http://localhost/", headers={"x-api-key": route.token}
            ) as response:
                assert response.status == 200
                body = await response.read()
                assert body == (b"" if method == "HEAD" else b'{"ok": true}')
    assert [(seen.method, seen.path_qs, seen.body) for seen in upstream.seen] == [
        ("HEAD", "/", b""),
        ("GET", "/", b""),
    ]
