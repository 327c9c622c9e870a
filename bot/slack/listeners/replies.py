"""Thread replies: a reply in a task's thread answers the agent's question.

The task is found from the thread's root message, which fixbot posted with the task id in its
metadata. Replies in other threads, from bots, or edits are ignored.
"""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.access import SlackAccess
from bot.slack.notifier import TASK_METADATA_EVENT
from orchestration.client.gateway import ActionRefused, TaskGateway, UnknownTask
from orchestration.models import Answer

log = structlog.get_logger(__name__)


class ThreadTasks:
    """Which task a thread belongs to (asked of Slack once per thread, then remembered)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._known: dict[tuple[str, str], str | None] = {}

    async def task_of(self, channel: str, thread_ts: str) -> str | None:
        key = (channel, thread_ts)
        if key not in self._known:
            self._known[key] = await self._look_up(channel, thread_ts)
        return self._known[key]

    async def _look_up(self, channel: str, thread_ts: str) -> str | None:
        answer = await self._client.conversations_replies(
            channel=channel, ts=thread_ts, limit=1, include_all_metadata=True
        )
        messages = answer.get("messages") or []
        metadata = (messages[0].get("metadata") or {}) if messages else {}
        if metadata.get("event_type") != TASK_METADATA_EVENT:
            return None
        return str((metadata.get("event_payload") or {}).get("task_id") or "") or None


def is_human_thread_reply(event: dict[str, Any]) -> bool:
    """A person's new message inside a thread (not the root, not a bot, not an edit)."""
    thread_ts = event.get("thread_ts")
    return bool(
        thread_ts
        and thread_ts != event.get("ts")
        and not event.get("bot_id")
        and not event.get("subtype")
        and event.get("user")
        and event.get("text", "").strip()
    )


def register(
    app: AsyncApp, gateway: TaskGateway, access: SlackAccess, threads: ThreadTasks
) -> None:
    """Attach the thread-reply listener."""

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        if not is_human_thread_reply(event):
            return
        channel, user = event["channel"], event["user"]
        task_id = await threads.task_of(channel, event["thread_ts"])
        if task_id is None:
            return
        if not await access.may_answer(user, channel, requester=None):
            log.info("thread reply from someone not allowed", task_id=task_id, user=user)
            return
        try:
            await gateway.answer(task_id, Answer(by=user, text=event["text"]))
        except (ActionRefused, UnknownTask) as exc:
            log.info("thread reply not delivered", task_id=task_id, reason=str(exc))
