"""A per-task model API proxy: the sandbox's claude holds a task token, never the real key.

Each task gets its own unix socket in its own directory, bind-mounted into that task's container
only. The proxy checks the task token, swaps in the real credential, forwards the request to the
real upstream, streams the answer back unchanged, counts tokens and cost per task, and refuses
once the task's budget is spent. Nothing listens until a route is opened.

The parts: `pricing` (what an answer costs), `providers.anthropic` (the wire format),
`redaction` (the key never comes back), `relay` (one request there and back), and the shared
`RouteRegistry` (one socket per task). This module holds the task's token and budget.
"""

from __future__ import annotations

import functools
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from orchestration.proxies.model import budget, request_policy
from orchestration.proxies.model.pricing import (
    DEFAULT_PRICING,
    ModelPricing,
    TaskUsage,
    pricing_for,
)
from orchestration.proxies.model.providers import anthropic
from orchestration.proxies.model.relay import Answer, Relay, read_body
from orchestration.proxies.registry import Route, RouteRegistry
from orchestration.proxies.sockets import SocketServer, serve_app

log = structlog.get_logger(__name__)

SOCKET_NAME = "model.sock"
CLOSE_GRACE_SECONDS = 1.0  # how long a closing route waits for its connections to wind down


@dataclass(frozen=True)
class ProxyRoute:
    """Where one task's sandbox reaches the model, and the token it must present."""

    task_id: str
    token: str = field(repr=False)
    socket_dir: Path
    socket_path: Path


@dataclass
class _Task:
    """What the proxy keeps for one open route: its token, its budget, what it has spent and
    what its requests in flight have reserved (see budget.py)."""

    public: ProxyRoute
    budget_usd: float
    usage: TaskUsage = field(default_factory=TaskUsage)
    reserved_usd: float = 0.0
    bytes_per_token: float | None = None  # the fewest seen in this task's answers

    @property
    def remaining_usd(self) -> float:
        return self.budget_usd - self.usage.cost_usd - self.reserved_usd


def _same_secret(presented: str | None, expected: str) -> bool:
    """Compare a presented credential with the expected one in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


class ModelProxy:
    """Serves one unix socket per task and forwards each task's model calls upstream."""

    def __init__(
        self,
        *,
        upstream_url: str,
        api_key: str | None,
        socket_root: Path,
        pricing: Mapping[str, ModelPricing] = DEFAULT_PRICING,
        extra_upstream_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the settings; nothing listens and no session exists until routes are opened."""
        if not pricing:
            raise ValueError("the pricing table is empty")
        self._relay = Relay(
            upstream_url=upstream_url, api_key=api_key, extra_headers=extra_upstream_headers or {}
        )
        self._pricing = dict(pricing)
        self._routes: RouteRegistry[_Task] = RouteRegistry(
            proxy="model", socket_root=socket_root, socket_name=SOCKET_NAME, listen=self._listen
        )

    def __repr__(self) -> str:
        """Describe the proxy without its credential."""
        key = "set" if self._relay.has_key else "none"
        upstream = str(self._relay.upstream)
        return f"ModelProxy(upstream_url={upstream!r}, api_key={key}, routes={len(self._routes)})"

    async def start(self) -> None:
        """Open the one upstream HTTP session; routes listen only once opened."""
        await self._relay.start()
        self._routes.start()

    async def stop(self) -> None:
        """Close every route (their sockets stay for the next worker), then the session."""
        await self._routes.stop()
        await self._relay.close()

    async def open_route(self, task_id: str, *, budget_usd: float) -> ProxyRoute:
        """Listen on the task's socket; the same task gets the same route (budget updated)."""
        route = await self._routes.open(task_id, functools.partial(_new_task, task_id, budget_usd))
        route.state.budget_usd = budget_usd
        return route.state.public

    async def open_allowance(self, task_id: str, allowance_usd: float) -> tuple[ProxyRoute, float]:
        """Open the task's route for one agent run that may spend `allowance_usd` more, on top
        of whatever the route has spent already; returns the route and that spend so far."""
        route = await self._routes.open(task_id, functools.partial(_new_task, task_id, 0.0))
        spent = route.state.usage.cost_usd
        route.state.budget_usd = spent + max(allowance_usd, 0.0)
        return route.state.public, spent

    async def close_route(self, task_id: str) -> TaskUsage | None:
        """Stop listening, cut in-flight requests, remove the socket and its directory."""
        route = await self._routes.close(task_id)
        if route is None:
            return None
        log.info("model route closed", task_id=task_id, cost_usd=route.state.usage.cost_usd)
        return route.state.usage.model_copy()

    def usage(self, task_id: str) -> TaskUsage | None:
        """A snapshot of an open route's usage."""
        route = self._routes.get(task_id)
        return None if route is None else route.state.usage.model_copy()

    def in_flight_usd(self, task_id: str) -> float:
        """What an open route's requests in flight have reserved and not yet settled."""
        route = self._routes.get(task_id)
        return 0.0 if route is None else route.state.reserved_usd

    def route(self, task_id: str) -> ProxyRoute | None:
        """The open route of a task."""
        route = self._routes.get(task_id)
        return None if route is None else route.state.public

    async def _listen(self, route: Route[_Task]) -> SocketServer:
        """Serve the route's socket over HTTP."""
        handler = functools.partial(self._serve, route)
        return await serve_app(route.socket_path, handler, grace=CLOSE_GRACE_SECONDS)

    async def _serve(self, route: Route[_Task], request: web.Request) -> web.StreamResponse:
        """Serve one request on a route, tracked so that closing the route can cut it."""
        with route.serving():
            return await self._handle(route, request)

    async def _handle(self, route: Route[_Task], request: web.Request) -> web.StreamResponse:
        """Check the token and the budget, then forward the request."""
        task = route.state
        if not _same_secret(anthropic.presented_token(request.headers), task.public.token):
            return anthropic.invalid_token()
        if route.closed:
            return anthropic.task_ended()
        if not anthropic.allowed_endpoint(request.method, request.rel_url.raw_path):
            return anthropic.endpoint_refused()
        body = await read_body(request)
        if body is None:
            return anthropic.body_too_large()
        checked = _checked(request, body)
        if isinstance(checked, request_policy.Refusal):
            task.usage.refused += 1
            log.info("model request refused", task_id=route.task_id, reason=checked.message)
            return anthropic.request_refused(
                checked.message, fewer_betas_may_pass=checked.retry_with_fewer_betas
            )
        planned = self._plan(task, request, checked, body)
        if planned is None:
            task.usage.refused += 1
            log.info("model request refused: budget spent", task_id=route.task_id)
            return anthropic.budget_spent(task.budget_usd)
        if not self._relay.started:
            return anthropic.stopping()
        lowered = planned.max_tokens
        if checked is not None and lowered is not None and lowered != checked.get("max_tokens"):
            body = json.dumps(budget.with_max_tokens(checked, lowered)).encode()
        return await self._forward(task, request, body, planned.reserve_usd)

    def _plan(
        self, task: _Task, request: web.Request, parsed: dict[str, Any] | None, body: bytes
    ) -> budget.Plan | None:
        """The request's reservation: nothing for free endpoints (token counting, the model
        list) while budget remains; a Messages request's worst case, or None if it cannot fit."""
        if task.remaining_usd <= 0:
            return None
        if parsed is None or not request.rel_url.path.endswith("/messages"):
            return budget.Plan(reserve_usd=0.0, max_tokens=None)
        return budget.plan(
            parsed,
            len(body),
            remaining_usd=task.remaining_usd,
            pricing=pricing_for(parsed.get("model"), self._pricing),
            bytes_per_token=task.bytes_per_token or budget.MIN_BYTES_PER_TOKEN,
            one_hour_cache=budget.asks_one_hour_cache(body),
        )

    async def _forward(
        self, task: _Task, request: web.Request, body: bytes, reserve_usd: float
    ) -> web.StreamResponse:
        """Hold the reservation while the request is out; settle it from the answer."""
        task.usage.requests += 1
        task.reserved_usd += reserve_usd
        account = functools.partial(self._settle, task, reserve_usd, len(body))
        try:
            return await self._relay.forward(request, body, account)
        finally:
            task.reserved_usd -= reserve_usd

    def _settle(self, task: _Task, reserve_usd: float, size: int, answer: Answer) -> None:
        """Charge an answer: its reported usage when it ended properly (an error answer
        included); at least the whole reservation when it was cut short, since the provider
        may have generated up to its limit."""
        before = task.usage.cost_usd
        task.usage.add(answer.usage, pricing_for(answer.model, self._pricing))
        if answer.status == 200 and not answer.final:
            task.usage.cost_usd = max(task.usage.cost_usd, before + reserve_usd)
            task.usage.cut_short += 1
            return
        tokens = budget.prompt_tokens(answer.usage)
        if tokens:
            seen = size / tokens
            task.bytes_per_token = min(task.bytes_per_token or seen, seen)


def _checked(request: web.Request, body: bytes) -> dict[str, Any] | request_policy.Refusal | None:
    """A POST's body as a checked JSON object (None for other methods), or why the request
    may not reach the provider (see request_policy)."""
    betas = request_policy.beta_refusal(request.headers.getall("anthropic-beta", []))
    if betas is not None or request.method != "POST":
        return betas
    parsed = request_policy.read_request(body)
    if isinstance(parsed, request_policy.Refusal):
        return parsed
    return request_policy.body_refusal(request.rel_url.path, parsed) or parsed


def _new_task(task_id: str, budget_usd: float, socket_path: Path) -> _Task:
    """A route's state with a fresh token: a reopened task never accepts an old one."""
    token = "sk-fixbot-" + secrets.token_urlsafe(32)
    return _Task(ProxyRoute(task_id, token, socket_path.parent, socket_path), budget_usd)
