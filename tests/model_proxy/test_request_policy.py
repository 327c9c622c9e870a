"""The proxy forwards only what a coding agent needs: requests that would make the provider
fetch, search or run things on the agent's behalf are refused, say why, and never leave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestration.proxies.model import request_policy
from orchestration.proxies.model.proxy import ModelProxy
from tests.model_proxy.conftest import REQUEST, call
from tests.model_proxy.upstream import FakeUpstream

# What Claude Code 2.1.330 sends (measured through the scripted model): these must pass.
CLAUDE_CODE_BETAS = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,"
    "thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24,"
    "thinking-display-updates-2026-08-18"
)
CLAUDE_CODE_REQUEST: dict[str, Any] = {
    **REQUEST,
    "system": [{"type": "text", "text": "You are Claude Code."}],
    "metadata": {"user_id": "{}"},
    "thinking": {"type": "adaptive", "display": "updates"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "medium"},
    "tools": [
        {"name": "Bash", "description": "run", "input_schema": {"type": "object"}},
        {"name": "Edit", "description": "edit", "input_schema": {"type": "object"}},
    ],
}
IMAGE_INLINE = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": ""},
}


def with_content(*blocks: dict[str, Any]) -> dict[str, Any]:
    """The Claude Code request with one more user turn holding these blocks."""
    messages = [*CLAUDE_CODE_REQUEST["messages"], {"role": "user", "content": list(blocks)}]
    return {**CLAUDE_CODE_REQUEST, "messages": messages}


def checked(path: str, raw: bytes) -> request_policy.Refusal | None:
    """The policy's verdict on a raw body, as the proxy takes it."""
    request = request_policy.read_request(raw)
    if isinstance(request, request_policy.Refusal):
        return request
    return request_policy.body_refusal(path, request)


def refusal_of(body: dict[str, Any], path: str = "/v1/messages") -> str | None:
    refusal = checked(path, json.dumps(body).encode())
    return None if refusal is None else refusal.message


def test_what_claude_code_sends_is_allowed() -> None:
    """Claude Code's own fields, client tools, inline images and betas pass unchanged."""
    assert refusal_of(CLAUDE_CODE_REQUEST) is None
    assert refusal_of(with_content(IMAGE_INLINE)) is None
    assert request_policy.beta_refusal([CLAUDE_CODE_BETAS]) is None
    assert request_policy.beta_refusal([]) is None


@pytest.mark.parametrize(
    ("tool", "named"),
    [
        ({"type": "web_fetch_20250910", "name": "web_fetch"}, "web_fetch_20250910"),
        ({"type": "web_search_20250305", "name": "web_search"}, "web_search_20250305"),
        ({"type": "code_execution_20250825", "name": "code"}, "code_execution_20250825"),
        ({"type": "mcp_toolset", "mcp_server_name": "x"}, "mcp_toolset"),
        ("Bash", "not an object"),
    ],
)
def test_server_side_tools_are_refused_by_type(tool: Any, named: str) -> None:
    """A tool the provider would run names its type in the refusal."""
    body = {**CLAUDE_CODE_REQUEST, "tools": [*CLAUDE_CODE_REQUEST["tools"], tool]}
    assert refusal_of(body) == f"fixbot: server-side tools are not allowed: {named}"


@pytest.mark.parametrize("field", ["mcp_servers", "container", "anything_new"])
def test_fields_outside_the_list_are_refused(field: str) -> None:
    """MCP connectors, code-execution containers and unknown fields are named and refused."""
    body = {**CLAUDE_CODE_REQUEST, field: [{"type": "url", "url": "https://evil.example/"}]}
    assert refusal_of(body) == f"fixbot: request fields not allowed through this proxy: {field}"


def test_count_tokens_takes_no_generation_fields() -> None:
    """Token counting accepts its own fields only."""
    assert refusal_of({**REQUEST, "stream": True}, "/v1/messages/count_tokens") == (
        "fixbot: request fields not allowed through this proxy: max_tokens, stream"
    )


@pytest.mark.parametrize(
    ("block", "named"),
    [
        ({"type": "image", "source": {"type": "url", "url": "https://x.example/?d=s"}}, "image"),
        ({"type": "document", "source": {"type": "url", "url": "https://x.example/"}}, "document"),
        ({"type": "document", "source": {"type": "file", "file_id": "file_1"}}, "document"),
    ],
)
def test_content_the_provider_would_fetch_is_refused(block: dict[str, Any], named: str) -> None:
    """An image or document by URL or uploaded file is refused, even inside a tool result."""
    kind = block["source"]["type"]
    expected = f"fixbot: content must be sent inline, not fetched: {named} from {kind}"
    assert refusal_of(with_content(block)) == expected
    nested = {"type": "tool_result", "tool_use_id": "t1", "content": [block]}
    assert refusal_of(with_content(nested)) == expected


def test_deeply_nested_content_is_walked_without_recursion() -> None:
    """Content nested deeper than Python's recursion limit is checked, not crashed on."""
    image = json.dumps({"type": "image", "source": {"type": "url", "url": "https://x.example/"}})
    nested = "[" * 600 + image + "]" * 600
    body = json.dumps(with_content()).replace('"content": []', f'"content": {nested}')
    refusal = checked("/v1/messages", body.encode())
    assert refusal is not None and refusal.message.endswith("image from url")


@pytest.mark.parametrize(
    "beta", ["mcp-client-2025-04-04", "web-fetch-2025-09-10", "files-api-2025-04-14"]
)
def test_betas_outside_the_families_are_refused(beta: str) -> None:
    """A beta that switches on provider-side fetching is named; claude may retry without."""
    refusal = request_policy.beta_refusal([f"{CLAUDE_CODE_BETAS},{beta}"])
    assert refusal is not None and refusal.retry_with_fewer_betas
    assert refusal.message == f"fixbot: beta flags not allowed through this proxy: {beta}"


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    """Nothing that cannot be checked is forwarded."""
    assert checked("/v1/messages", b"{not json") is not None
    assert checked("/v1/messages", b"[1, 2]") is not None


async def test_refused_requests_never_reach_the_provider(
    proxy: ModelProxy, upstream: FakeUpstream
) -> None:
    """Through the real proxy: a web_fetch tool gets a 403 the agent can read, an unknown beta
    a 400, both counted as refused, and the upstream sees only the allowed request."""
    route = await proxy.open_route("t-policy", budget_usd=1.0)
    fetch_tool = {"type": "web_fetch_20250910", "name": "web_fetch"}
    body = {**CLAUDE_CODE_REQUEST, "tools": [fetch_tool]}
    status, _, answer = await call(route, body=body)
    assert status == 403
    error = json.loads(answer)["error"]
    assert error == {
        "type": "permission_error",
        "message": "fixbot: server-side tools are not allowed: web_fetch_20250910",
    }
    status, _, answer = await call(
        route, body=CLAUDE_CODE_REQUEST, headers={"anthropic-beta": "mcp-client-2025-04-04"}
    )
    assert status == 400 and json.loads(answer)["error"]["type"] == "invalid_request_error"
    assert upstream.seen == []
    status, _, _ = await call(
        route, body=CLAUDE_CODE_REQUEST, headers={"anthropic-beta": CLAUDE_CODE_BETAS}
    )
    assert status == 200 and len(upstream.seen) == 1
    assert json.loads(upstream.seen[0].body) == CLAUDE_CODE_REQUEST
    usage = proxy.usage("t-policy")
    assert usage is not None and usage.refused == 2 and usage.requests == 1


def test_a_key_named_twice_is_refused() -> None:
    """Parsers disagree on which of two equal keys counts, so the check could see one value
    and the provider use the other: such a body is refused, wherever the key repeats."""
    fetch = '{"type":"web_search_20250305","name":"w"}'
    top = '{"model":"m","max_tokens":1,"messages":[],"tools":[' + fetch + '],"tools":[]}'
    nested = '{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x","role":"u"}]}'
    for body in (top, nested):
        refusal = checked("/v1/messages", body.encode())
        assert refusal is not None and "twice" in refusal.message
