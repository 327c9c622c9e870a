"""The Claude Code runner through the agent-runner port: its argv, environment, probe, stop
command and session lookup."""

from __future__ import annotations

import json

import pytest

from orchestration.agents.claude.command import OUTCOME_SCHEMA
from orchestration.agents.claude.runner import ClaudeCodeRunner
from orchestration.agents.claude.stream import StreamState
from orchestration.agents.port import AgentCommand, AgentInvocation, AgentRunner
from orchestration.models import AgentMode, AgentOutcome

SESSION = "1f0c6a52-3d4e-4b7a-9c1d-2e8f5a6b7c01"
RUNNER: AgentRunner = ClaudeCodeRunner()


def command(runner: AgentRunner = RUNNER, **changes: object) -> AgentCommand:
    values: dict[str, object] = {
        "prompt": "Fix the bug",
        "session_id": SESSION,
        "mode": AgentMode.START,
        "budget_usd": 5.0,
        "model_url": "http://127.0.0.1:8080",
        "model_token": "task-token",
    }
    values.update(changes)
    return runner.run_command(AgentInvocation(**values))  # type: ignore[arg-type]


def claude_argv(**changes: object) -> list[str]:
    return list(command(**changes).argv)


def options(argv: list[str]) -> list[str]:
    """The argv before the `--` that ends the options."""
    return argv[: argv.index("--")]


def value_after(argv: list[str], flag: str) -> str:
    opts = options(argv)
    assert opts.count(flag) == 1, f"{flag} once"
    return opts[opts.index(flag) + 1]


def test_headless_stream_json_flags() -> None:
    """The run is headless, prints stream-json verbosely and skips permission prompts."""
    argv = claude_argv()
    assert argv[:2] == ["claude", "--print"]
    assert value_after(argv, "--output-format") == "stream-json"
    assert "--verbose" in options(argv)
    assert "--dangerously-skip-permissions" in options(argv)


@pytest.mark.parametrize(
    ("budget", "shown"), [(5.0, "5.0000"), (0.004, "0.0040"), (4.99649, "4.9965")]
)
def test_budget_is_passed_without_rounding_to_cents(budget: float, shown: str) -> None:
    """--max-budget-usd keeps sub-cent precision, so a nearly spent budget is not rounded up
    (4.996 must not become 5.00) nor down to zero (0.004 must not become 0.00)."""
    assert value_after(claude_argv(budget_usd=budget), "--max-budget-usd") == shown


def test_json_schema_parses_and_requires_outcome_and_summary() -> None:
    """--json-schema is valid JSON requiring outcome and summary, with the outcome enum."""
    schema = json.loads(value_after(claude_argv(), "--json-schema"))
    assert schema == OUTCOME_SCHEMA
    assert set(schema["required"]) == {"outcome", "summary"}
    assert schema["properties"]["outcome"]["enum"] == [o.value for o in AgentOutcome]


def test_start_uses_session_id() -> None:
    """A START run creates the session with --session-id and does not resume."""
    argv = claude_argv(mode=AgentMode.START)
    assert value_after(argv, "--session-id") == SESSION
    assert "--resume" not in options(argv)


@pytest.mark.parametrize("mode", [AgentMode.ANSWER, AgentMode.FEEDBACK])
def test_answer_and_feedback_resume_the_session(mode: AgentMode) -> None:
    """ANSWER and FEEDBACK runs resume the same session with --resume."""
    argv = claude_argv(mode=mode)
    assert value_after(argv, "--resume") == SESSION
    assert "--session-id" not in options(argv)


def test_model_only_when_set() -> None:
    """--model appears with the name when one is chosen, and not at all otherwise."""
    assert value_after(claude_argv(model="claude-opus-5-5"), "--model") == ("claude-opus-5-5")
    assert "--model" not in claude_argv(model=None)
    assert "--model" not in claude_argv(model="")


@pytest.mark.parametrize(
    "prompt", ["-p evil", "--dangerously-skip-permissions", "--", "plain\nmulti-line prompt"]
)
def test_prompt_is_the_last_argument_after_double_dash(prompt: str) -> None:
    """The prompt comes last, right after `--`, so a prompt starting with '-' is no option."""
    argv = claude_argv(prompt=prompt)
    assert argv[-2:] == ["--", prompt]
    assert argv.index("--") == len(argv) - 2


def test_every_option_value_is_its_own_argument() -> None:
    """No option is glued to its value with '=' or spaces (argv, never a shell string)."""
    argv = claude_argv(model="m")
    assert all(" " not in arg for arg in options(argv) if arg.startswith("--"))


def test_environment_points_at_the_model_gateway() -> None:
    """The environment carries the sandbox's model URL, the task's token and the sandbox HOME."""
    env = command().env
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8080"
    assert env["ANTHROPIC_API_KEY"] == "task-token"
    assert env["HOME"] == "/home/agent"


def test_environment_turns_off_telemetry_and_updates() -> None:
    """Non-essential traffic, telemetry, error reporting and auto-updates are all off."""
    env = command().env
    for flag in (
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        "DISABLE_TELEMETRY",
        "DISABLE_ERROR_REPORTING",
        "DISABLE_AUTOUPDATER",
    ):
        assert env[flag] == "1", flag


def test_environment_limits_the_cli_retries() -> None:
    """CLAUDE_CODE_MAX_RETRIES is set (4 by default) so Temporal owns the longer retries."""
    assert command().env["CLAUDE_CODE_MAX_RETRIES"] == "4"
    no_retries = command(ClaudeCodeRunner(max_retries=0))
    assert no_retries.env["CLAUDE_CODE_MAX_RETRIES"] == "0"


def test_environment_values_are_all_strings() -> None:
    """Every environment value is a string (docker exec rejects anything else)."""
    assert all(isinstance(v, str) for v in command().env.values())


def test_continue_resumes_the_session() -> None:
    """A CONTINUE run (after a lost attempt) resumes the session like an answer does."""
    assert value_after(claude_argv(mode=AgentMode.CONTINUE), "--resume") == SESSION


def test_probe_asks_for_the_version() -> None:
    """The probe runs `claude --version`; an exit 0 with a version line reads as present."""
    probe = RUNNER.probe()
    assert probe.argv == ("claude", "--version")
    assert probe.answered_yes(0, "2.1.330 (Claude Code)\n")
    assert not probe.answered_yes(127, "")
    assert not probe.answered_yes(0, "  \n")


def test_stop_command_terminates_claude_processes() -> None:
    """A left-over run is stopped with SIGTERM to every process naming claude."""
    assert RUNNER.stop_argv() == ("pkill", "-TERM", "-f", "claude")


def test_session_query_looks_for_the_session_file_under_home() -> None:
    """The session lookup searches the CLI's projects folder for `<session>.jsonl`, and only a
    printed path counts as found (find exits 0 on no match too)."""
    query = RUNNER.session_query(SESSION)
    assert query is not None
    assert query.argv == ("find", "/home/agent/.claude/projects", "-name", f"{SESSION}.jsonl")
    assert query.answered_yes(0, f"/home/agent/.claude/projects/-workspace/{SESSION}.jsonl\n")
    assert not query.answered_yes(0, "")
    assert not query.answered_yes(1, "find: No such file or directory")


def test_each_run_gets_a_fresh_stream_parser() -> None:
    """Two runs never share parser state."""
    first, second = RUNNER.new_stream_parser(), RUNNER.new_stream_parser()
    assert isinstance(first, StreamState) and first is not second
    first.feed('{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}')
    assert (first.progress, second.progress) == ("hi", None)


def test_runner_is_named() -> None:
    """The runner's name (for logs) is claude-code."""
    assert RUNNER.name == "claude-code"
