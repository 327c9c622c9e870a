"""Latency the model proxy adds to one small request, beside the direct request (same run).

uv run python bench/model_proxy_overhead.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from orchestration.proxies.model.proxy import ModelProxy
from tests.model_proxy.conftest import REQUEST, unix_client
from tests.model_proxy.upstream import FakeUpstream, json_answer


async def timings(
    client: aiohttp.ClientSession, url: str, token: str | None, rounds: int
) -> list[float]:
    headers = {"x-api-key": token} if token else {}
    times = []
    for i in range(rounds + 3):
        started = time.perf_counter()
        async with client.post(url, json=REQUEST, headers=headers) as response:
            await response.read()
        if i >= 3:  # warm-up rounds open the connections
            times.append(time.perf_counter() - started)
    return times


async def main(rounds: int) -> None:
    upstream = FakeUpstream()
    upstream.handler = json_answer
    await upstream.start()
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-") as root:
        proxy = ModelProxy(upstream_url=upstream.url, api_key="bench-key", socket_root=Path(root))
        await proxy.start()
        try:
            route = await proxy.open_route("bench", budget_usd=1000.0)
            async with aiohttp.ClientSession() as client:
                direct = await timings(client, upstream.url + "/v1/messages", None, rounds)
            async with unix_client(route) as client:
                proxied = await timings(client, "http://localhost/v1/messages", route.token, rounds)
        finally:
            await proxy.stop()
            await upstream.stop()
    print(f"{rounds} small JSON requests on kept-alive connections (median, p99):")
    for label, values in (("direct to upstream", direct), ("through the proxy", proxied)):
        ms = sorted(v * 1000 for v in values)
        print(
            f"  {label:<20} {statistics.median(ms):6.2f} ms  {ms[int(len(ms) * 0.99) - 1]:6.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args().rounds))
