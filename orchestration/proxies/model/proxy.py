"""A per-task model API proxy: the sandbox's claude holds a task token, never the real key.

Each task gets its own unix socket in its own directory, bind-mounted into that task's container
only. The proxy checks the task token, swaps in the real credential, forwards the request to the
real upstream, streams the answer back unchanged, counts tokens and cost per task, and refuses
once the task's budget is spent. Nothing listens until a route is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict
from pydantic import BaseModel, SecretStr
from yarl import URL

from orchestration.proxies.routes import (
    HOP_BY_HOP,
    SOCKET_MODE,
    check_task_id,
    prepare_dir,
    remove_socket,
    socket_path_for,
)

log = structlog.get_logger(__name__)

SOCKET_NAME = "model.sock"
HEADER_VALUE = re.compile(r"[\x21-\x7e]+")  # visible ASCII, as an API key is
CLOSE_GRACE_SECONDS = 1.0  # how long a closing route waits for its connections to wind down
CONNECT_TIMEOUT_SECONDS = 30.0
MAX_BODY_KEPT = 32 * 1024 * 1024  # Anthropic's request size limit; bigger bodies are not kept
MAX_JSON_KEPT = 16 * 1024 * 1024
WEB_SEARCH_USD = 0.01  # $10 per 1,000 server-side web searches
ONE_HOUR_WRITE_FACTOR = 2.0  # 1-hour cache writes cost twice the base input price
US_ONLY_FACTOR = 1.1  # inference pinned to the US (usage.inference_geo == "us") costs 10% more
# Measured with Claude Code 2.1.330: a 402 billing_error is sent once and not retried; claude
# exits 1 with a result line "API Error: 402 <message>" (api_error_status 402). A 400
# invalid_request_error makes it resend the request up to five more times with fewer betas, and a
# 403 is reported as "Failed to authenticate"; 408, 409, 429, 5xx and 529 are retried.
BUDGET_SPENT_STATUS = 402
BUDGET_SPENT_TYPE = "billing_error"

REQUEST_DROPPED = HOP_BY_HOP | {
    "host",
    "x-api-key",
    "authorization",
    "content-length",
    "accept-encoding",
    "expect",
}
RESPONSE_DROPPED = HOP_BY_HOP
DECODED_DROPPED = frozenset({"content-encoding", "content-length"})
SKIP_AUTO_HEADERS = frozenset({"User-Agent", "Accept", "Content-Type"})


class ModelPricing(BaseModel):
    """USD per million tokens of one model family."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float
    cache_write_per_mtok: float


def _price(inp: float, out: float, read: float, write: float) -> ModelPricing:
    """Build a pricing entry from its four figures."""
    return ModelPricing(
        input_per_mtok=inp,
        output_per_mtok=out,
        cache_read_per_mtok=read,
        cache_write_per_mtok=write,
    )


# Keyed by model-name prefix; the longest matching prefix wins. Figures: Anthropic's list prices
# in USD per million tokens as baked into Claude Code 2.1.330's model catalog (November 2026),
# which match platform.claude.com/docs/en/about-claude/pricing as of October 2026 (including the
# Sonnet 5.5 cache-read cut of 2026-10-07); Claude 3 Opus and Haiku from that page's older rows.
# Cache writes are the 5-minute price; 1-hour writes are charged at twice the input price when
# the answer says so. Haiku 5.5 always uses its dearer band (prompts over 100K tokens). Not
# modelled: fast mode, the Sonnet 4/4.5 long-context premium, batch discounts. A model that
# matches no prefix is charged at the dearest entry, so an unknown model errs on the safe side.
DEFAULT_PRICING: dict[str, ModelPricing] = {
    "claude-fable-5": _price(10.0, 50.0, 1.0, 12.5),
    "claude-fable-5-1": _price(10.0, 50.0, 0.25, 12.5),
    "claude-fable-5-2": _price(8.0, 40.0, 0.2, 10.0),
    "claude-mythos-5": _price(10.0, 50.0, 1.0, 12.5),
    "claude-mythos-5-1": _price(10.0, 50.0, 0.25, 12.5),
    "claude-mythos-5-2": _price(8.0, 40.0, 0.2, 10.0),
    "claude-opus-5": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-5-5": _price(4.0, 20.0, 0.2, 5.0),
    "claude-opus-4": _price(15.0, 75.0, 1.5, 18.75),  # Opus 4 and 4.1
    "claude-opus-4-5": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-6": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-7": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-8": _price(5.0, 25.0, 0.5, 6.25),
    "claude-3-opus": _price(15.0, 75.0, 1.5, 18.75),
    "claude-sonnet-5": _price(2.0, 10.0, 0.2, 2.5),
    "claude-sonnet-5-5": _price(2.0, 10.0, 0.1, 2.5),
    "claude-sonnet-4": _price(3.0, 15.0, 0.3, 3.75),  # Sonnet 4, 4.5 and 4.6
    "claude-3-7-sonnet": _price(3.0, 15.0, 0.3, 3.75),
    "claude-3-5-sonnet": _price(3.0, 15.0, 0.3, 3.75),
    "claude-haiku-5-5": _price(0.5, 2.5, 0.05, 0.625),
    "claude-haiku-4-5": _price(1.0, 5.0, 0.1, 1.25),
    "claude-3-5-haiku": _price(0.8, 4.0, 0.08, 1.0),
    "claude-3-haiku": _price(0.25, 1.25, 0.03, 0.3),
}


class TaskUsage(BaseModel):
    """What one task's model traffic used so far."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0
    refused: int = 0


@dataclass(frozen=True)
class ProxyRoute:
    """Where one task's sandbox reaches the model, and the token it must present."""

    task_id: str
    token: str = field(repr=False)
    socket_dir: Path
    socket_path: Path


@dataclass
class _Route:
    """A route's mutable state inside the proxy."""

    public: ProxyRoute
    budget_usd: float
    usage: TaskUsage = field(default_factory=TaskUsage)
    runner: web.AppRunner | None = None
    closed: bool = False
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)


def pricing_for(model: str | None, table: Mapping[str, ModelPricing]) -> ModelPricing:
    """The entry with the longest prefix of ``model``, else the dearest one in the table."""
    matches = [prefix for prefix in table if model and model.startswith(prefix)]
    if matches:
        return table[max(matches, key=len)]
    return max(table.values(), key=_dearness)


def _dearness(pricing: ModelPricing) -> tuple[float, float, float, float]:
    """Sort key putting the most expensive pricing last."""
    return (
        pricing.output_per_mtok,
        pricing.input_per_mtok,
        pricing.cache_write_per_mtok,
        pricing.cache_read_per_mtok,
    )


def _count(usage: Mapping[str, Any], key: str) -> int:
    """A non-negative token count from a usage record (0 when absent or not a number)."""
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def _one_hour_writes(usage: Mapping[str, Any]) -> int:
    """Cache-creation tokens the answer attributes to the 1-hour cache."""
    detail = usage.get("cache_creation")
    return _count(detail, "ephemeral_1h_input_tokens") if isinstance(detail, dict) else 0


def _web_searches(usage: Mapping[str, Any]) -> int:
    """Server-side web searches the answer reports."""
    detail = usage.get("server_tool_use")
    return _count(detail, "web_search_requests") if isinstance(detail, dict) else 0


def usage_cost(usage: Mapping[str, Any], pricing: ModelPricing) -> float:
    """The USD cost of one answer's usage record."""
    writes = _count(usage, "cache_creation_input_tokens")
    hour = min(writes, _one_hour_writes(usage))
    hour_price = max(pricing.cache_write_per_mtok, ONE_HOUR_WRITE_FACTOR * pricing.input_per_mtok)
    per_mtok = (
        _count(usage, "input_tokens") * pricing.input_per_mtok
        + _count(usage, "output_tokens") * pricing.output_per_mtok
        + _count(usage, "cache_read_input_tokens") * pricing.cache_read_per_mtok
        + (writes - hour) * pricing.cache_write_per_mtok
        + hour * hour_price
    )
    geo = US_ONLY_FACTOR if usage.get("inference_geo") == "us" else 1.0
    return per_mtok * geo / 1_000_000 + _web_searches(usage) * WEB_SEARCH_USD


def dollars(amount: float) -> str:
    """Format an amount as ``$1.50`` or, below a cent, with up to four decimals."""
    whole, _, frac = f"{amount:.4f}".partition(".")
    return f"${whole}.{frac.rstrip('0').ljust(2, '0')}"


def anthropic_error(
    status: int, kind: str, message: str, *, retry: bool | None = None
) -> web.Response:
    """An error response in Anthropic's format, optionally telling clients whether to retry."""
    headers = {} if retry is None else {"x-should-retry": "true" if retry else "false"}
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The credential a request carries, as ``x-api-key`` or ``Authorization: Bearer``."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _same_secret(presented: str | None, expected: str) -> bool:
    """Compare a presented credential with the expected one in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _connection_tokens(headers: Mapping[str, str]) -> set[str]:
    """Header names a ``Connection`` header marks as hop-by-hop."""
    listed = headers.get("Connection", "")
    return {name.strip().lower() for name in listed.split(",") if name.strip()}


def _partial_suffix(data: bytes, secret: bytes) -> int:
    """Length of the longest tail of ``data`` that is a proper prefix of ``secret``."""
    start = data.find(secret[:1], max(0, len(data) - len(secret) + 1))
    while start != -1:
        if secret.startswith(data[start:]):
            return len(data) - start
        start = data.find(secret[:1], start + 1)
    return 0


class _Redactor:
    """Masks a secret in a byte stream, even split across chunks, keeping the length."""

    def __init__(self, secret: bytes) -> None:
        """Remember the secret; an empty one disables masking."""
        self._secret = secret
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Return the bytes safe to send now; hold back a tail that may start the secret."""
        if not self._secret:
            return chunk
        data = (self._held + chunk).replace(self._secret, b"*" * len(self._secret))
        keep = _partial_suffix(data, self._secret)
        self._held = data[len(data) - keep :]
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        """Return whatever is still held at the end of the stream."""
        held, self._held = self._held, b""
        return held


class _UsageMeter:
    """Reads the model and token usage from an answer as it streams past."""

    def __init__(self, content_type: str) -> None:
        """Pick the parser by the answer's content type."""
        self.model: str | None = None
        self.usage: dict[str, Any] = {}
        kind = content_type.lower()
        self._sse = kind.startswith("text/event-stream")
        self._json = kind.startswith("application/json")
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the answer."""
        if self._sse:
            self._buffer += chunk
            self._drain_events()
            if len(self._buffer) > MAX_JSON_KEPT:  # no event is this big: give up on this one
                self._buffer.clear()
        elif self._json and len(self._buffer) + len(chunk) <= MAX_JSON_KEPT:
            self._buffer += chunk
        else:
            self._json = False
            self._buffer.clear()

    def finish(self) -> None:
        """Read a complete JSON answer's usage once the body has ended."""
        if self._json and self._buffer:
            with contextlib.suppress(ValueError):
                self._take_message(json.loads(self._buffer))
        self._buffer.clear()

    def _drain_events(self) -> None:
        """Parse every complete server-sent event in the buffer."""
        while (match := re.search(rb"\r\n\r\n|\n\n|\r\r", self._buffer)) is not None:
            block = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            if b'"message_start"' in block or b'"message_delta"' in block:
                self._take_event(block)

    def _take_event(self, block: bytes) -> None:
        """Apply a ``message_start`` or ``message_delta`` event."""
        lines = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        data = b"\n".join(line[5:].lstrip(b" ") for line in lines if line.startswith(b"data:"))
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if event.get("type") == "message_start":
            self._take_message(event.get("message"))
        elif event.get("type") == "message_delta":
            self._merge(event.get("usage"))

    def _take_message(self, message: Any) -> None:
        """Take the model and usage of a whole message object."""
        if not isinstance(message, dict):
            return
        if isinstance(message.get("model"), str):
            self.model = message["model"]
        self._merge(message.get("usage"))

    def _merge(self, usage: Any) -> None:
        """Overlay a usage record: the counts in later events are cumulative."""
        if isinstance(usage, dict):
            self.usage.update({k: v for k, v in usage.items() if v is not None})


class _BodyTee:
    """Streams a request body upstream while keeping a copy to read its model afterwards."""

    def __init__(self, request: web.Request) -> None:
        """Wrap the incoming request's body stream."""
        self._request = request
        self._chunks: list[bytes] = []
        self._size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the body chunk by chunk as it arrives."""
        async for chunk in self._request.content.iter_any():
            self._keep(chunk)
            yield chunk

    def _keep(self, chunk: bytes) -> None:
        """Keep a chunk unless the body has grown past the size worth keeping."""
        self._size += len(chunk)
        if self._size <= MAX_BODY_KEPT:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    def model(self) -> str | None:
        """The request body's ``model``, when it was a JSON object small enough to keep."""
        try:
            body = json.loads(b"".join(self._chunks))
        except ValueError:
            return None
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None


def allowed_endpoint(method: str, path: str) -> bool:
    """What an agent may use the real key for: messages (whose cost the proxy counts), token
    counting and the model list. Not batches, files or anything else billed out of sight."""
    # the raw path as sent: anything an upstream could normalise into another endpoint
    # (dot segments, percent-encoding, doubled slashes) is refused, not decoded
    if "%" in path or "//" in path or any(part in (".", "..") for part in path.split("/")):
        return False
    if method == "POST":
        return path in ("/v1/messages", "/v1/messages/count_tokens")
    if method in ("GET", "HEAD"):
        return path == "/" or path == "/v1/models" or path.startswith("/v1/models/")
    return False


def upstream_target(base: URL, target: URL) -> URL:
    """The base URL's scheme and host with the request's path and query appended, verbatim.

    Built from parts so that no request target (absolute-form, ``//host``) can change the host
    that receives the real key.
    """
    path = base.raw_path.rstrip("/") + "/" + target.raw_path.lstrip("/")
    return URL.build(
        scheme=base.scheme,
        authority=base.raw_authority,
        path=path,
        query_string=target.raw_query_string,
        encoded=True,
    )


def _cut(request: web.Request) -> None:
    """Abort the client's connection so a broken upstream answer does not look complete."""
    if request.transport is not None:
        request.transport.abort()


async def _send(response: web.StreamResponse, data: bytes) -> None:
    """Write a non-empty piece of the answer to the client."""
    if data:
        await response.write(data)


def _finish_upstream(upstream: aiohttp.ClientResponse, complete: bool) -> None:
    """Pool the upstream connection after a whole answer; close it after a broken one."""
    if complete:
        upstream.release()
    else:
        upstream.close()


class ModelProxy:
    """Serves one unix socket per task and forwards each task's model calls upstream."""

    def __init__(
        self,
        *,
        upstream_url: str,
        api_key: str | None,
        socket_root: Path,
        pricing: dict[str, ModelPricing] = DEFAULT_PRICING,
        extra_upstream_headers: dict[str, str] | None = None,
    ) -> None:
        """Keep the settings; nothing listens and no session exists until routes are opened."""
        if not pricing:
            raise ValueError("the pricing table is empty")
        self._upstream = URL(upstream_url)
        if not self._upstream.absolute or self._upstream.scheme not in {"http", "https"}:
            raise ValueError("the upstream URL must be an absolute http or https URL")
        if api_key and not HEADER_VALUE.fullmatch(api_key):
            raise ValueError("the API key has characters not allowed in a header")
        self._api_key = SecretStr(api_key) if api_key else None
        self._socket_root = socket_root
        self._pricing = dict(pricing)
        self._extra_headers = dict(extra_upstream_headers or {})
        self._session: aiohttp.ClientSession | None = None
        self._routes: dict[str, _Route] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        """Describe the proxy without its credential."""
        key = "set" if self._api_key else "none"
        routes = len(self._routes)
        return f"ModelProxy(upstream_url={str(self._upstream)!r}, api_key={key}, routes={routes})"

    async def start(self) -> None:
        """Open the one upstream HTTP session; routes listen only once opened."""
        if self._session is not None:
            return
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_SECONDS)
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=True,
            skip_auto_headers=SKIP_AUTO_HEADERS,
        )

    async def stop(self) -> None:
        """Close every route, then the upstream session. Sockets and task directories stay:
        running sandboxes have them mounted, and the next worker serves the same paths."""
        for task_id in list(self._routes):
            route = self._routes.pop(task_id)
            await self._shut(route, keep_socket=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open_route(self, task_id: str, *, budget_usd: float) -> ProxyRoute:
        """Listen on the task's socket; the same task gets the same route (budget updated)."""
        check_task_id(task_id)
        if self._session is None:
            raise RuntimeError("the model proxy is not started")
        async with self._lock:
            existing = self._routes.get(task_id)
            if existing is not None:
                existing.budget_usd = budget_usd
                return existing.public
            route = _Route(public=self._new_route(task_id), budget_usd=budget_usd)
            await self._listen(route)
            self._routes[task_id] = route
        log.info("model route opened", task_id=task_id, socket=str(route.public.socket_path))
        return route.public

    async def close_route(self, task_id: str) -> TaskUsage | None:
        """Stop listening, cut in-flight requests, remove the socket and its directory."""
        async with self._lock:
            route = self._routes.pop(task_id, None)
            if route is None:
                return None
            await self._shut(route)
        log.info("model route closed", task_id=task_id, cost_usd=route.usage.cost_usd)
        return route.usage.model_copy()

    def usage(self, task_id: str) -> TaskUsage | None:
        """A snapshot of an open route's usage."""
        route = self._routes.get(task_id)
        return None if route is None else route.usage.model_copy()

    def route(self, task_id: str) -> ProxyRoute | None:
        """The open route of a task."""
        route = self._routes.get(task_id)
        return None if route is None else route.public

    def _new_route(self, task_id: str) -> ProxyRoute:
        """Choose the paths and a fresh token for a task's route."""
        socket_path = socket_path_for(self._socket_root, task_id, SOCKET_NAME)
        token = "sk-fixbot-" + secrets.token_urlsafe(32)
        return ProxyRoute(task_id, token, socket_path.parent, socket_path)

    async def _listen(self, route: _Route) -> None:
        """Start the route's aiohttp server on its unix socket, reachable by any local user."""
        socket_dir, socket_path = route.public.socket_dir, route.public.socket_path
        prepare_dir(socket_dir, socket_path)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", functools.partial(self._serve, route))
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=CLOSE_GRACE_SECONDS,
            handler_cancellation=True,
            auto_decompress=False,
        )
        await runner.setup()
        try:
            await web.UnixSite(runner, str(socket_path)).start()
            socket_path.chmod(SOCKET_MODE)
        except BaseException:
            await runner.cleanup()
            remove_socket(socket_dir / SOCKET_NAME)
            raise
        route.runner = runner

    async def _shut(self, route: _Route, *, keep_socket: bool = False) -> None:
        """Refuse further requests, cut those in flight, stop the server, remove the socket."""
        route.closed = True
        for task in list(route.in_flight):
            task.cancel()  # the task has ended: its model calls are of no use any more
        try:
            if route.runner is not None:
                await route.runner.cleanup()
        finally:
            if not keep_socket:
                remove_socket(route.public.socket_path)

    async def _serve(self, route: _Route, request: web.Request) -> web.StreamResponse:
        """Serve one request on a route, tracked so that closing the route can cut it."""
        task = asyncio.current_task()
        if task is None:
            return await self._handle(route, request)
        route.in_flight.add(task)
        try:
            return await self._handle(route, request)
        finally:
            route.in_flight.discard(task)

    async def _handle(self, route: _Route, request: web.Request) -> web.StreamResponse:
        """Check the token and the budget, then forward the request."""
        if not _same_secret(presented_token(request.headers), route.public.token):
            return anthropic_error(
                401, "authentication_error", "fixbot: invalid task token", retry=False
            )
        if route.closed:
            return anthropic_error(
                403, "permission_error", "fixbot: the task has ended", retry=False
            )
        if not allowed_endpoint(request.method, request.rel_url.raw_path):
            return anthropic_error(
                403,
                "permission_error",
                "fixbot: only the Messages API is reachable through this proxy",
                retry=False,
            )
        if route.usage.cost_usd >= route.budget_usd:
            route.usage.refused += 1
            message = f"fixbot: the task's model budget of {dollars(route.budget_usd)} is spent"
            log.info("model request refused: budget spent", task_id=route.public.task_id)
            return anthropic_error(BUDGET_SPENT_STATUS, BUDGET_SPENT_TYPE, message, retry=False)
        return await self._forward(route, request)

    async def _forward(self, route: _Route, request: web.Request) -> web.StreamResponse:
        """Send the request upstream and relay the answer, counting its usage."""
        session = self._session
        if session is None:
            return anthropic_error(503, "api_error", "fixbot: the model proxy is stopping")
        route.usage.requests += 1
        tee = _BodyTee(request)
        try:
            upstream = await session.request(
                request.method,
                upstream_target(self._upstream, request.rel_url),
                headers=self._upstream_headers(request),
                data=tee.chunks() if request.body_exists else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("model upstream unreachable", error=type(exc).__name__)
            message = f"fixbot: the model API could not be reached ({type(exc).__name__})"
            return anthropic_error(502, "api_error", message)
        meter = _UsageMeter(upstream.headers.get("Content-Type", ""))
        try:
            return await self._relay(request, upstream, meter)
        finally:
            self._account(route, meter, tee)

    def _upstream_headers(self, request: web.Request) -> CIMultiDict[str]:
        """The request's end-to-end headers with the real credential in place of the token."""
        dropped = REQUEST_DROPPED | _connection_tokens(request.headers)
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in dropped
        )
        headers["Accept-Encoding"] = "identity"
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        headers.update(self._extra_headers)
        if self._api_key is not None:
            headers["x-api-key"] = self._api_key.get_secret_value()
        return headers

    def _response_headers(self, upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
        """The answer's end-to-end headers; length and encoding go if the body was decoded."""
        dropped = RESPONSE_DROPPED | _connection_tokens(upstream.headers)
        if upstream.headers.get("Content-Encoding", "identity").lower() != "identity":
            dropped |= DECODED_DROPPED
        secret = self._api_key.get_secret_value() if self._api_key else None
        return CIMultiDict(
            (k, v)
            for k, v in upstream.headers.items()
            if k.lower() not in dropped and not (secret and secret in v)
        )

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse, meter: _UsageMeter
    ) -> web.StreamResponse:
        """Stream the upstream answer to the client chunk by chunk."""
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=self._response_headers(upstream)
        )
        secret = self._api_key.get_secret_value().encode() if self._api_key else b""
        redactor = _Redactor(secret)
        complete = False
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                meter.feed(chunk)
                await _send(response, redactor.feed(chunk))
            await _send(response, redactor.flush())
            meter.finish()
            complete = True
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("model answer cut short", error=type(exc).__name__)
            _cut(request)
        finally:
            _finish_upstream(upstream, complete)
        return response

    def _account(self, route: _Route, meter: _UsageMeter, tee: _BodyTee) -> None:
        """Add one answer's tokens and cost to the task's usage."""
        if not meter.usage:
            return
        usage = route.usage
        pricing = pricing_for(meter.model or tee.model(), self._pricing)
        usage.input_tokens += _count(meter.usage, "input_tokens")
        usage.output_tokens += _count(meter.usage, "output_tokens")
        usage.cache_read_input_tokens += _count(meter.usage, "cache_read_input_tokens")
        usage.cache_creation_input_tokens += _count(meter.usage, "cache_creation_input_tokens")
        usage.cost_usd += usage_cost(meter.usage, pricing)
