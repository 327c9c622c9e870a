"""Claude Code behind the agent-runner port: its command line and its stream-json output."""
