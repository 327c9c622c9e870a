"""orchestration.agents.result_line: the port's plain output format (progress lines, one
`agent_result` JSON line) that a runner without a format of its own can print."""

from __future__ import annotations

import json

import pytest

from orchestration.agents.port import AgentRunError
from orchestration.agents.result_line import ResultLineParser, result_line
from orchestration.models import AgentOutcome, AgentResult, TokenUsage

RESULT = AgentResult(
    session_id="own-session-7",
    outcome=AgentOutcome.FIXED,
    summary="changed the sign",
    cost_usd=0.25,
    usage=TokenUsage(input_tokens=3, output_tokens=4),
    num_turns=1,
)


def fed(*lines: str) -> ResultLineParser:
    parser = ResultLineParser()
    for text in lines:
        parser.feed(text)
    return parser


def test_result_line_round_trips_through_the_parser() -> None:
    """What result_line() prints, the parser reads back as the same AgentResult."""
    assert fed(result_line(RESULT) + "\n").finish(0, False) == RESULT


def test_result_keeps_the_session_the_runner_chose() -> None:
    """The session id is the one in the result line, whatever was proposed to the runner."""
    assert fed(result_line(RESULT)).finish(0, False).session_id == "own-session-7"


def test_plain_lines_are_progress_and_the_result_line_is_not() -> None:
    """Non-blank plain lines become progress (stripped); blank and result lines do not."""
    parser = ResultLineParser()
    assert parser.feed("  editing pricing.py \n") == "editing pricing.py"
    assert parser.feed("\n") is None
    assert parser.feed(result_line(RESULT)) is None
    assert parser.progress == "editing pricing.py"


def test_other_json_lines_are_progress() -> None:
    """A JSON line without the result key is just something the CLI printed."""
    assert ResultLineParser().feed('{"note": 1}') == '{"note": 1}'


def test_long_progress_is_cut() -> None:
    """Progress text is kept to 160 characters."""
    assert len(ResultLineParser().feed("x" * 500) or "") == 160


def test_no_result_line_is_an_error_with_the_exit_code_and_tail() -> None:
    """Without a result line, finish() raises naming the exit code, with the last output."""
    with pytest.raises(AgentRunError) as caught:
        fed("working", "crashed").finish(3, False)
    message = str(caught.value)
    assert message.startswith("the agent exited with code 3 and no result")
    assert "--- last output ---\nworking\ncrashed" in message


def test_timeout_is_an_error_even_with_a_result() -> None:
    """A run past its time limit fails, whatever it printed."""
    with pytest.raises(AgentRunError, match="ran past its time limit"):
        fed(result_line(RESULT)).finish(0, True)


def test_nonzero_exit_after_a_result_is_an_error() -> None:
    """A result followed by a failing exit is not trusted."""
    with pytest.raises(AgentRunError, match="exited with code 1"):
        fed(result_line(RESULT)).finish(1, False)


def test_malformed_result_is_reported_as_unreadable() -> None:
    """A result line whose outcome is outside the enum says the result could not be read."""
    bad = json.dumps({"agent_result": {"session_id": "s", "outcome": "maybe"}})
    with pytest.raises(AgentRunError, match="could not be read"):
        fed(bad).finish(0, False)
