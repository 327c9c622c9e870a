"""The only place that builds the `claude` command line."""

from __future__ import annotations

import json
from dataclasses import dataclass

from orchestration.models import AgentMode

OUTCOME_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "outcome": {"type": "string", "enum": ["fixed", "no_fix", "needs_clarification"]},
        "summary": {"type": "string", "description": "What was changed and why, or what was found"},
        "question": {
            "type": "string",
            "description": "The one question, when clarification is needed",
        },
    },
    "required": ["outcome", "summary"],
}

SANDBOX_HOME = "/home/agent"
# the image's bash wrapper: tool commands go first to the OOM killer, claude last
TOOL_SHELL = "/usr/local/bin/fixbot-bash"


@dataclass(frozen=True)
class ClaudeInvocation:
    """One run of the CLI inside the sandbox."""

    prompt: str
    session_id: str
    mode: AgentMode
    budget_usd: float
    model: str | None = None


def claude_argv(run: ClaudeInvocation) -> list[str]:
    """argv for a headless run whose stdout is stream-json, ending in a structured outcome."""
    session = (
        ["--session-id", run.session_id]
        if run.mode is AgentMode.START
        else ["--resume", run.session_id]
    )
    model = ["--model", run.model] if run.model else []
    return [
        "claude",
        "--print",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
        "--max-budget-usd",
        f"{run.budget_usd:.4f}",
        "--json-schema",
        json.dumps(OUTCOME_SCHEMA, separators=(",", ":")),
        *session,
        *model,
        "--",
        run.prompt,
    ]


def claude_environment(base_url: str, api_key: str, max_retries: int = 4) -> dict[str, str]:
    """The exec environment: where the model is, and no chatter beyond it."""
    return {
        "HOME": SANDBOX_HOME,
        "SHELL": TOOL_SHELL,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # the CLI's default is 10 retries over about 3 minutes; Temporal owns the longer view
        "CLAUDE_CODE_MAX_RETRIES": str(max_retries),
    }
