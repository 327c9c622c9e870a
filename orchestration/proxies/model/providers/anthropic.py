"""Anthropic's wire format as the model proxy needs it: which endpoints an agent may use, where
a request goes, how errors look (so that claude reacts to a refusal as intended), where the
credential travels, and how an answer reports its model and token usage.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from yarl import URL

from orchestration.proxies.model.pricing import dollars

MAX_JSON_KEPT = 16 * 1024 * 1024
API_KEY_HEADER = "x-api-key"
CREDENTIAL_HEADERS = frozenset({API_KEY_HEADER, "authorization"})  # never forwarded as sent
# Measured with Claude Code 2.1.330: a 402 billing_error is sent once and not retried; claude
# exits 1 with a result line "API Error: 402 <message>" (api_error_status 402). A 400
# invalid_request_error makes it resend the request up to five more times with fewer betas, and a
# 403 is reported as "Failed to authenticate"; 408, 409, 429, 5xx and 529 are retried.
BUDGET_SPENT_STATUS = 402
BUDGET_SPENT_TYPE = "billing_error"


def error_response(
    status: int, kind: str, message: str, *, retry: bool | None = None
) -> web.Response:
    """An error response in Anthropic's format, optionally telling clients whether to retry."""
    headers = {} if retry is None else {"x-should-retry": "true" if retry else "false"}
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def invalid_token() -> web.Response:
    """The answer to a request without this route's task token."""
    return error_response(401, "authentication_error", "fixbot: invalid task token", retry=False)


def task_ended() -> web.Response:
    """The answer to a request on a route that is closing."""
    return error_response(403, "permission_error", "fixbot: the task has ended", retry=False)


def endpoint_refused() -> web.Response:
    """The answer to a request for an endpoint `allowed_endpoint` does not allow."""
    message = "fixbot: only the Messages API is reachable through this proxy"
    return error_response(403, "permission_error", message, retry=False)


def request_refused(message: str, *, fewer_betas_may_pass: bool) -> web.Response:
    """The answer to a request asking for more than a coding agent needs. A 400 lets claude
    resend without its optional beta flags; anything else is a 403 it reports as is."""
    if fewer_betas_may_pass:
        return error_response(400, "invalid_request_error", message, retry=False)
    return error_response(403, "permission_error", message, retry=False)


def body_too_large() -> web.Response:
    """The answer to a body over the provider's own size limit."""
    message = "fixbot: the request body is larger than the Messages API accepts"
    return error_response(413, "request_too_large", message, retry=False)


def budget_spent(budget_usd: float) -> web.Response:
    """The answer once the task's budget is spent: an error claude reports and does not retry."""
    message = f"fixbot: the task's model budget of {dollars(budget_usd)} is spent"
    return error_response(BUDGET_SPENT_STATUS, BUDGET_SPENT_TYPE, message, retry=False)


def unreachable(error: BaseException) -> web.Response:
    """The answer when the model API could not be reached; claude may retry it."""
    message = f"fixbot: the model API could not be reached ({type(error).__name__})"
    return error_response(502, "api_error", message)


def stopping() -> web.Response:
    """The answer while the worker's proxy is shutting down; claude may retry it."""
    return error_response(503, "api_error", "fixbot: the model proxy is stopping")


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The credential a request carries, as ``x-api-key`` or ``Authorization: Bearer``."""
    key = headers.get(API_KEY_HEADER)
    if key:
        return key
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def credential(api_key: str) -> dict[str, str]:
    """The header that carries the real key upstream."""
    return {API_KEY_HEADER: api_key}


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


def request_model(body: bytes) -> str | None:
    """The ``model`` a request body names, when it is a JSON object."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    model = parsed.get("model") if isinstance(parsed, dict) else None
    return model if isinstance(model, str) else None


class UsageMeter:
    """Reads the model and token usage from an answer as it streams past."""

    def __init__(self, content_type: str) -> None:
        """Pick the parser by the answer's content type."""
        self.model: str | None = None
        self.usage: dict[str, Any] = {}
        self.final = False  # the answer's last usage arrived: nothing more will be billed
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
                self.final = True
        self._buffer.clear()

    def _drain_events(self) -> None:
        """Parse every complete server-sent event in the buffer."""
        while (match := re.search(rb"\r\n\r\n|\n\n|\r\r", self._buffer)) is not None:
            block = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            if b'"message_start"' in block or b'"message_delta"' in block or b'"error"' in block:
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
            self.final = isinstance(event.get("usage"), dict)
        elif event.get("type") == "error":
            self.final = True  # the provider ended the answer itself: billed as reported

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
