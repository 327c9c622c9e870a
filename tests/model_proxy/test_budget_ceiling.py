"""The budget is a ceiling: requests in flight reserve their worst case, an output limit that
does not fit is lowered, and an answer cut short is charged in full."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from orchestration.proxies.model import budget
from orchestration.proxies.model.pricing import ModelPricing
from orchestration.proxies.model.proxy import ModelProxy
from tests.model_proxy.conftest import REQUEST, TEST_PRICING, call, unix_client
from tests.model_proxy.upstream import MODEL, FakeUpstream, sse_event

PRICING = TEST_PRICING[MODEL]
BIG_REQUEST = {**REQUEST, "max_tokens": 1000}


class HonestUpstream:
    """Answers as the real API bills: prompt tokens at most the body's bytes / 4, and as many
    output tokens as the request allowed (the worst case); holds answers until released."""

    def __init__(self, *, final_usage: bool = True) -> None:
        self.final_usage = final_usage  # False: the answer ends before its final usage
        self.release = asyncio.Event()
        self.waiting = 0
        self.max_tokens_seen: list[int] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        asked = json.loads(body)["max_tokens"]
        self.max_tokens_seen.append(asked)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.waiting += 1
        await self.release.wait()
        usage = {"input_tokens": len(body) // 4, "output_tokens": 1}
        message = {"id": "m", "type": "message", "model": MODEL, "usage": usage}
        await response.write(
            sse_event("message_start", {"type": "message_start", "message": message})
        )
        if self.final_usage:
            final = {"type": "message_delta", "delta": {}, "usage": {"output_tokens": asked}}
            await response.write(sse_event("message_delta", final))
        await response.write_eof()
        return response


async def until(condition: Callable[[], bool]) -> None:
    """Wait (5 s at most) until the condition holds."""
    async with asyncio.timeout(5):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def worst_case(request: dict[str, Any]) -> float:
    """What the proxy reserves for this request on a task with no answers yet."""
    planned = budget.plan(
        request,
        len(json.dumps(request).encode()),
        remaining_usd=1e9,
        pricing=PRICING,
        bytes_per_token=budget.MIN_BYTES_PER_TOKEN,
    )
    assert planned is not None
    return planned.reserve_usd


async def test_concurrent_requests_cannot_spend_past_the_budget(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Thirty requests at once on a budget that holds three worst cases: three go out, the
    rest are refused before any answer is counted, and the spend stays under the budget."""
    honest = HonestUpstream()
    upstream.handler = honest
    budget_usd = 3.5 * worst_case(BIG_REQUEST)
    route = await proxy.open_route("t-burst", budget_usd=budget_usd)
    calls = [asyncio.create_task(call(route, body=BIG_REQUEST)) for _ in range(30)]
    await until(lambda: honest.waiting == 3 and sum(c.done() for c in calls) == 27)
    honest.release.set()
    statuses = [status for status, _, _ in await asyncio.gather(*calls)]
    assert statuses.count(200) == 3 and statuses.count(402) == 27
    usage = proxy.usage("t-burst")
    assert usage is not None and 0 < usage.cost_usd <= budget_usd
    print(f"budget ${budget_usd:.6f}: 30 concurrent requests, 3 sent, spent ${usage.cost_usd:.6f}")


async def test_an_output_limit_that_does_not_fit_is_lowered(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """A request asking for more output than the rest of the budget pays for goes out with
    max_tokens lowered to what it does pay for, and its answer keeps within the budget."""
    honest = HonestUpstream()
    honest.release.set()
    upstream.handler = honest
    request = {**REQUEST, "max_tokens": 100_000}
    budget_usd = worst_case({**request, "max_tokens": 5000})
    route = await proxy.open_route("t-lower", budget_usd=budget_usd)
    assert (await call(route, body=request))[0] == 200
    [sent] = honest.max_tokens_seen
    assert 4000 < sent < 100_000
    usage = proxy.usage("t-lower")
    assert usage is not None and usage.cost_usd <= budget_usd


async def test_an_answer_cut_short_is_charged_its_whole_reservation(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """A stream that breaks before its final usage (here: the sandbox hangs up) is charged
    the request's worst case, not the one token its first event reported."""
    honest = HonestUpstream(final_usage=False)
    upstream.handler = honest
    route = await proxy.open_route("t-cut", budget_usd=1.0)

    async def hang_up() -> None:
        async with unix_client(route) as client:
            post = client.post(
                "http://localhost/v1/messages", json=BIG_REQUEST, headers={"x-api-key": route.token}
            )
            async with post as response:
                response.close()

    task = asyncio.create_task(hang_up())
    await until(lambda: honest.waiting == 1)
    await task
    honest.release.set()
    await until(lambda: getattr(proxy.usage("t-cut"), "cut_short", 0) == 1)
    usage = proxy.usage("t-cut")
    assert usage is not None and usage.cost_usd == pytest.approx(worst_case(BIG_REQUEST))


def test_the_input_reservation_uses_the_dearest_prompt_price() -> None:
    """A prompt token is reserved at the one-hour cache write price when that is dearest."""
    pricing = ModelPricing(
        input_per_mtok=3.0, output_per_mtok=15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75
    )
    assert budget.input_price(pricing) == pytest.approx(6.0 / 1_000_000)


def test_a_request_that_cannot_get_a_small_answer_is_refused() -> None:
    """When even MIN_OUTPUT_TOKENS do not fit, there is no plan; a smaller ask still fits."""
    request = {**REQUEST, "max_tokens": 4096}
    size = len(json.dumps(request))
    tight = budget.plan(request, size, remaining_usd=0.001, pricing=PRICING, bytes_per_token=1.0)
    assert tight is None
    fits = budget.plan(request, size, remaining_usd=0.01, pricing=PRICING, bytes_per_token=1.0)
    assert fits is not None and fits.max_tokens == 4096 and fits.reserve_usd <= 0.01


def test_one_hour_prices_are_reserved_only_when_asked_for() -> None:
    """Without a one-hour cache_control the dearest prompt price is the five-minute write."""
    pricing = ModelPricing(
        input_per_mtok=3.0, output_per_mtok=15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75
    )
    assert budget.input_price(pricing, one_hour_cache=False) == pytest.approx(3.75 / 1_000_000)
    assert budget.asks_one_hour_cache(b'{"cache_control":{"type":"ephemeral","ttl":"1h"}}')
    assert not budget.asks_one_hour_cache(b'{"cache_control":{"type":"ephemeral"}}')


@pytest.mark.parametrize(
    ("max_tokens", "thinking"),
    [(60_000, {"type": "enabled", "budget_tokens": 30_000}),
     (5000, {"type": "enabled", "budget_tokens": 2500}),
     (1500, None)],
)  # fmt: skip
def test_a_lowered_limit_keeps_thinking_valid(max_tokens: int, thinking: Any) -> None:
    """A thinking budget keeps at most half the new limit and at least the API's minimum;
    when the limit is too low for both, thinking is dropped."""
    request = {
        **REQUEST,
        "max_tokens": 128_000,
        "thinking": {"type": "enabled", "budget_tokens": 32_000},
    }
    lowered = budget.with_max_tokens(request, max_tokens)
    assert lowered["max_tokens"] == max_tokens and lowered.get("thinking") == thinking


async def test_an_answer_the_provider_ends_with_an_error_is_billed_as_reported(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """An overloaded error in the middle of a stream ends the answer: the task is charged the
    usage it reported, not the whole reservation."""

    async def overloaded(request: web.Request) -> web.StreamResponse:
        message = {"id": "m", "type": "message", "model": MODEL, "usage": {"input_tokens": 10}}
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(
            sse_event("message_start", {"type": "message_start", "message": message})
        )
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
        await response.write(sse_event("error", error))
        await response.write_eof()
        return response

    upstream.handler = overloaded
    route = await proxy.open_route("t-overloaded", budget_usd=1.0)
    assert (await call(route, body=BIG_REQUEST))[0] == 200
    usage = proxy.usage("t-overloaded")
    assert usage is not None and usage.cut_short == 0
    assert usage.cost_usd == pytest.approx(10 * PRICING.input_per_mtok / 1_000_000)
