"""Claude Code behind the agent-runner port."""

from __future__ import annotations

from orchestration.agents.claude.command import (
    SANDBOX_HOME,
    ClaudeInvocation,
    claude_argv,
    claude_environment,
)
from orchestration.agents.claude.stream import StreamState
from orchestration.agents.port import AgentCommand, AgentInvocation, SandboxQuery

# where the CLI keeps its sessions, one `<session-id>.jsonl` per session under a folder per
# working directory
SESSIONS_DIR = f"{SANDBOX_HOME}/.claude/projects"


class ClaudeCodeRunner:
    """The `claude` CLI, run headless with stream-json output. It accepts the session id the
    workflow proposes (`--session-id`), so its result reports that same id."""

    def __init__(self, *, max_retries: int = 4) -> None:
        self._max_retries = max_retries

    @property
    def name(self) -> str:
        return "claude-code"

    @property
    def guide_files(self) -> tuple[str, ...]:
        return ("CLAUDE.md",)

    def probe(self) -> SandboxQuery:
        return SandboxQuery(("claude", "--version"))

    def run_command(self, invocation: AgentInvocation) -> AgentCommand:
        run = ClaudeInvocation(
            prompt=invocation.prompt,
            session_id=invocation.session_id,
            mode=invocation.mode,
            budget_usd=invocation.budget_usd,
            model=invocation.model,
        )
        env = claude_environment(
            invocation.model_url, invocation.model_token, max_retries=self._max_retries
        )
        return AgentCommand(argv=tuple(claude_argv(run)), env=env)

    def stop_argv(self) -> tuple[str, ...]:
        return ("pkill", "-TERM", "-f", "claude")

    def session_query(self, session_id: str) -> SandboxQuery:
        """Prints the session's file when claude wrote one (it does from its first turn)."""
        return SandboxQuery(("find", SESSIONS_DIR, "-name", f"{session_id}.jsonl"), 30)

    def transcript_argv(self, session_id: str, max_bytes: int) -> tuple[str, ...]:
        """The session's .jsonl under ~/.claude/projects (the folder is named after the cwd)."""
        name = f"{session_id}.jsonl"
        return (
            "find",
            SESSIONS_DIR,
            "-name",
            name,
            "-exec",
            "head",
            "-c",
            str(max_bytes),
            "{}",
            ";",
        )

    def new_stream_parser(self) -> StreamState:
        return StreamState()
