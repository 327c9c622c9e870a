"""Tests for the scripted Anthropic Messages API server (no claude binary needed)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from orchestration.testing.scripted_model import (
    END_OF_SCRIPT_TEXT,
    ModelScript,
    ScriptedModelServer,
    ScriptStep,
    assistant_turns,
)

Events = list[tuple[str, dict[str, Any]]]

TOOLS = [{"name": "Read", "description": "read a file", "input_schema": {"type": "object"}}]
READ_STEP = ScriptStep(tool="Read", input={"file_path": "/repo/app.py"})
SCRIPT = ModelScript(
    steps=[
        READ_STEP,
        ScriptStep(
            text="Found it. Editing now.", tool="Edit", input={"old_string": "a", "new_string": "b"}
        ),
        ScriptStep(tool="StructuredOutput", input={"outcome": "fixed", "summary": "done"}),
    ]
)


def request_body(*messages: dict[str, Any], stream: bool = True, **extra: Any) -> dict[str, Any]:
    """Build an agent-style request body: tools offered, the given messages."""
    msgs = list(messages) or [user("fix the bug")]
    return {
        "model": "claude-test-1",
        "max_tokens": 1000,
        "stream": stream,
        "tools": TOOLS,
        "system": [{"type": "text", "text": "You are a test agent."}],
        "messages": msgs,
        **extra,
    }


def user(text: str) -> dict[str, Any]:
    """A user message with one text block."""
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def assistant(text: str) -> dict[str, Any]:
    """An assistant message with one text block."""
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def parse_sse(raw: str) -> Events:
    """Split an SSE body into (event name, JSON data) pairs."""
    events: Events = []
    for chunk in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def post(
    url: str, body: dict[str, Any], path: str = "/v1/messages?beta=true"
) -> tuple[int, str]:
    """POST a JSON body and return the status and raw response text."""
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body) as resp:
        return resp.status, await resp.text()


async def stream(url: str, body: dict[str, Any]) -> Events:
    """POST a streaming request and return its parsed events."""
    status, text = await post(url, body)
    assert status == 200, text
    return parse_sse(text)


def blocks_of(events: Events) -> list[dict[str, Any]]:
    """Reassemble the content blocks of a streamed message from its events."""
    blocks: list[dict[str, Any]] = []
    for name, data in events:
        if name == "content_block_start":
            blocks.append({**data["content_block"], "_json": ""})
        elif name == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                blocks[data["index"]]["text"] += delta["text"]
            else:
                blocks[data["index"]]["_json"] += delta["partial_json"]
    for block in blocks:
        raw = block.pop("_json")
        if block["type"] == "tool_use":
            block["input"] = json.loads(raw)
    return blocks


class _AnyStr(str):
    """Equal to any string (for comparing error messages)."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        """Match every string."""
        return isinstance(other, str)


ANY_STR = _AnyStr()


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    """A server playing SCRIPT for every conversation."""
    with ScriptedModelServer(SCRIPT) as srv:
        yield srv


async def test_tool_step_streams_full_event_sequence(server: ScriptedModelServer) -> None:
    """A tool step streams message_start…message_stop with a tool_use block split over deltas."""
    events = await stream(server.url, request_body())
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_") and start["model"] == "claude-test-1"
    assert start["usage"]["input_tokens"] > 0
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] > 0
    [block] = blocks_of(events)
    assert block["name"] == "Read" and block["id"].startswith("toolu_")
    assert block["input"] == {"file_path": "/repo/app.py"}


async def test_text_step_streams_text_deltas_and_end_turn() -> None:
    """A text-only step streams one text block in several deltas and stops with end_turn."""
    with ScriptedModelServer(ModelScript(steps=[ScriptStep(text="All done here.")])) as srv:
        events = await stream(srv.url, request_body())
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert len(deltas) >= 2 and "".join(deltas) == "All done here."
    assert blocks_of(events) == [{"type": "text", "text": "All done here."}]
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"


async def test_step_chosen_by_count_of_assistant_messages(server: ScriptedModelServer) -> None:
    """The step played is the number of assistant messages already in the request."""
    body = request_body(user("fix"), assistant("looking"), user("result"))
    blocks = blocks_of(await stream(server.url, body))
    assert [b["type"] for b in blocks] == ["text", "tool_use"]
    assert blocks[0]["text"] == "Found it. Editing now." and blocks[1]["name"] == "Edit"


async def test_synthetic_no_response_requested_does_not_count(server: ScriptedModelServer) -> None:
    """Claude Code's own 'No response requested.' message (added on --resume) is not a turn."""
    body = request_body(user("fix"), assistant("No response requested."), user("answer: yes"))
    assert assistant_turns(body) == 0
    [block] = blocks_of(await stream(server.url, body))
    assert block["name"] == "Read"


async def test_past_end_of_script_plays_closing_text(server: ScriptedModelServer) -> None:
    """Past the last step the model answers a short text with end_turn."""
    turns = [m for i in range(3) for m in (assistant(f"turn {i}"), user("ok"))]
    events = await stream(server.url, request_body(user("fix"), *turns))
    assert blocks_of(events) == [{"type": "text", "text": END_OF_SCRIPT_TEXT}]
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"


async def test_script_chosen_by_marker_in_prompt() -> None:
    """With several scripts, the one whose key appears in the conversation is played."""
    scripts = {
        "TASK-7": ModelScript(steps=[ScriptStep(text="seven")]),
        "TASK-8": ModelScript(steps=[ScriptStep(text="eight")]),
        "default": ModelScript(steps=[ScriptStep(text="fallback")]),
    }
    with ScriptedModelServer(scripts) as srv:
        texts = await asyncio.gather(
            *(
                stream(srv.url, request_body(user(f"Fix {task}")))
                for task in ("TASK-8", "TASK-7", "X")
            )
        )
    assert [blocks_of(e)[0]["text"] for e in texts] == ["eight", "seven", "fallback"]


async def test_longest_matching_marker_wins() -> None:
    """When one key is a prefix of another (TASK-1, TASK-10), the longest match is chosen."""
    scripts = {
        "TASK-1": ModelScript(steps=[ScriptStep(text="one")]),
        "TASK-10": ModelScript(steps=[ScriptStep(text="ten")]),
    }
    with ScriptedModelServer(scripts) as srv:
        events = await stream(srv.url, request_body(user("Fix TASK-10")))
    assert blocks_of(events)[0]["text"] == "ten"


async def test_marker_found_in_system_prompt() -> None:
    """A marker in the system prompt selects the script too."""
    scripts = {"job-42": ModelScript(steps=[ScriptStep(text="forty-two")])}
    body = request_body(system=[{"type": "text", "text": "Working on job-42."}])
    with ScriptedModelServer(scripts) as srv:
        assert blocks_of(await stream(srv.url, body))[0]["text"] == "forty-two"


async def test_no_matching_script_and_no_default_is_400() -> None:
    """No marker match and no 'default' script gives a clear Anthropic-format 400."""
    with ScriptedModelServer({"TASK-1": SCRIPT}) as srv:
        status, text = await post(srv.url, request_body(user("something else")))
    assert status == 400
    error = json.loads(text)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert "TASK-1" in error["error"]["message"]


@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded_error"), (500, "api_error")])
async def test_error_status_step_answers_anthropic_error(status: int, kind: str) -> None:
    """An http_status step answers every attempt with that status and an Anthropic error body."""
    with ScriptedModelServer(ModelScript(steps=[ScriptStep(http_status=status)])) as srv:
        for _ in range(2):
            got, text = await post(srv.url, request_body())
            assert got == status
            assert json.loads(text) == {
                "type": "error",
                "error": {"type": kind, "message": ANY_STR},
            }


async def test_fault_attempts_limits_the_fault_then_plays_step() -> None:
    """With fault_attempts=2 the first two attempts fail and the third plays the step."""
    step = ScriptStep(http_status=529, fault_attempts=2, text="recovered")
    with ScriptedModelServer(ModelScript(steps=[step])) as srv:
        statuses = [(await post(srv.url, request_body()))[0] for _ in range(3)]
        _, text = await post(srv.url, request_body())
    assert statuses == [529, 529, 200]
    assert blocks_of(parse_sse(text))[0]["text"] == "recovered"


async def test_drop_connection_cuts_the_stream() -> None:
    """A drop_connection step sends the stream's first events, then closes the socket."""
    step = ScriptStep(text="this never finishes", drop_connection=True)
    body = request_body()
    with ScriptedModelServer(ModelScript(steps=[step])) as srv:
        async with (
            aiohttp.ClientSession() as session,
            session.post(srv.url + "/v1/messages", json=body) as resp,
        ):
            assert resp.status == 200
            first = await resp.content.readuntil(b"\n\n")
            assert first.startswith(b"event: message_start")
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()


async def test_auxiliary_requests_do_not_consume_steps(server: ScriptedModelServer) -> None:
    """Requests without tools, count_tokens and HEAD / are answered and recorded, not scripted."""
    aux = {k: v for k, v in request_body(stream=False).items() if k != "tools"}
    status, text = await post(server.url, aux)
    assert status == 200 and json.loads(text)["content"] == [{"type": "text", "text": "OK"}]
    status, text = await post(server.url, request_body(), path="/v1/messages/count_tokens")
    assert status == 200 and json.loads(text)["input_tokens"] > 0
    async with aiohttp.ClientSession() as session, session.head(server.url + "/") as resp:
        assert resp.status == 200
    [block] = blocks_of(await stream(server.url, request_body()))
    assert block["name"] == "Read"
    kinds = [entry["kind"] for entry in server.request_log]
    assert kinds == ["auxiliary", "count_tokens", "other", "agent"]


async def test_non_streaming_agent_request_gets_json_message(server: ScriptedModelServer) -> None:
    """A request with stream false gets one complete Messages API JSON response."""
    status, text = await post(server.url, request_body(stream=False))
    message = json.loads(text)
    assert status == 200 and message["type"] == "message" and message["stop_reason"] == "tool_use"
    assert message["content"][0]["input"] == {"file_path": "/repo/app.py"}
    assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 0


async def test_requests_recorded_in_order(server: ScriptedModelServer) -> None:
    """Every request body is recorded in arrival order."""
    first = request_body(user("one"))
    second = request_body(user("two"), assistant("x"), user("three"))
    await stream(server.url, first)
    await stream(server.url, second)
    assert server.requests == [first, second]
    assert server.agent_requests() == [first, second]


async def test_tool_use_ids_are_unique(server: ScriptedModelServer) -> None:
    """Replaying the same step twice gives two different tool_use ids."""
    ids = {blocks_of(await stream(server.url, request_body()))[0]["id"] for _ in range(3)}
    assert len(ids) == 3


def test_sync_use_with_urllib() -> None:
    """Synchronous code can use the server through the context manager (no event loop needed)."""
    body = json.dumps(request_body(stream=False)).encode()
    with ScriptedModelServer(SCRIPT) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        headers = {"content-type": "application/json"}
        req = urllib.request.Request(srv.url + "/v1/messages", data=body, headers=headers)  # noqa: S310
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            message = json.load(resp)
    assert message["content"][0]["name"] == "Read"
    assert srv.url and len(srv.requests) == 1


def test_stop_frees_the_port_and_is_idempotent() -> None:
    """After stop the port is closed, and stopping twice is harmless."""
    srv = ScriptedModelServer(SCRIPT)
    srv.start()
    url = srv.url
    srv.stop()
    srv.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/", timeout=2)  # noqa: S310


def test_step_must_do_something() -> None:
    """A step with no tool, text or fault, or with a non-error status, is rejected."""
    with pytest.raises(ValidationError):
        ScriptStep()
    with pytest.raises(ValidationError):
        ScriptStep(http_status=200)
