"""An agent run's spend comes from the proxy's meter and carries across attempts through the
heartbeat details, so a retry on any worker goes on with what is left."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from orchestration.activities.agent_spend import RunSpend, carried_from
from orchestration.proxies.model.proxy import ModelProxy
from tests.model_proxy.conftest import REQUEST, call
from tests.model_proxy.test_budget_ceiling import HonestUpstream, worst_case
from tests.model_proxy.upstream import FakeUpstream


@pytest.mark.parametrize(
    ("details", "carried"),
    [([], 0.0), (["reading"], 0.0), (["reading", 0.25], 0.25), (["x", -1.0], 0.0),
     (["x", True], 0.0), (["x", "0.5"], 0.0), (["x", 2], 2.0),
     (["x", 0.25, 0.5], 0.75), (["x", 0.25, -3], 0.25), (["x", 0.25, "1"], 0.25)],
)  # fmt: skip
def test_carried_spend_is_read_only_from_usable_details(details: list[Any], carried: float) -> None:
    """The second heartbeat detail (spent) and the third (reserved by requests in flight),
    each when it is a non-negative number, are what a retry is charged."""
    assert carried_from(details) == carried


def environment(details: list[Any], attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_details=details, attempt=attempt)
    return env


async def test_a_retry_goes_on_with_what_earlier_attempts_left(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Attempt 1 spends two answers and heartbeats it; attempt 2, on a fresh route (another
    worker) with the same allowance, may spend only the rest: four requests that a fresh
    allowance would all let through end in a refusal, and the spend counts both attempts."""
    honest = HonestUpstream()
    honest.release.set()
    upstream.handler = honest
    beats: list[tuple[Any, ...]] = []

    async def attempt(task_id: str, allowance: float, requests: int) -> tuple[float, list[int]]:
        spend, route = await RunSpend.open(proxy, task_id, allowance)
        statuses = [(await call(route))[0] for _ in range(requests)]
        spend.heartbeat(f"{requests} requests")
        return spend.usd(), statuses

    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    first, _ = await env.run(attempt, "t-probe", 1.0, 2)
    # what attempt 1 spends, then room for one fresh reservation: four answers on a fresh
    # route fit in it, but not four more after attempt 1's two
    allowance = first + worst_case(REQUEST) + 0.05 * first
    assert (await env.run(attempt, "t-fresh", allowance, 4))[1] == [200] * 4
    beats.clear()
    first, statuses = await env.run(attempt, "t-retry", allowance, 2)
    assert statuses == [200, 200] and beats[-1] == ("2 requests", pytest.approx(first), 0.0)
    await proxy.close_route("t-retry")  # the worker that ran it is gone

    total, statuses = await environment(list(beats[-1]), 2).run(attempt, "t-retry", allowance, 4)
    assert statuses[0] == 200 and statuses[-1] == 402
    assert first < total <= allowance


async def test_a_request_in_flight_at_the_last_heartbeat_is_charged_to_the_retry(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """The worker dies while an answer is being generated: its heartbeat said what that
    request reserved, and the retry is charged it (the provider may have finished it)."""
    honest = HonestUpstream()
    upstream.handler = honest
    beats: list[tuple[Any, ...]] = []

    async def attempt() -> None:
        spend, route = await RunSpend.open(proxy, "t-flight", 1.0)
        pending = asyncio.ensure_future(call(route))
        async with asyncio.timeout(10):
            while proxy.in_flight_usd("t-flight") == 0.0:  # noqa: ASYNC110 - polled state
                await asyncio.sleep(0.01)
        spend.heartbeat("answering")
        honest.release.set()
        await pending

    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    await env.run(attempt)
    text, spent, in_flight = beats[-1]
    assert (text, spent) == ("answering", 0.0)
    assert in_flight == pytest.approx(worst_case(REQUEST))
    assert carried_from(list(beats[-1])) == pytest.approx(worst_case(REQUEST))
    assert proxy.in_flight_usd("t-flight") == 0.0  # settled once the answer ended
