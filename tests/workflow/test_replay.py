"""Today's workflow code must replay the histories of earlier versions: tasks waiting for
approval in production run on whatever code is deployed next. Change the workflow with
`workflow.patched` when this fails, then record new histories (record_histories.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orchestration.workflows.bugfix import BugFixWorkflow

HISTORIES = sorted(Path(__file__).with_name("histories").glob("*.json"))
HISTORY_TEXT = {path: path.read_text() for path in HISTORIES}


def test_saved_histories_exist() -> None:
    """The replay test has histories of each release to replay, a continued-as-new task's
    two runs among them."""
    assert {p.stem for p in HISTORIES} >= {
        "approved",
        "rejected",
        "clarified",
        "cancelled",
        "slack_approved",
        "changes_requested",
        "long_wait_before_reshape",
        "v2_cli_approved",
        "v2_cancelled",
        "v2_continued_run1",
        "v2_continued_run2",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays_without_nondeterminism(path: Path) -> None:
    """Replaying a saved history raises no non-determinism error."""
    history = WorkflowHistory.from_json(f"fixbot-replay-{path.stem}", HISTORY_TEXT[path])
    replayer = Replayer(workflows=[BugFixWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
