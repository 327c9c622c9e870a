"""Agent session transcripts, kept on the worker after every run.

The transcript is how anyone finds out later what the agent actually did (a fix it claimed
but never wrote, a command it ran), and it dies with the sandbox. Each run's transcript is
copied out, bounded, into `<root>/<task id>/<session id>.jsonl`, readable by the worker's
user only.
"""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.naming import check_task_id

MAX_TRANSCRIPT_BYTES = 64 << 20
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class TranscriptStore:
    """Transcripts under one directory, one folder per task."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, task_id: str, session_id: str, transcript: bytes) -> Path:
        """Write (or replace) the session's transcript; returns where it is."""
        if not _SESSION_ID.fullmatch(session_id):
            raise ValueError(f"session id {session_id!r} cannot name a file")
        folder = self.root / check_task_id(task_id)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{session_id}.jsonl"
        path.touch(mode=0o600)
        path.write_bytes(transcript[:MAX_TRANSCRIPT_BYTES])
        return path
