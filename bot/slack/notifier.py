"""The Slack channel: a task's root message, thread and approval card, rendered from task events.

Runs in the worker under the `notify` activity, for tasks started in Slack. Slack's rate limits
are honoured by the client's retry handler (it waits out `Retry-After`); errors that retrying
cannot fix (the channel is gone, the bot was removed) are raised as `DeliveryRefused`, which the
fan-out logs, so the task goes on. Anything else is raised and retried by Temporal with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity

from bot.slack.blocks.approval_card import approval_card, decided_card
from bot.slack.blocks.milestones import is_milestone, milestone_message
from bot.slack.blocks.task_message import task_root_message
from orchestration.channels.port import DeliveryRefused
from orchestration.models import Decision, DecisionRecord
from orchestration.models.events import (
    Decided,
    DeliveryReceipt,
    EventDelivery,
    OriginKind,
    TaskOrigin,
    Thread,
)
from orchestration.policy.sanitize import clean_text
from orchestration.policy.validation import MAX_DESCRIPTION, MAX_TITLE

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

RunUrl = Callable[[str, str], str | None]


class SlackChannel:
    """Posts and edits a Slack task's messages with the bot token."""

    name = "slack"

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

    def serves(self, origin: TaskOrigin) -> bool:
        return origin.kind is OriginKind.SLACK and origin.channel is not None

    async def deliver(self, delivery: EventDelivery) -> DeliveryReceipt:
        """Render one event; a permanent Slack error is raised as DeliveryRefused."""
        delivery = cleaned(delivery).model_copy(
            update={"run_url": delivery.run_url or self._current_run_url()}
        )
        try:
            return await self._deliver(delivery)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in PERMANENT_ERRORS:
                raise DeliveryRefused(f"slack: {error}") from exc
            raise

    async def _deliver(self, delivery: EventDelivery) -> DeliveryReceipt:
        event = delivery.event
        if event.kind == "started":
            return await self._post_root(delivery)
        thread = delivery.thread
        if thread is None:
            return DeliveryReceipt()
        if event.kind == "card_ready":
            receipt = await self._post_in_thread(thread, approval_card(delivery))
        elif isinstance(event, Decided):
            receipt = await self._close_card(delivery, event, thread)
        elif is_milestone(delivery):
            receipt = await self._post_in_thread(thread, milestone_message(delivery))
        else:
            receipt = DeliveryReceipt(channel=thread.channel)
        await self._refresh_root(delivery, thread)
        return receipt

    async def _post_root(self, delivery: EventDelivery) -> DeliveryReceipt:
        channel = delivery.headline.origin.channel
        if channel is None:
            return DeliveryReceipt()
        answer = await self._client.chat_postMessage(
            channel=channel,
            **redacted(task_root_message(delivery), self._redact),
            metadata={
                "event_type": TASK_METADATA_EVENT,
                "event_payload": {"task_id": delivery.headline.task_id},
            },
        )
        return DeliveryReceipt(channel=str(answer["channel"]), message=str(answer["ts"]))

    async def _close_card(
        self, delivery: EventDelivery, event: Decided, thread: Thread
    ) -> DeliveryReceipt:
        record, changes_requested = decision_of(event)
        if thread.card is None or record is None or delivery.card is None:
            return DeliveryReceipt(channel=thread.channel)
        message = decided_card(delivery, record, changes_requested=changes_requested)
        await self._client.chat_update(
            channel=thread.channel, ts=thread.card, **redacted(message, self._redact)
        )
        return DeliveryReceipt(channel=thread.channel, message=thread.card)

    async def _post_in_thread(self, thread: Thread, message: dict[str, Any]) -> DeliveryReceipt:
        answer = await self._client.chat_postMessage(
            channel=thread.channel, thread_ts=thread.root, **redacted(message, self._redact)
        )
        return DeliveryReceipt(channel=thread.channel, message=str(answer["ts"]))

    async def _refresh_root(self, delivery: EventDelivery, thread: Thread) -> None:
        """Edit the root message's status line; progress at most every few seconds."""
        now = time.monotonic()
        last = self._last_edit.get(thread.root, 0.0)
        if delivery.event.kind == "progress" and now - last < self._edit_interval:
            return
        if delivery.event.kind == "finished":
            self._last_edit.pop(thread.root, None)  # no more edits for this task
        else:
            self._last_edit[thread.root] = now
        await self._client.chat_update(
            channel=thread.channel,
            ts=thread.root,
            **redacted(task_root_message(delivery), self._redact),
        )

    def _current_run_url(self) -> str | None:
        if not activity.in_activity():
            return None
        info = activity.info()
        return self._run_url(info.workflow_id or "", info.workflow_run_id or "")


def cleaned(delivery: EventDelivery) -> EventDelivery:
    """The delivery with the task's title and description cleaned of hidden content."""
    headline = delivery.headline
    update = {
        "title": clean_text(headline.title, limit=MAX_TITLE).text,
        "description": clean_text(headline.description, limit=MAX_DESCRIPTION).text,
    }
    return delivery.model_copy(update={"headline": headline.model_copy(update=update)})


def decision_of(event: Decided) -> tuple[DecisionRecord | None, bool]:
    """The decision a `decided` event shows, and whether it was a request for changes."""
    if event.record is not None:
        return event.record, False
    if event.change_request is None:
        return None, False
    request = event.change_request
    asked = Decision(approve=False, by=request.by, comment=request.feedback)
    return DecisionRecord(decision=asked, at=event.at), True


def redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string in a message, with known secrets and token patterns removed."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, redact) for item in value]
    return value
