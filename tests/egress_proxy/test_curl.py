"""Real curl through the proxy, over a loopback TCP port forwarded to the route's socket."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestration.proxies.egress.proxy import EgressProxy
from tests.egress_proxy.conftest import INDEX_PAGE, Registry

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until the reader ends, then close the writer."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tcp_to_unix(socket_path: Path) -> AsyncIterator[int]:
    """Forward a free 127.0.0.1 port to a unix socket, as socat does in the sandbox."""

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Splice one TCP connection to a fresh unix connection."""
        up_reader, up_writer = await asyncio.open_unix_connection(str(socket_path))
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def curl(proxy_port: int, *args: str) -> tuple[int, str, bytes]:
    """Run curl through the proxy port; return its exit code, HTTP status and body."""
    assert CURL is not None
    process = await asyncio.create_subprocess_exec(
        CURL,
        "-sS",
        "--max-time",
        "10",
        "--noproxy",
        "",
        "--proxy",
        f"http://127.0.0.1:{proxy_port}",
        "-w",
        "\n%{http_code}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 15)
    body, _, status = out.rpartition(b"\n")
    return await process.wait(), status.decode(), body


async def test_curl_fetches_through_the_proxy(proxy: EgressProxy, registry: Registry) -> None:
    """curl gets an allowed URL both as a forwarded request and through a CONNECT tunnel."""
    route = await proxy.open_route("t-curl", allowed_hosts=[f"127.0.0.1:{registry.port}"])
    url = f"http://127.0.0.1:{registry.port}/simple/pkg/"
    async with tcp_to_unix(route.socket_path) as port:
        assert await curl(port, url) == (0, "200", INDEX_PAGE)
        assert await curl(port, "--proxytunnel", url) == (0, "200", INDEX_PAGE)
    assert [seen.path_qs for seen in registry.seen] == ["/simple/pkg/"] * 2
    assert registry.seen[0].headers["Connection"] == "close"


async def test_curl_is_refused_off_the_allowlist(proxy: EgressProxy, registry: Registry) -> None:
    """curl to a URL not on the allowlist gets the 403, with or without a tunnel."""
    route = await proxy.open_route("t-curl-no", allowed_hosts=["pypi.org"])
    url = f"http://127.0.0.1:{registry.port}/simple/pkg/"
    async with tcp_to_unix(route.socket_path) as port:
        code, status, body = await curl(port, url)
        assert (code, status) == (0, "403") and b"is not on this task's allowlist" in body
        code, _, _ = await curl(port, "--proxytunnel", url)
        assert code == 56  # curl: CONNECT answered with a failure status
    assert registry.seen == []
    stats = proxy.stats("t-curl-no")
    assert stats is not None and stats.refused == 2
