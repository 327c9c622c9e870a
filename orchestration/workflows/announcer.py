"""The workflow's side of notifications: which notice goes out when, without holding it up.

Runs inside the workflow (deterministic: only workflow APIs). Most notices are sent without
waiting (a slow or failing chat service never blocks a task); the root message and the
approval card are awaited, briefly, because their message ids are needed later. Everything
still in flight is awaited once at the end, so the final word reaches the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from orchestration.activities import names as names
    from orchestration.models import (
        Notice,
        NoticeKind,
        NoticeReceipt,
        SlackThread,
        TaskInput,
        TaskView,
    )
    from orchestration.workflows.waits import wait_through_cancel

NOTICE_DEADLINE = timedelta(seconds=60)
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=5
)
PROGRESS_EVERY = timedelta(seconds=5)


class Announcer:
    """Sends a task's notices; a no-op for tasks that did not come from chat."""

    def __init__(self, task: TaskInput, view: Callable[[], TaskView]) -> None:
        self._task = task
        self._view = view
        self.thread: SlackThread | None = None
        self._pending: list[Any] = []
        self._last_progress: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self._task.slack is not None

    async def started(self) -> None:
        """Post the root message; its id becomes the task's thread."""
        receipt = await self._deliver(NoticeKind.STARTED)
        if self.enabled and receipt is not None and receipt.ts and receipt.channel_id:
            self.thread = SlackThread(channel_id=receipt.channel_id, root_ts=receipt.ts)

    async def card(self) -> None:
        """Post the approval card and remember it, so the decision can be shown on it."""
        receipt = await self._deliver(NoticeKind.CHANGES_READY)
        if self.thread is not None and receipt is not None and receipt.ts:
            self.thread = self.thread.model_copy(update={"card_ts": receipt.ts})

    def post(self, kind: NoticeKind, text: str = "") -> None:
        """Send a notice without waiting for it."""
        if not self.enabled:
            return
        self._pending = [h for h in self._pending if not h.done()]
        self._pending.append(
            workflow.start_activity(
                names.NOTIFY,
                self._notice(kind, text),
                result_type=NoticeReceipt,
                schedule_to_close_timeout=NOTICE_DEADLINE,
                retry_policy=NOTICE_RETRY,
            )
        )

    def progress(self, text: str) -> None:
        """Refresh the status line, at most every few seconds."""
        now = workflow.now()
        if self._last_progress is not None and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        self.post(NoticeKind.PROGRESS, text)

    async def finish(self, kind: NoticeKind, text: str = "") -> None:
        """The final notice, then wait for every notice still in flight (a cancel of the
        workflow arriving now does not cut the final word short)."""
        self.post(kind, text)
        pending, self._pending = self._pending, []
        await wait_through_cancel(lambda: all(h.done() for h in pending))
        await asyncio.gather(*pending, return_exceptions=True)  # failures were logged

    async def _deliver(self, kind: NoticeKind) -> NoticeReceipt | None:
        if not self.enabled:
            return None
        try:
            receipt: NoticeReceipt = await workflow.execute_activity(
                names.NOTIFY,
                self._notice(kind, ""),
                result_type=NoticeReceipt,
                schedule_to_close_timeout=NOTICE_DEADLINE,
                retry_policy=NOTICE_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("notice %s not delivered: %s", kind.value, exc)
            return None
        return receipt

    def _notice(self, kind: NoticeKind, text: str) -> Notice:
        return Notice(
            kind=kind,
            task=self._task,
            view=_without_patches(self._view()),
            text=text,
            thread=self.thread,
        )


def _without_patches(view: TaskView) -> TaskView:
    """The view as a person sees it: files, counts and digest, but not the patch text, which
    would otherwise be copied into history with every notice."""
    if view.changes is None:
        return view
    slim = [c.model_copy(update={"patch": ""}) for c in view.changes.repositories]
    changes = view.changes.model_copy(update={"repositories": slim})
    return view.model_copy(update={"changes": changes})
