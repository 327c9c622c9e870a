"""Telling the task's workflow what an activity is doing now (its status line)."""

from __future__ import annotations

import contextlib

from temporalio import activity

from orchestration.models import AgentProgress

PROGRESS_SIGNAL = "report_progress"


async def signal_progress(text: str, cost_usd: float | None = None) -> None:
    """Signal the running activity's workflow; best effort, a failure never fails the step."""
    info = activity.info()
    if info.workflow_id is None:
        return
    handle = activity.client().get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
    with contextlib.suppress(Exception):
        await handle.signal(PROGRESS_SIGNAL, AgentProgress(text=text, cost_usd=cost_usd))
