"""Forwards one request from a sandbox to the model API and streams the answer back.

The request leaves with the real key in place of the task token and without the headers of the
sandbox's own connection; it goes to the configured host whatever its target says. The answer
comes back chunk by chunk as it arrives (claude streams), unchanged but for the key masked
wherever an upstream echoes it, and its usage is read on the way for the task's bill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict
from pydantic import SecretStr
from yarl import URL

from orchestration.proxies.headers import HOP_BY_HOP, connection_listed
from orchestration.proxies.model.providers import anthropic
from orchestration.proxies.model.redaction import Redactor

log = structlog.get_logger(__name__)

HEADER_VALUE = re.compile(r"[\x21-\x7e]+")  # visible ASCII, as an API key is
CONNECT_TIMEOUT_SECONDS = 30.0
MAX_BODY_BYTES = 32 * 1024 * 1024  # Anthropic's request size limit
REQUEST_DROPPED = (
    HOP_BY_HOP
    | anthropic.CREDENTIAL_HEADERS
    | {"host", "content-length", "accept-encoding", "expect"}
)
RESPONSE_DROPPED = HOP_BY_HOP
DECODED_DROPPED = frozenset({"content-encoding", "content-length"})
SKIP_AUTO_HEADERS = frozenset({"User-Agent", "Accept", "Content-Type"})


@dataclass(frozen=True)
class Answer:
    """What came back for one request: its status, the model and usage it reported, and
    whether its last usage arrived (False for an answer cut short)."""

    status: int
    model: str | None
    usage: Mapping[str, Any]
    final: bool


# called exactly once for every request that reached the upstream and got an answer
Account = Callable[[Answer], None]


async def read_body(request: web.Request) -> bytes | None:
    """The whole request body, or None when it is larger than the provider accepts (read in
    chunks, never more than that limit held)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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


class Relay:
    """The one upstream HTTP session, and how a request crosses it and its answer returns."""

    def __init__(
        self, *, upstream_url: str, api_key: str | None, extra_headers: Mapping[str, str]
    ) -> None:
        """Check the settings; no session exists until `start`."""
        self.upstream = URL(upstream_url)
        if not self.upstream.absolute or self.upstream.scheme not in {"http", "https"}:
            raise ValueError("the upstream URL must be an absolute http or https URL")
        if api_key and not HEADER_VALUE.fullmatch(api_key):
            raise ValueError("the API key has characters not allowed in a header")
        self._api_key = SecretStr(api_key) if api_key else None
        self._extra_headers = dict(extra_headers)
        self._session: aiohttp.ClientSession | None = None

    @property
    def has_key(self) -> bool:
        """Whether a real key is sent upstream (without one, the upstream needs none)."""
        return self._api_key is not None

    @property
    def started(self) -> bool:
        """Whether the session is open."""
        return self._session is not None

    async def start(self) -> None:
        """Open the upstream session, pooling connections across every task's requests."""
        if self._session is not None:
            return
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_SECONDS)
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=True,
            skip_auto_headers=SKIP_AUTO_HEADERS,
        )

    async def close(self) -> None:
        """Close the upstream session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(
        self, request: web.Request, body: bytes, account: Account
    ) -> web.StreamResponse:
        """Send the request (with its body, already read and checked) upstream and relay the
        answer, reporting its usage to ``account`` even when the answer is cut short (the
        tokens were spent)."""
        if self._session is None:
            raise RuntimeError("the relay is not started")
        try:
            upstream = await self._session.request(
                request.method,
                anthropic.upstream_target(self.upstream, request.rel_url),
                headers=self._upstream_headers(request, len(body)),
                data=body if body else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("model upstream unreachable", error=type(exc).__name__)
            return anthropic.unreachable(exc)
        meter = anthropic.UsageMeter(upstream.headers.get("Content-Type", ""))
        try:
            return await self._stream(request, upstream, meter)
        finally:
            model = meter.model or anthropic.request_model(body)
            account(Answer(upstream.status, model, dict(meter.usage), meter.final))

    def _upstream_headers(self, request: web.Request, body_size: int) -> CIMultiDict[str]:
        """The request's end-to-end headers with the real credential in place of the token."""
        dropped = REQUEST_DROPPED | connection_listed([request.headers.get("Connection", "")])
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in dropped
        )
        headers["Accept-Encoding"] = "identity"
        if body_size:
            headers["Content-Length"] = str(body_size)
        headers.update(self._extra_headers)
        if self._api_key is not None:
            headers.update(anthropic.credential(self._api_key.get_secret_value()))
        return headers

    def _response_headers(self, upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
        """The answer's end-to-end headers; length and encoding go if the body was decoded."""
        dropped = RESPONSE_DROPPED | connection_listed([upstream.headers.get("Connection", "")])
        if upstream.headers.get("Content-Encoding", "identity").lower() != "identity":
            dropped |= DECODED_DROPPED
        secret = self._api_key.get_secret_value() if self._api_key else None
        return CIMultiDict(
            (k, v)
            for k, v in upstream.headers.items()
            if k.lower() not in dropped and not (secret and secret in v)
        )

    async def _stream(
        self, request: web.Request, upstream: aiohttp.ClientResponse, meter: anthropic.UsageMeter
    ) -> web.StreamResponse:
        """Stream the upstream answer to the client chunk by chunk."""
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=self._response_headers(upstream)
        )
        secret = self._api_key.get_secret_value().encode() if self._api_key else b""
        redactor = Redactor(secret)
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
