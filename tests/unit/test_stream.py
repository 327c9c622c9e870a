"""The Claude runner's stream parser (orchestration.agents.claude.stream), through the port,
on recordings of the real `claude` 2.1.330 stream-json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestration.agents.claude.runner import ClaudeCodeRunner
from orchestration.agents.claude.stream import (
    StreamState,
    describe_assistant_message,
    describe_tool_use,
    failure_reason,
)
from orchestration.agents.port import AgentRunError
from orchestration.models import AgentOutcome

FIXTURES = Path(__file__).parent.parent / "fixtures"


def read_stream(lines: list[str]) -> StreamState:
    """Every line fed to a fresh parser from the runner, as the agent activity does."""
    parser = ClaudeCodeRunner().new_stream_parser()
    for text in lines:
        parser.feed(text)
    return parser


def recording(name: str) -> list[str]:
    with (FIXTURES / name).open(encoding="utf-8") as lines:
        return list(lines)


def init_session_id(lines: list[str]) -> str:
    first = json.loads(lines[0])
    assert (first["type"], first["subtype"]) == ("system", "init")
    return str(first["session_id"])


def line(event: dict[str, Any]) -> str:
    return json.dumps(event) + "\n"


def assistant(*blocks: dict[str, Any]) -> str:
    return line({"type": "assistant", "message": {"content": list(blocks)}})


def result(**fields: Any) -> str:
    event = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "session_id": "s-1",
        "total_cost_usd": 0.5,
        "num_turns": 2,
        "duration_ms": 1000,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    event.update(fields)
    return line({k: v for k, v in event.items() if v is not None})


OUTCOME = {"outcome": "fixed", "summary": "fixed it"}


# --- the real recordings ---------------------------------------------------------------


def test_fixed_recording_gives_a_fixed_result() -> None:
    """The 'fixed' recording yields outcome fixed with its summary, cost, usage and turns."""
    lines = recording("claude_stream_fixed.jsonl")
    agent = read_stream(lines).finish(0, False)
    assert agent.outcome is AgentOutcome.FIXED
    assert agent.summary.startswith("add() subtracted instead of adding")
    assert agent.question is None
    assert agent.cost_usd == pytest.approx(0.211032)
    assert agent.usage.input_tokens == 51618
    assert agent.usage.output_tokens == 228
    assert agent.usage.total == 51618 + 228
    assert agent.num_turns == 5
    assert agent.duration_ms == 405


def test_fixed_recording_session_id_matches_the_init_line() -> None:
    """The state's and the result's session id are the one the init line announced."""
    lines = recording("claude_stream_fixed.jsonl")
    state = read_stream(lines)
    assert state.session_id == init_session_id(lines) == "1f0c6a52-3d4e-4b7a-9c1d-2e8f5a6b7c01"
    assert state.finish(0, False).session_id == state.session_id


def test_fixed_recording_progress_is_the_last_tool_use() -> None:
    """The last progress line of the fixed run is the StructuredOutput report."""
    state = read_stream(recording("claude_stream_fixed.jsonl"))
    assert state.progress == "reporting outcome: fixed"


def test_fixed_recording_progress_lines_in_order() -> None:
    """Feeding the recording yields start, text, Read, Edit, Bash and the outcome, in order."""
    state = StreamState()
    progress = [p for p in map(state.feed, recording("claude_stream_fixed.jsonl")) if p]
    assert progress == [
        "agent started",
        "I'll read the code first.",
        "Read: /workspace/calc.py",
        "Edit: /workspace/calc.py",
        "Bash: python3 -m unittest -q",
        "reporting outcome: fixed",
    ]


def test_clarify_recording_asks_the_question() -> None:
    """The 'clarify' recording yields needs_clarification with the agent's question."""
    lines = recording("claude_stream_clarify.jsonl")
    agent = read_stream(lines).finish(0, False)
    assert agent.outcome is AgentOutcome.NEEDS_CLARIFICATION
    assert agent.question == "Should add(a, b) return a + b, or do some callers depend on a - b?"
    assert agent.session_id == init_session_id(lines)
    assert agent.cost_usd > 0
    assert agent.num_turns == 3


def test_error_recording_raises_with_the_api_error_and_tail() -> None:
    """The 'error' recording (is_error with subtype success) raises AgentRunError with the tail."""
    lines = recording("claude_stream_error.jsonl")
    with pytest.raises(AgentRunError) as caught:
        read_stream(lines).finish(1, False)
    message = str(caught.value)
    assert message.startswith("the agent run failed: API Error: 529")
    assert "--- last output ---" in message
    assert '"subtype":"api_retry"' in message  # the tail holds the recorded lines
    assert '"type":"result"' in message


def test_error_recording_reports_api_retries_as_progress() -> None:
    """api_retry system lines become 'model API retry n/m (error)' progress lines."""
    state = StreamState()
    progress = [p for p in map(state.feed, recording("claude_stream_error.jsonl")) if p]
    assert "model API retry 1/2 (overloaded)" in progress
    assert "model API retry 2/2 (overloaded)" in progress


# --- progress descriptions ---------------------------------------------------------------


def test_edit_progress_names_the_path() -> None:
    """An Edit tool use is described by its file path."""
    assert describe_tool_use("Edit", {"file_path": "/workspace/a.py", "old_string": "x"}) == (
        "Edit: /workspace/a.py"
    )


def test_bash_progress_is_the_first_line_of_the_command() -> None:
    """A multi-line Bash command is described by its first line only."""
    text = describe_tool_use("Bash", {"command": "  cd /workspace\npytest -q\nrm -rf x"})
    assert text == "Bash: cd /workspace"


def test_long_subject_is_cut_with_an_ellipsis() -> None:
    """Subjects longer than 160 characters are cut to 160 with a trailing ellipsis."""
    text = describe_tool_use("Grep", {"pattern": "x" * 500})
    assert text == "Grep: " + "x" * 159 + "…"


def test_structured_output_progress_names_the_outcome() -> None:
    """StructuredOutput is described as reporting its outcome."""
    assert describe_tool_use("StructuredOutput", {"outcome": "no_fix"}) == (
        "reporting outcome: no_fix"
    )


def test_unknown_tool_is_described_by_name() -> None:
    """A tool with no known subject is described by its name alone."""
    assert describe_tool_use("WebFetch", {"url": "https://example.com"}) == "WebFetch"


def test_message_with_text_and_tool_use_joins_both() -> None:
    """Blank text blocks are skipped; the rest are joined with '; '."""
    message = {
        "content": [
            {"type": "text", "text": "  "},
            {"type": "text", "text": "Running tests\nthen more"},
            {"type": "tool_use", "name": "Bash", "input": {"command": "pytest"}},
        ]
    }
    assert describe_assistant_message(message) == "Running tests; Bash: pytest"


def test_assistant_line_without_description_keeps_previous_progress() -> None:
    """A thinking-only assistant line returns None and leaves the last progress in place."""
    state = StreamState()
    state.feed(assistant({"type": "tool_use", "name": "Read", "input": {"file_path": "a.py"}}))
    assert state.feed(assistant({"type": "thinking", "thinking": "hmm"})) is None
    assert state.progress == "Read: a.py"


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"assistant","message":null}',
        '{"type":"assistant","message":{"content":"just a string"}}',
        '{"type":"assistant","message":{"content":["not a block"]}}',
        '{"type":"assistant","message":{"content":[{"type":"text","text":null}]}}',
        '{"type":"assistant","message":{"content":[{"type":"tool_use","name":null,"input":null}]}}',
    ],
)
def test_odd_shaped_assistant_lines_do_not_crash(raw: str) -> None:
    """Valid JSON in an unexpected shape never raises out of feed()."""
    state = StreamState()
    progress = state.feed(raw)
    assert progress in (None, "?")
    assert state.tail == [raw]


# --- finish() on hand-made streams -----------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "\n",
        "not json at all",
        "{broken json",
        "[1, 2, 3]",
        '"a string"',
        "null",
        "\x00\x01\x02",
        "Warning: something on stdout",
    ],
)
def test_garbage_lines_are_ignored(garbage: str) -> None:
    """Non-JSON (or non-object) lines give no progress and do not change the outcome."""
    state = StreamState()
    assert state.feed(garbage) is None
    state.feed(result(structured_output=OUTCOME))
    assert state.finish(0, False).outcome is AgentOutcome.FIXED


def test_success_without_structured_output_is_an_error() -> None:
    """A success result with no structured output raises: the agent never reported."""
    state = read_stream([result(result="I fixed it, trust me")])
    with pytest.raises(AgentRunError, match="without reporting an outcome"):
        state.finish(0, False)


def test_structured_output_with_unknown_outcome_is_an_error() -> None:
    """An outcome outside the schema's enum counts as no outcome."""
    state = read_stream([result(structured_output={"outcome": "maybe", "summary": "?"})])
    with pytest.raises(AgentRunError, match="without reporting an outcome"):
        state.finish(0, False)


def test_timed_out_run_is_an_error_even_with_a_result() -> None:
    """A run that hit its time limit raises, whatever it printed."""
    state = read_stream([result(structured_output=OUTCOME)])
    with pytest.raises(AgentRunError, match="ran past its time limit"):
        state.finish(0, timed_out=True)


def test_no_result_line_reports_the_exit_code() -> None:
    """A stream without a result line raises, naming the exit code."""
    state = read_stream([line({"type": "system", "subtype": "init", "session_id": "s"})])
    with pytest.raises(AgentRunError, match="exited with code 2 and no result"):
        state.finish(2, False)


def test_killed_without_a_result_says_out_of_memory() -> None:
    """Exit 137 with no result line (SIGKILL, the OOM killer's signal) names the memory limit."""
    state = read_stream([line({"type": "system", "subtype": "init", "session_id": "s"})])
    with pytest.raises(AgentRunError, match="out of memory at the sandbox's limit"):
        state.finish(137, False)


def test_budget_exceeded_result_mentions_the_budget() -> None:
    """error_max_budget_usd (no `result` field) raises with the CLI's budget message."""
    state = read_stream(
        [
            result(
                subtype="error_max_budget_usd",
                is_error=True,
                errors=["Reached maximum budget ($0.01)"],
                total_cost_usd=0.0123,
            )
        ]
    )
    with pytest.raises(AgentRunError) as caught:
        state.finish(1, False)
    assert str(caught.value).startswith("the agent run failed: Reached maximum budget ($0.01)")


def test_failure_reason_falls_back_through_result_and_subtype() -> None:
    """Without `errors`, the reason is the result text, then terminal_reason, then subtype."""
    assert failure_reason({"errors": ["a", "b"], "result": "r"}) == "a; b"
    assert failure_reason({"errors": [], "result": "r"}) == "r"
    assert failure_reason({"terminal_reason": "max_turns", "subtype": "x"}) == "max_turns"
    assert failure_reason({"subtype": "error_during_execution"}) == "error_during_execution"
    assert failure_reason({}) == "unknown"


def test_result_session_id_falls_back_to_init() -> None:
    """A result line without session_id takes the one from the init line."""
    state = read_stream(
        [
            line({"type": "system", "subtype": "init", "session_id": "from-init"}),
            result(session_id=None, structured_output=OUTCOME),
        ]
    )
    assert state.finish(0, False).session_id == "from-init"


def test_summary_falls_back_to_result_text() -> None:
    """An empty structured summary falls back to the result's text."""
    state = read_stream(
        [result(structured_output={"outcome": "no_fix", "summary": ""}, result="nothing to change")]
    )
    agent = state.finish(0, False)
    assert (agent.outcome, agent.summary) == (AgentOutcome.NO_FIX, "nothing to change")


def test_malformed_result_fields_become_an_agent_run_error() -> None:
    """A non-numeric cost is reported as AgentRunError, not a stray ValueError."""
    state = read_stream([result(structured_output=OUTCOME, total_cost_usd="lots")])
    with pytest.raises(AgentRunError, match="could not be read"):
        state.finish(0, False)


def test_tail_is_capped_in_lines_and_length() -> None:
    """The tail keeps only the last 20 lines, each cut to 2000 characters, without newlines."""
    state = read_stream([f"line {i}\n" for i in range(100)] + ["y" * 5000 + "\n"])
    assert len(state.tail) == 20
    assert state.tail[0] == "line 81"
    assert state.tail[-1] == "y" * 2000
    with pytest.raises(AgentRunError) as caught:
        state.finish(1, False)
    message = str(caught.value)
    assert "line 80" not in message
    assert "line 81\nline 82" in message
    assert len(message) < 20 * 2000 + 200
