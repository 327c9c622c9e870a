"""The Slack side of the notification port: a task's root message, thread and approval card.

Runs in the worker as the `notify` activity. Slack's rate limits are honoured by the client's
retry handler (it waits out `Retry-After`); errors that retrying cannot fix (the channel is
gone, the bot was removed) are logged and answered with an empty receipt, so the task goes on.
Anything else is raised and retried by Temporal with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity

from bot.slack.blocks.approval_card import approval_card, decided_card
from bot.slack.blocks.milestones import milestone_message
from bot.slack.blocks.task_message import task_root_message
from orchestration.models import (
    Decision,
    DecisionRecord,
    Notice,
    NoticeKind,
    NoticeReceipt,
    SlackThread,
)
from orchestration.policy.validation import cleaned_task

log = structlog.get_logger(__name__)

TASK_METADATA_EVENT = "fixbot_task"
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "no_permission",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "invalid_blocks",
        "msg_too_long",
        "message_not_found",
        "cant_update_message",
        "restricted_action",
    }
)
_THREAD_KINDS = {
    NoticeKind.SANDBOX_READY,
    NoticeKind.AGENT_WORKING,
    NoticeKind.QUESTION,
    NoticeKind.PR_OPENED,
    NoticeKind.NO_CHANGE,
    NoticeKind.FAILED,
    NoticeKind.REJECTED,
    NoticeKind.CANCELLED,
    NoticeKind.EXPIRED,
    NoticeKind.COMPLETED,
}

RunUrl = Callable[[str, str], str | None]


class SlackNotifier:
    """Posts and edits a task's messages with the bot token."""

    def __init__(
        self,
        client: AsyncWebClient,
        run_url: RunUrl,
        *,
        edit_interval_seconds: float = 3.0,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._redact = redact
        self._client = client
        self._run_url = run_url
        self._edit_interval = edit_interval_seconds
        self._last_edit: dict[str, float] = {}

    async def notify(self, notice: Notice) -> NoticeReceipt:
        """Deliver one notice; a permanent Slack error is logged, not raised."""
        notice = notice.model_copy(
            update={
                "run_url": notice.run_url or self._current_run_url(),
                "task": cleaned_task(notice.task),
            }
        )
        try:
            return await self._deliver(notice)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in PERMANENT_ERRORS:
                log.warning(
                    "slack notice dropped",
                    kind=notice.kind.value,
                    error=error,
                    task_id=notice.task.task_id,
                )
                return NoticeReceipt()
            raise

    async def _deliver(self, notice: Notice) -> NoticeReceipt:
        if notice.kind is NoticeKind.STARTED:
            return await self._post_root(notice)
        thread = notice.thread
        if thread is None:
            return NoticeReceipt()
        if notice.kind is NoticeKind.CHANGES_READY:
            receipt = await self._post_card(notice, thread)
        elif notice.kind is NoticeKind.DECIDED:
            receipt = await self._close_card(notice, thread)
        elif notice.kind in _THREAD_KINDS:
            receipt = await self._post_in_thread(thread, milestone_message(notice.kind, notice))
        else:
            receipt = NoticeReceipt(channel_id=thread.channel_id)
        await self._refresh_root(notice, thread)
        return receipt

    async def _post_root(self, notice: Notice) -> NoticeReceipt:
        origin = notice.task.slack
        if origin is None:
            return NoticeReceipt()
        message = task_root_message(notice.task, notice.view, notice.run_url)
        answer = await self._client.chat_postMessage(
            channel=origin.channel_id,
            **redacted(message, self._redact),
            metadata={
                "event_type": TASK_METADATA_EVENT,
                "event_payload": {"task_id": notice.task.task_id},
            },
        )
        return NoticeReceipt(channel_id=str(answer["channel"]), ts=str(answer["ts"]))

    async def _post_card(self, notice: Notice, thread: SlackThread) -> NoticeReceipt:
        card = approval_card(notice, max(notice.view.revision, 1))
        return await self._post_in_thread(thread, card)

    async def _close_card(self, notice: Notice, thread: SlackThread) -> NoticeReceipt:
        record, changes_requested = decision_of(notice)
        if thread.card_ts is None or record is None:
            return NoticeReceipt(channel_id=thread.channel_id)
        message = decided_card(
            notice,
            record,
            changes_requested=changes_requested,
            round=max(notice.view.revision, 1),
        )
        await self._client.chat_update(
            channel=thread.channel_id, ts=thread.card_ts, **redacted(message, self._redact)
        )
        return NoticeReceipt(channel_id=thread.channel_id, ts=thread.card_ts)

    async def _post_in_thread(self, thread: SlackThread, message: dict[str, Any]) -> NoticeReceipt:
        answer = await self._client.chat_postMessage(
            channel=thread.channel_id, thread_ts=thread.root_ts, **redacted(message, self._redact)
        )
        return NoticeReceipt(channel_id=thread.channel_id, ts=str(answer["ts"]))

    async def _refresh_root(self, notice: Notice, thread: SlackThread) -> None:
        """Edit the root message's status line; progress at most every few seconds."""
        now = time.monotonic()
        last = self._last_edit.get(thread.root_ts, 0.0)
        if notice.kind is NoticeKind.PROGRESS and now - last < self._edit_interval:
            return
        self._last_edit[thread.root_ts] = now
        message = task_root_message(notice.task, notice.view, notice.run_url)
        await self._client.chat_update(
            channel=thread.channel_id, ts=thread.root_ts, **redacted(message, self._redact)
        )

    def _current_run_url(self) -> str | None:
        if not activity.in_activity():
            return None
        info = activity.info()
        return self._run_url(info.workflow_id or "", info.workflow_run_id or "")


def decision_of(notice: Notice) -> tuple[DecisionRecord | None, bool]:
    """The decision a DECIDED notice shows, and whether it was a request for changes."""
    view = notice.view
    if view.decision is not None:
        return view.decision, False
    if view.change_request is None:
        return None, False
    request = view.change_request
    asked = Decision(approve=False, by=request.by, comment=request.feedback)
    return DecisionRecord(decision=asked, at=datetime.now(UTC)), True


def redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string in a message, with known secrets and token patterns removed."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, redact) for item in value]
    return value
