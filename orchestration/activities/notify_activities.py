"""The notification port: how the workflow tells people what happens, wherever they are.

The orchestration defines it; the Slack bot implements it (bot/slack/notifier.py); the worker
wires one in. A notifier must never hold a task up: transient errors are raised (Temporal
retries them with backoff), permanent ones are logged and answered with an empty receipt.
"""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from orchestration.activities import names as names
from orchestration.models import Notice, NoticeReceipt


class Notifier(Protocol):
    """Delivers one notice; returns where it landed."""

    async def notify(self, notice: Notice) -> NoticeReceipt: ...


class NullNotifier:
    """For workers without a chat integration: notices go to the log only."""

    async def notify(self, notice: Notice) -> NoticeReceipt:
        activity.logger.info("notice %s for task %s", notice.kind.value, notice.task.task_id)
        return NoticeReceipt()


class NotifyActivities:
    """The notify activity, backed by whichever notifier the worker was given."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    @activity.defn(name=names.NOTIFY)
    async def notify(self, notice: Notice) -> NoticeReceipt:
        """Deliver a notice (Slack thread, ...)."""
        return await self._notifier.notify(notice)
