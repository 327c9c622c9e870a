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
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from orchestration.proxies.model import request_policy
from orchestration.proxies.model.pricing import (
    DEFAULT_PRICING,
    ModelPricing,
    TaskUsage,
    pricing_for,
)
from orchestration.proxies.model.providers import anthropic
from orchestration.proxies.model.relay import Relay, read_body
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
    """What the proxy keeps for one open route: its token, budget and usage so far."""

    public: ProxyRoute
    budget_usd: float
    usage: TaskUsage = field(default_factory=TaskUsage)


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
        refusal = _refusal(request, body)
        if refusal is not None:
            task.usage.refused += 1
            log.info("model request refused", task_id=route.task_id, reason=refusal.message)
            return anthropic.request_refused(
                refusal.message, fewer_betas_may_pass=refusal.retry_with_fewer_betas
            )
        if task.usage.cost_usd >= task.budget_usd:
            task.usage.refused += 1
            log.info("model request refused: budget spent", task_id=route.task_id)
            return anthropic.budget_spent(task.budget_usd)
        if not self._relay.started:
            return anthropic.stopping()
        task.usage.requests += 1
        return await self._relay.forward(request, body, functools.partial(self._account, task))

    def _account(self, task: _Task, model: str | None, usage: Mapping[str, Any]) -> None:
        """Add one answer's tokens and cost to the task's usage."""
        task.usage.add(usage, pricing_for(model, self._pricing))


def _refusal(request: web.Request, body: bytes) -> request_policy.Refusal | None:
    """Why the request may not reach the provider, if it may not (see request_policy)."""
    betas = request_policy.beta_refusal(request.headers.getall("anthropic-beta", []))
    if betas is not None or request.method != "POST":
        return betas
    return request_policy.body_refusal(request.rel_url.path, body)


def _new_task(task_id: str, budget_usd: float, socket_path: Path) -> _Task:
    """A route's state with a fresh token: a reopened task never accepts an old one."""
    token = "sk-fixbot-" + secrets.token_urlsafe(32)
    return _Task(ProxyRoute(task_id, token, socket_path.parent, socket_path), budget_usd)
