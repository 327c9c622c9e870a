"""Deciding on a fix from its card: Approve, Reject, Request changes; and Cancel on the task.

Every decision goes through the workflow's validated update; a refusal (not an approver,
already decided, the task has ended) comes back at once and is shown only to the clicker.
"""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import ids
from bot.slack.blocks.modals import feedback_modal
from bot.slack.blocks.text import mention
from bot.slack.parsing import parse_feedback_submission
from orchestration.client.gateway import ActionRefused, TaskGateway, UnknownTask
from orchestration.models import CancelRequest, ChangeRequest, Decision

log = structlog.get_logger(__name__)


def register(app: AsyncApp, gateway: TaskGateway) -> None:
    """Attach the card's and the root message's button listeners."""

    @app.action(ids.APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await _decide(gateway, client, body, approve=True)

    @app.action(ids.REJECT)
    async def reject(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await _decide(gateway, client, body, approve=False)

    @app.action(ids.REQUEST_CHANGES)
    async def request_changes(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=feedback_modal(_task_id(body)))

    @app.view(ids.FEEDBACK_MODAL)
    async def feedback(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        parsed = parse_feedback_submission(view["state"]["values"])
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        request = ChangeRequest(by=body["user"]["id"], feedback=parsed)
        try:
            await gateway.request_changes(view["private_metadata"], request)
        except (ActionRefused, UnknownTask) as exc:
            await ack(response_action="errors", errors={ids.FEEDBACK: str(exc)})
            return
        await ack()

    @app.action(ids.CANCEL)
    async def cancel(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        try:
            await gateway.cancel(_task_id(body), CancelRequest(by=user, reason="from Slack"))
        except (ActionRefused, UnknownTask) as exc:
            await _tell(client, body, f":no_entry: {exc}")

    @app.action(ids.OPEN_RUN)
    async def open_run(ack: AsyncAck) -> None:
        await ack()  # a link button: Slack opens the URL; nothing to do here


async def _decide(
    gateway: TaskGateway, client: AsyncWebClient, body: dict[str, Any], *, approve: bool
) -> None:
    user = body["user"]["id"]
    task_id, digest = ids.parse_decision_value(_value(body))
    decision = Decision(
        approve=approve, by=user, comment="" if approve else "rejected in Slack", diff_sha256=digest
    )
    try:
        await gateway.decide(task_id, decision)
    except (ActionRefused, UnknownTask) as exc:
        await _tell(client, body, f":no_entry: {_mentions(str(exc))}")
        return
    log.info("decision from slack", task_id=task_id, user=user, approve=approve)


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0]["value"]) if body.get("actions") else ""


def _task_id(body: dict[str, Any]) -> str:
    return ids.parse_decision_value(_value(body))[0]


async def _tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """An ephemeral message to the person who clicked, in the channel of the click."""
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def _mentions(text: str) -> str:
    """Slack user ids in a refusal ("already approved by U123") become mentions."""
    return " ".join(mention(word) if word else word for word in text.split(" "))
