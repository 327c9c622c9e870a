"""Transcripts are kept per task and session, bounded, private, and never outside the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.activities.transcripts import MAX_TRANSCRIPT_BYTES, TranscriptStore
from sandbox.interface import SandboxError


def test_a_transcript_lands_in_its_tasks_folder_readable_by_the_worker_only(
    tmp_path: Path,
) -> None:
    """`<root>/<task>/<session>.jsonl`, mode 0600, in a 0700 folder; a second save replaces."""
    store = TranscriptStore(tmp_path / "transcripts")
    store.save("20261202-abc123", "5f0c-11", b"first")
    path = store.save("20261202-abc123", "5f0c-11", b'{"type":"result"}\n')
    assert path == tmp_path / "transcripts" / "20261202-abc123" / "5f0c-11.jsonl"
    assert path.read_bytes() == b'{"type":"result"}\n'
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("session", ["../escape", "a/b", "", ".hidden", "x" * 200])
def test_a_session_id_that_is_not_a_plain_name_is_refused(tmp_path: Path, session: str) -> None:
    """The session id comes from the agent's output: it cannot pick the file's place."""
    with pytest.raises(ValueError, match="cannot name a file"):
        TranscriptStore(tmp_path).save("t1", session, b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_task_id_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError):
        TranscriptStore(tmp_path).save("../t1", "s1", b"x")


def test_a_huge_transcript_is_cut_at_the_bound(tmp_path: Path) -> None:
    path = TranscriptStore(tmp_path).save("t1", "s1", b"y" * (MAX_TRANSCRIPT_BYTES + 10))
    assert path.stat().st_size == MAX_TRANSCRIPT_BYTES
