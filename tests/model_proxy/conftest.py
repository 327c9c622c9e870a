"""Fixtures: a recording loopback upstream and a started proxy with a short socket root."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from orchestration.proxies.model.pricing import ModelPricing
from orchestration.proxies.model.proxy import ModelProxy, ProxyRoute
from tests.model_proxy.upstream import MODEL, FakeUpstream

REAL_KEY = "sk-ant-api03-REALKEY-0123456789abcdefghijklmnopqrstuvwxyz"
TEST_PRICING = {
    MODEL: ModelPricing(
        input_per_mtok=1.0, output_per_mtok=2.0, cache_read_per_mtok=0.5, cache_write_per_mtok=4.0
    )
}
# 100 input, 20 output, 1000 cache reads and 50 cache writes at the test prices
COST_PER_ANSWER = (100 * 1.0 + 20 * 2.0 + 1000 * 0.5 + 50 * 4.0) / 1_000_000
REQUEST = {
    "model": MODEL,
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
def socket_root() -> Iterator[Path]:
    """A short directory for sockets (unix socket paths are limited to 107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="mp-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    """A recording stand-in for the model API on loopback."""
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(upstream: FakeUpstream, socket_root: Path) -> AsyncIterator[ModelProxy]:
    """A started proxy in front of the fake upstream, with the real key and test prices."""
    model_proxy = ModelProxy(
        upstream_url=upstream.url, api_key=REAL_KEY, socket_root=socket_root, pricing=TEST_PRICING
    )
    await model_proxy.start()
    yield model_proxy
    await model_proxy.stop()


def unix_client(route: ProxyRoute, **kwargs: Any) -> aiohttp.ClientSession:
    """An HTTP client that reaches the route's unix socket, as socat does in the sandbox."""
    return aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(route.socket_path)), **kwargs
    )


async def call(
    route: ProxyRoute,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    path: str = "/v1/messages?beta=true",
    headers: dict[str, str] | None = None,
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    """POST through the route with its token (or the given one); return status, headers, body."""
    sent = {"x-api-key": route.token if token is None else token, **(headers or {})}
    if token == "":
        del sent["x-api-key"]
    async with (
        unix_client(route) as client,
        client.post(
            "http://localhost" + path, json=REQUEST if body is None else body, headers=sent
        ) as response,
    ):
        return response.status, response.headers, await response.read()
