"""The agent-runner port: what the agent activity needs from a coding-agent CLI.

The activity runs whatever CLI sits behind this protocol in the task's sandbox, always as an
argv list (never a shell string). Each CLI lives in its own package under
`orchestration/agents/` and nothing outside that package names it; the worker chooses one.

Session ids: the workflow proposes one (`AgentInvocation.session_id`) so that a CLI which
accepts a chosen id (Claude Code does) can be resumed under it. A CLI that picks its own may
ignore the proposal; the session that counts is always the one in the runner's `AgentResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from orchestration.models import AgentMode, AgentResult


class AgentRunError(RuntimeError):
    """The run failed; the message carries the reason and the tail of the output."""


@dataclass(frozen=True)
class SandboxQuery:
    """A question asked in the sandbox as a command. The answer is yes when the command exits
    0 and prints something: one rule for every runner, so the activity reads them all alike."""

    argv: tuple[str, ...]
    timeout_seconds: float = 60

    def answered_yes(self, exit_code: int, stdout: str) -> bool:
        return exit_code == 0 and bool(stdout.strip())


@dataclass(frozen=True)
class AgentInvocation:
    """One run of the CLI: what to say, which session, how much to spend, and the model
    endpoint inside the sandbox (the task's proxy route, with its own token)."""

    prompt: str
    session_id: str  # proposed; a runner that chooses its own ids may ignore it
    mode: AgentMode
    budget_usd: float
    model_url: str
    model_token: str
    model: str | None = None


@dataclass(frozen=True)
class AgentCommand:
    """The argv and complete environment (HOME included) of one run in the sandbox."""

    argv: tuple[str, ...]
    env: Mapping[str, str]


class AgentStreamParser(Protocol):
    """Reads one run's stdout, line by line, into progress and then a result."""

    @property
    def progress(self) -> str | None:
        """The latest progress text (what the agent is doing), if any yet."""

    def feed(self, line: str) -> str | None:
        """Take one output line; return a new progress text when the line gives one."""

    def finish(self, exit_code: int, timed_out: bool) -> AgentResult:
        """The run's result once the command has ended, or AgentRunError saying why not."""


class AgentRunner(Protocol):
    """A coding-agent CLI as the agent activity drives it."""

    @property
    def name(self) -> str:
        """A short name for logs and errors ("claude-code")."""

    @property
    def guide_files(self) -> tuple[str, ...]:
        """Names of the instruction files this CLI reads at the top of its working directory,
        besides AGENTS.md (which every task gets): ("CLAUDE.md",) for Claude Code."""

    def probe(self) -> SandboxQuery:
        """Whether the CLI is installed and starts in the sandbox (its version on stdout)."""

    def run_command(self, invocation: AgentInvocation) -> AgentCommand:
        """The command for a start (AgentMode.START) or a resume (ANSWER, FEEDBACK, CONTINUE)."""

    def stop_argv(self) -> tuple[str, ...]:
        """A command that stops a run left behind by a lost attempt (or a cancelled one)."""

    def session_query(self, session_id: str) -> SandboxQuery | None:
        """Whether a lost attempt got far enough to leave a session that a retry can resume;
        None when this CLI cannot tell (the retry then starts over)."""

    def transcript_argv(self, session_id: str, max_bytes: int) -> tuple[str, ...] | None:
        """A command printing (at most max_bytes of) the session's transcript, kept outside
        the sandbox after every run; None when this CLI keeps none."""

    def new_stream_parser(self) -> AgentStreamParser:
        """A fresh parser for one run's output."""
