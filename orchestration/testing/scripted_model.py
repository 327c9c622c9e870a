"""A scripted Anthropic Messages API server that drives the real Claude Code CLI offline."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
import uuid
from types import TracebackType
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

DEFAULT_KEY = "default"
END_OF_SCRIPT_TEXT = "The scripted model has nothing more to do."
AUXILIARY_TEXT = "OK"
# Claude Code inserts this assistant message itself (e.g. on --resume after a turn that ended in a
# tool result); it was never played by a script, so it must not advance the step index.
SYNTHETIC_ASSISTANT_TEXTS = frozenset({"No response requested."})
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

Event = tuple[str, dict[str, Any]]


class ScriptStep(BaseModel):
    """What the model does on one turn of the conversation."""

    tool: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    text: str | None = None
    http_status: int | None = Field(default=None, ge=400, le=599)
    drop_connection: bool = False
    fault_attempts: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _does_something(self) -> ScriptStep:
        """Reject a step that neither speaks, calls a tool nor injects a fault."""
        if not (self.tool or self.text or self.http_status or self.drop_connection):
            raise ValueError("a step needs tool, text, http_status or drop_connection")
        return self

    @property
    def has_fault(self) -> bool:
        """Whether this step injects an HTTP error or a dropped connection."""
        return self.http_status is not None or self.drop_connection


class ModelScript(BaseModel):
    """The turns of one conversation, played in order."""

    steps: list[ScriptStep]


def new_id(prefix: str) -> str:
    """Return an Anthropic-style random id such as ``msg_01…``."""
    return f"{prefix}_01{uuid.uuid4().hex[:22]}"


def _content_text(content: Any) -> str:
    """Flatten a message content (string or list of blocks) into plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_content_text(block) for block in content)
    if isinstance(content, dict):
        parts = [content.get("text"), content.get("name"), _content_text(content.get("content"))]
        if "input" in content:
            parts.append(json.dumps(content["input"]))
        return "\n".join(p for p in parts if isinstance(p, str) and p)
    return ""


def request_text(body: dict[str, Any]) -> str:
    """Return the system prompt and all message text of a request, for marker search."""
    parts = [_content_text(body.get("system", ""))]
    parts += [_content_text(m.get("content", "")) for m in body.get("messages", [])]
    return "\n".join(parts)


def is_synthetic(message: dict[str, Any]) -> bool:
    """Tell an assistant message that Claude Code made up itself from one the model sent."""
    text = _content_text(message.get("content", "")).strip()
    return not text or text in SYNTHETIC_ASSISTANT_TEXTS


def assistant_turns(body: dict[str, Any]) -> int:
    """Count the model's assistant messages already in a request: the step index to play."""
    messages = body.get("messages", [])
    return sum(1 for m in messages if m.get("role") == "assistant" and not is_synthetic(m))


def is_agent_request(body: dict[str, Any]) -> bool:
    """Tell the main agent conversation (it offers tools) from auxiliary requests."""
    return bool(body.get("tools"))


def choose_script(
    scripts: dict[str, ModelScript], body: dict[str, Any]
) -> tuple[str, ModelScript] | None:
    """Pick the script whose key appears in the request text (longest wins), else the default."""
    text = request_text(body)
    matches = [key for key in scripts if key != DEFAULT_KEY and key in text]
    key = max(matches, key=len) if matches else DEFAULT_KEY
    return (key, scripts[key]) if key in scripts else None


def step_at(script: ModelScript, index: int) -> ScriptStep:
    """Return the step at ``index``, or a closing text step past the end of the script."""
    if index < len(script.steps):
        return script.steps[index]
    return ScriptStep(text=END_OF_SCRIPT_TEXT)


def content_blocks(step: ScriptStep) -> list[dict[str, Any]]:
    """Build the assistant content blocks (text, then tool_use) for a step."""
    blocks: list[dict[str, Any]] = []
    if step.text:
        blocks.append({"type": "text", "text": step.text})
    if step.tool:
        tool_use = {"type": "tool_use", "id": new_id("toolu"), "name": step.tool}
        blocks.append({**tool_use, "input": step.input})
    return blocks


def estimate_tokens(payload: Any) -> int:
    """Roughly estimate a token count (four characters a token, at least one)."""
    return max(1, len(json.dumps(payload)) // 4)


def stop_reason(blocks: list[dict[str, Any]]) -> str:
    """Return ``tool_use`` when the turn calls a tool, else ``end_turn``."""
    return "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"


def usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
    """Return a nonzero usage record for a request and its answer."""
    return {
        "input_tokens": estimate_tokens(body),
        "output_tokens": estimate_tokens(blocks) + 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message_json(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Build a complete (non-streamed) Messages API response."""
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-scripted"),
        "content": blocks,
        "stop_reason": stop_reason(blocks),
        "stop_sequence": None,
        "usage": usage(body, blocks),
    }


def split_text(text: str, parts: int = 2) -> list[str]:
    """Cut a string into up to ``parts`` non-empty pieces, so deltas arrive in several events."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def block_events(index: int, block: dict[str, Any]) -> list[Event]:
    """Return the start, delta and stop events that stream one content block."""
    if block["type"] == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in split_text(block["text"])]
    else:
        start = {**block, "input": {}}
        raw = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split_text(raw)]
    events: list[Event] = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    return [*events, ("content_block_stop", {"type": "content_block_stop", "index": index})]


def stream_events(body: dict[str, Any], blocks: list[dict[str, Any]]) -> list[Event]:
    """Return the full SSE event sequence of a streamed Messages API response."""
    message = message_json(body, blocks)
    final_usage = message["usage"]
    opening = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {**final_usage, "output_tokens": 1},
    }
    events: list[Event] = [
        ("message_start", {"type": "message_start", "message": opening}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(blocks):
        events += block_events(index, block)
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": final_usage})
    )
    return [*events, ("message_stop", {"type": "message_stop"})]


def sse_bytes(event: Event) -> bytes:
    """Encode one server-sent event."""
    name, data = event
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def error_body(status: int, message: str) -> dict[str, Any]:
    """Build an error payload in Anthropic's format for an HTTP status."""
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_response(status: int, message: str) -> web.Response:
    """Return an Anthropic-format JSON error response."""
    headers = {"request-id": new_id("req"), "x-should-retry": "true" if status >= 500 else "false"}
    return web.json_response(error_body(status, message), status=status, headers=headers)


async def read_json_body(request: web.Request) -> dict[str, Any]:
    """Return a request's JSON object body: {} when empty, wrapped when not an object."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {"_raw": raw.decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"_json": body}


class ScriptedModelServer:
    """Anthropic Messages API stand-in on 127.0.0.1 that plays scripts, in a background thread."""

    def __init__(
        self, scripts: ModelScript | dict[str, ModelScript], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Keep the scripts and address; nothing listens until :meth:`start`."""
        self.scripts = scripts if isinstance(scripts, dict) else {DEFAULT_KEY: scripts}
        self.host = host
        self.port = port
        self.url = ""
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._log: list[dict[str, Any]] = []
        self._fault_counts: dict[tuple[str, int], int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received, in order (a copy; empty dict for a bodiless request)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Every request as method, path, kind (agent/auxiliary/count_tokens/other), body and
        its anthropic-beta header."""
        with self._lock:
            return list(self._log)

    def agent_requests(self) -> list[dict[str, Any]]:
        """The bodies of the main agent conversation requests only."""
        return [e["body"] for e in self.request_log if e["kind"] == "agent"]

    def start(self) -> None:
        """Start listening in a background thread; return once ``url`` is reachable."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="scripted-model", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(sock), self._loop).result(timeout=10)
        except BaseException:
            self.stop()
            sock.close()
            raise

    def stop(self) -> None:
        """Stop serving, end the background thread and close its loop."""
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> ScriptedModelServer:
        """Start the server for a ``with`` block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server at the end of a ``with`` block."""
        self.stop()

    async def _serve(self, sock: socket.socket) -> None:
        """Build the aiohttp app and serve it on the bound socket."""
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _record(self, request: web.Request, kind: str | None = None) -> dict[str, Any]:
        """Parse and record a request; ``kind`` None means agent or auxiliary, by its body."""
        body = await read_json_body(request)
        if kind is None:
            kind = "agent" if is_agent_request(body) else "auxiliary"
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "kind": kind,
            "body": body,
            "betas": request.headers.get("anthropic-beta", ""),
            "received_at": time.time(),
        }
        with self._lock:
            self._requests.append(body)
            self._log.append(entry)
        return entry

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        """Answer ``POST /v1/messages``: play a script step or answer an auxiliary request."""
        entry = await self._record(request)
        body: dict[str, Any] = entry["body"]
        if entry["kind"] != "agent":
            return await self._reply(request, body, content_blocks(ScriptStep(text=AUXILIARY_TEXT)))
        chosen = choose_script(self.scripts, body)
        if chosen is None:
            keys = ", ".join(sorted(self.scripts))
            return error_response(
                400,
                f"no script matches this request (keys: {keys}) and there is no 'default' script",
            )
        key, script = chosen
        index = assistant_turns(body)
        step = step_at(script, index)
        if step.has_fault and self._fault_applies(key, index, step):
            return await self._fault(request, body, step)
        blocks = content_blocks(step) or content_blocks(ScriptStep(text=AUXILIARY_TEXT))
        return await self._reply(request, body, blocks)

    def _fault_applies(self, key: str, index: int, step: ScriptStep) -> bool:
        """Count an attempt at a faulty step; tell whether the fault still fires."""
        with self._lock:
            seen = self._fault_counts.get((key, index), 0)
            self._fault_counts[(key, index)] = seen + 1
        return step.fault_attempts is None or seen < step.fault_attempts

    async def _fault(
        self, request: web.Request, body: dict[str, Any], step: ScriptStep
    ) -> web.StreamResponse:
        """Inject the step's fault: an error status, or a stream cut short."""
        if step.http_status is not None:
            kind = ERROR_TYPES.get(step.http_status, "api_error").replace("_", " ")
            return error_response(step.http_status, f"scripted fault: {kind}")
        return await self._drop(request, body, step)

    async def _reply(
        self, request: web.Request, body: dict[str, Any], blocks: list[dict[str, Any]]
    ) -> web.StreamResponse:
        """Send the blocks as an SSE stream or as one JSON message, as the request asked."""
        if not body.get("stream"):
            return web.json_response(
                message_json(body, blocks), headers={"request-id": new_id("req")}
            )
        response = await self._open_stream(request)
        for event in stream_events(body, blocks):
            await response.write(sse_bytes(event))
        await response.write_eof()
        return response

    async def _open_stream(self, request: web.Request) -> web.StreamResponse:
        """Send the headers of an SSE response."""
        response = web.StreamResponse(
            status=200, headers={**SSE_HEADERS, "request-id": new_id("req")}
        )
        await response.prepare(request)
        return response

    async def _drop(
        self, request: web.Request, body: dict[str, Any], step: ScriptStep
    ) -> web.StreamResponse:
        """Start streaming the step's answer, then abort the TCP connection mid-stream."""
        blocks = content_blocks(step) or content_blocks(ScriptStep(text=AUXILIARY_TEXT))
        response = await self._open_stream(request)
        for event in itertools.islice(stream_events(body, blocks), 4):
            await response.write(sse_bytes(event))
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _count_tokens(self, request: web.Request) -> web.Response:
        """Answer ``POST /v1/messages/count_tokens`` with an estimate."""
        entry = await self._record(request, "count_tokens")
        return web.json_response({"input_tokens": estimate_tokens(entry["body"])})

    async def _other(self, request: web.Request) -> web.Response:
        """Answer any other request (``HEAD /``, probes): 200 with an empty JSON object."""
        await self._record(request, "other")
        return web.json_response({})
