"""What a Messages API request from a sandbox may ask of the provider.

The sandbox has no network; the model provider does. A request that names server-side tools
(web fetch, web search, code execution, MCP connectors), a document or image by URL, or a
beta flag that switches such features on would make the provider reach third parties on the
agent's behalf: a way out that bypasses the sandbox's network lock. So the proxy forwards only
what a coding agent needs: the listed top-level fields, tools that the client itself runs,
content carried inline, and the listed beta families. Everything else is refused, naming what
was refused. The walk over the body is linear in its size and bounded by the relay's limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Top-level fields of a Messages request that only shape the model's own answer.
MESSAGE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_k",
        "top_p",
        "thinking",
        "tools",
        "tool_choice",
        "context_management",
        "output_config",
        "output_format",
        "service_tier",
    }
)
COUNT_TOKENS_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "context_management"}
)
# Beta families (the flag without its date) that change how the model answers, not what the
# provider fetches or runs. Measured: Claude Code 2.1.330 sends exactly the first nine.
BETA_FAMILIES = frozenset(
    {
        "claude-code",
        "interleaved-thinking",
        "context-management",
        "per-turn-control",
        "mid-conversation-tool-changes",
        "thinking-token-count",
        "advanced-tool-use",
        "effort",
        "thinking-display-updates",
        "fine-grained-tool-streaming",
        "token-efficient-tools",
        "prompt-caching-scope",
        "context-1m",
        "output-128k",
        "structured-outputs",
        "redact-thinking",
    }
)
# Content blocks that carry their data inline; `source` must be inline too (no url, no file id).
INLINE_SOURCE_TYPES = frozenset({"base64", "text", "content"})
_DATED = re.compile(r"-\d{4}-?\d{2}-?\d{2}$")
MAX_NAMES_SHOWN = 5


@dataclass(frozen=True)
class Refusal:
    """Why a request may not go to the provider: a message the agent can read, and whether
    the client may retry without the refused beta flags (claude does so on a 400)."""

    message: str
    retry_with_fewer_betas: bool = False


def beta_refusal(header_values: Iterable[str]) -> Refusal | None:
    """A refusal when an `anthropic-beta` flag is outside the allowed families."""
    flags = [flag.strip() for value in header_values for flag in value.split(",")]
    refused = sorted({f for f in flags if f and _DATED.sub("", f) not in BETA_FAMILIES})
    if not refused:
        return None
    return Refusal(
        f"fixbot: beta flags not allowed through this proxy: {_names(refused)}",
        retry_with_fewer_betas=True,
    )


def read_request(body: bytes) -> dict[str, Any] | Refusal:
    """The body as a JSON object, or why it cannot be checked (and so is not forwarded)."""
    try:
        request = json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        return Refusal(f"fixbot: the request body names {str(exc)[:80]!r} twice")
    except (ValueError, RecursionError):
        return Refusal("fixbot: the request body is not JSON")
    if not isinstance(request, dict):
        return Refusal("fixbot: the request body is not a JSON object")
    return request


class _DuplicateKey(ValueError):
    """A JSON object names a key twice: parsers disagree on which one counts, so the proxy
    would check one value and the provider might use the other."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def body_refusal(path: str, request: dict[str, Any]) -> Refusal | None:
    """A refusal when the request asks for more than a coding agent needs."""
    counting = path.endswith("/count_tokens")
    allowed = COUNT_TOKENS_FIELDS if counting else MESSAGE_FIELDS
    extra = sorted(set(request) - allowed)
    if extra:
        return Refusal(f"fixbot: request fields not allowed through this proxy: {_names(extra)}")
    limit = request.get("max_tokens")
    if not counting and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        # the budget reserves by this limit, so it must be there (the API requires it too)
        return Refusal("fixbot: max_tokens must be a positive whole number")
    server_tools = sorted(set(_server_tools(request.get("tools"))))
    if server_tools:
        return Refusal(f"fixbot: server-side tools are not allowed: {_names(server_tools)}")
    remote = sorted(set(_remote_sources([request.get("system"), request.get("messages")])))
    if remote:
        return Refusal(f"fixbot: content must be sent inline, not fetched: {_names(remote)}")
    return None


def _server_tools(tools: Any) -> Iterator[str]:
    """The type of each tool that the provider, not the client, would run."""
    if tools is None:
        return
    if not isinstance(tools, list):
        yield "tools is not a list"
        return
    for tool in tools:
        kind = tool.get("type", "custom") if isinstance(tool, dict) else "not an object"
        if kind != "custom":
            yield str(kind)[:80]


def _remote_sources(roots: list[Any]) -> Iterator[str]:
    """Every block whose `source` (or tool result content) points outside the request: a URL
    or an uploaded file. Walked with an explicit stack, so nesting depth costs no recursion."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            source = node.get("source")
            if isinstance(source, dict):
                kind = source.get("type")
                if kind not in INLINE_SOURCE_TYPES:
                    yield f"{node.get('type', 'block')} from {str(kind)[:40]}"
                stack.append(source.get("content"))
            if node.get("type") in {"mcp_tool_use", "server_tool_use", "container_upload"}:
                yield str(node["type"])
            stack.append(node.get("content"))


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
