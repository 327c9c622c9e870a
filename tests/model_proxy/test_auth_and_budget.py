"""Task tokens, per-task usage and cost, and the budget gate."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from orchestration.proxies.model.proxy import ModelProxy
from tests.model_proxy.conftest import COST_PER_ANSWER, REQUEST, call
from tests.model_proxy.upstream import FakeUpstream, json_answer


@pytest.mark.parametrize("token", ["", "sk-fixbot-wrong"])
async def test_missing_or_wrong_token_is_refused(
    proxy: ModelProxy, upstream: FakeUpstream, token: str
) -> None:
    """No token or a wrong one gets an Anthropic-style 401 and the upstream is never called."""
    route = await proxy.open_route("t-auth", budget_usd=1.0)
    status, headers, body = await call(route, token=token)
    assert status == 401 and headers["x-should-retry"] == "false"
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    assert upstream.seen == []
    usage = proxy.usage("t-auth")
    assert usage is not None and usage.requests == 0


async def test_usage_and_cost_accumulate_over_requests(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Tokens from SSE events and from JSON answers add up; cost follows the pricing table."""
    route = await proxy.open_route("t-usage", budget_usd=1.0)
    for _ in range(2):
        assert (await call(route))[0] == 200
    upstream.handler = json_answer
    assert (await call(route, body={**REQUEST, "stream": False}))[0] == 200
    usage = proxy.usage("t-usage")
    assert usage is not None
    assert usage.requests == 3 and usage.refused == 0
    assert (usage.input_tokens, usage.output_tokens) == (300, 60)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (3000, 150)
    assert usage.cost_usd == pytest.approx(3 * COST_PER_ANSWER)


async def test_spent_budget_refuses_without_calling_upstream(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Once what is left cannot hold a request's worst case, requests get a clear 402
    billing_error and go nowhere."""
    budget = 1.5 * COST_PER_ANSWER
    route = await proxy.open_route("t-budget", budget_usd=budget)
    assert (await call(route))[0] == 200
    for refused in (1, 2):
        status, headers, body = await call(route)
        assert status == 402 and headers["x-should-retry"] == "false"
        error = json.loads(body)["error"]
        assert error["type"] == "billing_error"
        assert error["message"] == "fixbot: the task's model budget of $0.0013 is spent"
        usage = proxy.usage("t-budget")
        assert usage is not None and usage.refused == refused
    assert len(upstream.seen) == 1


async def test_raising_the_budget_on_reopen_lets_requests_through(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Opening an open route again keeps its token and usage but applies the new budget."""
    route = await proxy.open_route("t-raise", budget_usd=0.0)
    assert (await call(route))[0] == 402
    again = await proxy.open_route("t-raise", budget_usd=1.0)
    assert again == route
    assert (await call(route))[0] == 200
    usage = proxy.usage("t-raise")
    assert usage is not None and usage.refused == 1 and usage.requests == 1


async def test_two_tasks_are_isolated(proxy: ModelProxy, upstream: FakeUpstream) -> None:
    """Task A's token does not open task B's socket, and usage is kept per task."""
    route_a = await proxy.open_route("task-a", budget_usd=1.0)
    route_b = await proxy.open_route("task-b", budget_usd=1.0)
    assert route_a.token != route_b.token and route_a.socket_dir != route_b.socket_dir
    assert (await call(route_b, token=route_a.token))[0] == 401
    assert (await call(route_a))[0] == 200
    usage_a, usage_b = proxy.usage("task-a"), proxy.usage("task-b")
    assert usage_a is not None and usage_a.requests == 1
    assert usage_b is not None and usage_b.requests == 0 and usage_b.cost_usd == 0


async def test_answer_without_model_is_priced_by_the_request_model(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Usage in an answer that names no model is priced by the request body's model."""

    async def anonymous(request: web.Request) -> web.StreamResponse:
        """Answer with usage but no model."""
        return web.json_response({"usage": {"input_tokens": 1_000_000}})

    upstream.handler = anonymous
    route = await proxy.open_route("t-anon", budget_usd=10.0)
    assert (await call(route, body={**REQUEST, "stream": False}))[0] == 200
    usage = proxy.usage("t-anon")
    assert usage is not None and usage.cost_usd == pytest.approx(1.0)


async def test_undecodable_token_is_refused_not_crashed(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """A token with bytes that are not UTF-8 gets a plain 401, not a server error."""
    route = await proxy.open_route("t-bytes-token", budget_usd=1.0)
    reader, writer = await asyncio.open_unix_connection(str(route.socket_path))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nx-api-key: \xff\xfe\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401") and upstream.seen == []
