"""Reading Claude Code's `--output-format stream-json` output: progress lines and the result.

Pure functions over lines of text, so they are tested on recordings of the real binary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestration.agents.port import AgentRunError
from orchestration.models import AgentOutcome, AgentResult, TokenUsage

_TAIL_LINES = 20
_TOOL_SUBJECT = {
    "Read": "file_path",
    "Edit": "file_path",
    "Write": "file_path",
    "MultiEdit": "file_path",
    "Bash": "command",
    "Grep": "pattern",
    "Glob": "pattern",
}


@dataclass
class StreamState:
    """What has been seen of one run's stream so far; the Claude runner's stream parser."""

    session_id: str | None = None
    progress: str | None = None
    result: dict[str, Any] | None = None
    tail: list[str] = field(default_factory=list)

    def feed(self, line: str) -> str | None:
        """Take one output line; return a new progress text when the line is one."""
        self._remember(line)
        event = _parse(line)
        if event is None:
            return None
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            self.session_id = event.get("session_id", self.session_id)
            return "agent started"
        if kind == "system" and event.get("subtype") == "api_retry":
            return (
                f"model API retry {event.get('attempt', '?')}/{event.get('max_retries', '?')} "
                f"({event.get('error', 'error')})"
            )
        if kind == "assistant":
            message = event.get("message")
            text = describe_assistant_message(message if isinstance(message, dict) else {})
            if text:
                self.progress = text
            return text
        if kind == "result":
            self.result = event
        return None

    def finish(self, exit_code: int, timed_out: bool) -> AgentResult:
        """The run's result once the CLI has exited (the port's end of a stream)."""
        return final_result(self, exit_code, timed_out)

    def _remember(self, line: str) -> None:
        self.tail.append(line.rstrip("\r\n")[:2000])
        del self.tail[:-_TAIL_LINES]


def _parse(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def describe_assistant_message(message: dict[str, Any]) -> str | None:
    """A one-line description of what the agent is doing ("Edit calc.py", "Bash: pytest")."""
    parts: list[str] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_use":
            tool_input = block.get("input")
            parts.append(
                describe_tool_use(
                    str(block.get("name") or "?"),
                    tool_input if isinstance(tool_input, dict) else {},
                )
            )
        elif block.get("type") == "text" and str(block.get("text") or "").strip():
            parts.append(_first_line(str(block["text"])))
    return "; ".join(parts) if parts else None


def describe_tool_use(name: str, tool_input: dict[str, Any]) -> str:
    if name == "StructuredOutput":
        return f"reporting outcome: {tool_input.get('outcome', '?')}"
    subject = tool_input.get(_TOOL_SUBJECT.get(name, ""), "")
    return f"{name}: {_first_line(str(subject))}" if subject else name


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def final_result(state: StreamState, exit_code: int, timed_out: bool) -> AgentResult:
    """The run's AgentResult, or AgentRunError with the reason and the output's tail."""
    if timed_out:
        raise AgentRunError(_with_tail("the agent ran past its time limit", state))
    event = state.result
    if event is None and exit_code == 137:
        raise AgentRunError(
            _with_tail(
                "the agent was killed (exit 137): most likely out of memory at the sandbox's limit "
                "(FIXBOT_SANDBOX__MEMORY_MB)",
                state,
            )
        )
    if event is None:
        raise AgentRunError(_with_tail(f"claude exited with code {exit_code} and no result", state))
    if event.get("is_error") or event.get("subtype") != "success":
        raise AgentRunError(_with_tail(f"the agent run failed: {failure_reason(event)}", state))
    if not structured_outcome(event):
        raise AgentRunError(_with_tail("the agent ended without reporting an outcome", state))
    try:
        return _agent_result(event, state.session_id)
    except (TypeError, ValueError) as exc:  # a malformed field, e.g. a non-numeric cost
        reason = f"the agent's result could not be read: {exc}"
        raise AgentRunError(_with_tail(reason, state)) from None


def failure_reason(event: dict[str, Any]) -> str:
    """Why a result event is a failure, in the CLI's own words where it gave some."""
    errors = event.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return str(
        event.get("result") or event.get("terminal_reason") or event.get("subtype") or "unknown"
    )


def _agent_result(event: dict[str, Any], session_id: str | None) -> AgentResult:
    outcome = structured_outcome(event)
    usage = event.get("usage") or {}
    return AgentResult(
        session_id=event.get("session_id") or session_id or "",
        outcome=AgentOutcome(outcome["outcome"]),
        summary=str(outcome.get("summary") or event.get("result") or ""),
        question=outcome.get("question"),
        cost_usd=float(event.get("total_cost_usd") or 0.0),
        usage=TokenUsage(**{k: int(usage.get(k) or 0) for k in TokenUsage.model_fields}),
        num_turns=int(event.get("num_turns") or 0),
        duration_ms=int(event.get("duration_ms") or 0),
    )


def structured_outcome(event: dict[str, Any]) -> dict[str, Any]:
    """The structured output of a result event; {} when the agent gave none."""
    value = event.get("structured_output")
    if isinstance(value, dict) and value.get("outcome") in {o.value for o in AgentOutcome}:
        return value
    return {}


def _with_tail(reason: str, state: StreamState) -> str:
    tail = "\n".join(state.tail[-_TAIL_LINES:])
    return f"{reason}\n--- last output ---\n{tail}" if tail else reason
