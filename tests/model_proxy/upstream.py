"""A loopback stand-in for the model API that records what it receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

MODEL = "claude-test-1"
START_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 50,
    "cache_read_input_tokens": 1000,
    "output_tokens": 1,
}
FINAL_USAGE = {**START_USAGE, "output_tokens": 20}


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    """Encode one server-sent event the way the Anthropic API does."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def sse_events(text: str = "Hello there") -> list[bytes]:
    """The events of a streamed one-text-block answer with fixed usage."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL}
    opening = {**message, "content": [], "stop_reason": None, "usage": START_USAGE}
    block = {"type": "text", "text": ""}
    delta = {"type": "text_delta", "text": text}
    return [
        sse_event("message_start", {"type": "message_start", "message": opening}),
        sse_event("ping", {"type": "ping"}),
        sse_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
        sse_event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        ),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": FINAL_USAGE["output_tokens"]},
            },
        ),
        sse_event("message_stop", {"type": "message_stop"}),
    ]


SSE_BODY = b"".join(sse_events())


def message_json() -> dict[str, Any]:
    """A complete non-streamed answer with fixed usage."""
    return {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "usage": FINAL_USAGE,
    }


@dataclass(frozen=True)
class Seen:
    """One request as the upstream received it."""

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    body: bytes


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeUpstream:
    """Serves on 127.0.0.1 in the test's loop; ``handler`` answers, ``seen`` records."""

    def __init__(self) -> None:
        """Answer with the fixed SSE stream until a test swaps the handler."""
        self.seen: list[Seen] = []
        self.handler: Handler = stream_answer
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        """Record the request, then let the current handler answer."""
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, request.headers, body))
        return await self.handler(request)


async def stream_answer(request: web.Request) -> web.StreamResponse:
    """Answer with the fixed SSE stream, one event per write."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "request-id": "req_fake"}
    )
    await response.prepare(request)
    for event in sse_events():
        await response.write(event)
    await response.write_eof()
    return response


async def json_answer(request: web.Request) -> web.StreamResponse:
    """Answer with one complete JSON message."""
    return web.json_response(message_json(), headers={"request-id": "req_fake"})


class SlowStream:
    """An SSE answer that stops after its first event until the test releases it."""

    def __init__(self) -> None:
        """Nothing is released or cancelled yet."""
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """Send the first event, wait for the release, then send the rest."""
        events = sse_events()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(events[0])
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        for event in events[1:]:
            await response.write(event)
        await response.write_eof()
        return response
