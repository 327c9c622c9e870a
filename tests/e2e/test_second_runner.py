"""A second agent runner, a shell script, takes a task through the real workflow, Docker
sandbox and forge: the workflow depends on the agent-runner port, not on Claude Code."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bot.cli.demo_repo import BUGGY_LINE, FIXED_LINE, PRICING, README, TESTS
from orchestration.agents.port import AgentCommand, AgentInvocation, AgentRunner, SandboxQuery
from orchestration.agents.result_line import ResultLineParser, result_line
from orchestration.client.gateway import workflow_id
from orchestration.models import AgentMode, AgentOutcome, AgentResult, TaskStatus
from orchestration.workflows.bugfix import BugFixWorkflow
from tests.e2e.conftest import Loop, shop_task
from tests.fakes.github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

StartLoop = Callable[..., Coroutine[Any, Any, Loop]]
RUNNER_SESSION = "shell-runner-session-1"
SUMMARY = "apply_discount now subtracts the percentage"
FORGED_COST_USD = 250.0  # what the script claims it cost; it made no model request at all
# the port's result line, with a session id of the runner's own choosing
RESULT_LINE = result_line(
    AgentResult(
        session_id=RUNNER_SESSION,
        outcome=AgentOutcome.FIXED,
        summary=SUMMARY,
        num_turns=1,
        cost_usd=FORGED_COST_USD,
    )
)
# a fixed script, given the result line as its $1 (argv, never spliced into the script): check
# the workspace guide is there, fix the sign, then report
SCRIPT = """\
set -eu
test -s /workspace/AGENTS.md
echo "editing /workspace/shop/pricing.py"
sed -i 's/(100 + percent)/(100 - percent)/' /workspace/shop/pricing.py
printf '%s\\n' "$1"
"""
PROCESS_NAME = "fixbot-shell-runner"  # the script's $0, which stop_argv matches


class ShellScriptRunner:
    """The trivial runner: bash runs SCRIPT; it cannot resume, so it keeps no sessions."""

    def __init__(
        self, script: str = SCRIPT, parser: type[ResultLineParser] = ResultLineParser
    ) -> None:
        self._script = script
        self._parser = parser

    @property
    def name(self) -> str:
        return "shell-script"

    @property
    def guide_files(self) -> tuple[str, ...]:
        return ()  # AGENTS.md, which every task gets, is what the script checks

    def transcript_argv(self, session_id: str, max_bytes: int) -> tuple[str, ...] | None:
        return None  # a script keeps no transcript

    def probe(self) -> SandboxQuery:
        return SandboxQuery(("bash", "--version"))

    def run_command(self, invocation: AgentInvocation) -> AgentCommand:
        assert invocation.mode is AgentMode.START, "this runner only starts"
        return AgentCommand(
            ("bash", "-c", self._script, PROCESS_NAME, RESULT_LINE), {"HOME": "/home/agent"}
        )

    def stop_argv(self) -> tuple[str, ...]:
        return ("pkill", "-TERM", "-f", PROCESS_NAME)

    def session_query(self, session_id: str) -> SandboxQuery | None:
        return None

    def new_stream_parser(self) -> ResultLineParser:
        return self._parser()


class CredulousParser(ResultLineParser):
    """A runner's parser that believes a printed result whatever the exit code was."""

    def finish(self, exit_code: int, timed_out: bool) -> AgentResult:
        return super().finish(0, timed_out)


def test_the_shell_script_runner_has_every_member_of_the_port() -> None:
    """The stand-in implements the whole AgentRunner protocol (tests are not type-checked)."""
    wanted = {name for name in vars(AgentRunner) if not name.startswith("_")}
    assert wanted <= set(dir(ShellScriptRunner)), wanted - set(dir(ShellScriptRunner))


async def test_shell_script_runner_completes_a_task_with_its_own_session(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The script's edit becomes the pull request, its summary the task's, and the session id
    the workflow keeps is the one the runner reported, not the one it proposed."""
    url = fake_github.create_repo(
        "acme", "shop", {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
    )
    loop = await start_loop("http://127.0.0.1:9", agent_runner=ShellScriptRunner())
    task = shop_task(loop, url)
    await loop.gateway.start(task)
    result = await loop.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    assert result.files_changed == {"shop": ["pricing.py"]}
    assert result.summary == SUMMARY
    assert result.cost_usd == 0.0  # the proxy metered nothing; the claimed $250 is not believed
    diff = fake_github.diff("acme", "shop", "main", f"fixbot/{task.task_id}")
    assert f"-{BUGGY_LINE}" in diff and f"+{FIXED_LINE}" in diff
    assert len(fake_github.pulls("acme", "shop")) == 1
    handle = loop.gateway.client.get_workflow_handle(workflow_id(task.task_id))
    agent = await handle.query(BugFixWorkflow.agent_result)
    assert agent is not None and agent.session_id == RUNNER_SESSION
    assert loop.backend.find(task.task_id) is None


async def test_a_run_that_exits_non_zero_has_failed_whatever_it_printed(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The script edits, prints a "fixed" result and exits 3: even with a runner whose parser
    believes the result, the task fails saying so, and no pull request is opened."""
    url = fake_github.create_repo(
        "acme", "shop", {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
    )
    runner = ShellScriptRunner(SCRIPT + "exit 3\n", CredulousParser)
    loop = await start_loop("http://127.0.0.1:9", agent_runner=runner)
    task = shop_task(loop, url)
    await loop.gateway.start(task)
    result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert "the agent exited with code 3 after printing a result" in (result.error or "")
    assert fake_github.pulls("acme", "shop") == []
    assert loop.backend.find(task.task_id) is None
