"""The port's own output format, for CLIs that have none worth parsing (scripts, test doubles).

Every non-blank stdout line is a progress text, except one JSON object line
`{"agent_result": {...}}` whose value is an `AgentResult` (outcome, summary, question,
cost_usd, usage, num_turns, duration_ms and the session id the CLI chose).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from orchestration.agents.port import AgentRunError
from orchestration.models import AgentResult

RESULT_KEY = "agent_result"
_TAIL_LINES = 20
_PROGRESS_LIMIT = 160


def result_line(result: AgentResult) -> str:
    """The line a runner prints to report its result."""
    return json.dumps({RESULT_KEY: result.model_dump(mode="json")}, separators=(",", ":"))


class ResultLineParser:
    """Progress from plain lines; the result from the `agent_result` line."""

    def __init__(self) -> None:
        self._progress: str | None = None
        self._result: AgentResult | None = None
        self._problem: str | None = None
        self._tail: list[str] = []

    @property
    def progress(self) -> str | None:
        return self._progress

    def feed(self, line: str) -> str | None:
        text = line.strip()
        if not text:
            return None
        self._tail = [*self._tail, text[:2000]][-_TAIL_LINES:]
        value = _result_value(text)
        if value is None:
            self._progress = text[:_PROGRESS_LIMIT]
            return self._progress
        try:
            self._result = AgentResult.model_validate(value)
        except ValidationError as exc:
            self._problem = f"the agent's result could not be read: {exc}"
        return None

    def finish(self, exit_code: int, timed_out: bool) -> AgentResult:
        if timed_out:
            raise AgentRunError(self._with_tail("the agent ran past its time limit"))
        if self._result is None:
            reason = self._problem or f"the agent exited with code {exit_code} and no result"
            raise AgentRunError(self._with_tail(reason))
        if exit_code != 0:
            raise AgentRunError(self._with_tail(f"the agent exited with code {exit_code}"))
        return self._result

    def _with_tail(self, reason: str) -> str:
        tail = "\n".join(self._tail)
        return f"{reason}\n--- last output ---\n{tail}" if tail else reason


def _result_value(text: str) -> object | None:
    """The value under RESULT_KEY when the line is a result line, else None."""
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        return None
    return event.get(RESULT_KEY) if isinstance(event, dict) else None
