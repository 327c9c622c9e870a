"""Asking for a fix: `/fixbug`, the "Fix this bug" message shortcut, and the new-task modal.

Every listener acknowledges first; the workflow starts after the acknowledgement.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import ids
from bot.slack.access import SlackAccess
from bot.slack.blocks.modals import new_task_modal
from bot.slack.parsing import NewTaskForm, parse_fixbug_text, parse_new_task_submission
from bot.slack.starting import SlackTaskStarter, TaskRequest
from orchestration.policy.validation import (
    RepositoryRules,
    TaskValidationError,
    parse_repository_argument,
)

log = structlog.get_logger(__name__)

HELP = (
    "*fixbot* fixes bugs and opens pull requests after you approve.\n"
    "• `/fixbug <what is wrong> <repo URL>[#branch] …` starts at once\n"
    "• `/fixbug` alone, or without a repository, opens a form\n"
    "• or use the message shortcut *Fix this bug* on any message"
)


def register(
    app: AsyncApp, starter: SlackTaskStarter, access: SlackAccess, rules: RepositoryRules
) -> None:
    """Attach the listeners that start tasks."""

    @app.command(ids.SLASH_COMMAND)
    async def fixbug(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        await _on_fixbug(command, respond, client, starter, access)

    @app.shortcut(ids.SHORTCUT_FIX_THIS)
    async def fix_this(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await _on_shortcut(shortcut, client, starter)

    @app.view(ids.NEW_TASK_MODAL)
    async def submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        form = parse_new_task_submission(view["state"]["values"], rules=rules)
        if not isinstance(form, NewTaskForm):
            await ack(response_action="errors", errors=form)
            return
        await ack()
        await _start_from_modal(body, view, form, client, starter, access)


async def _on_fixbug(
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    starter: SlackTaskStarter,
    access: SlackAccess,
) -> None:
    user, channel = command["user_id"], command["channel_id"]
    parsed = parse_fixbug_text(command.get("text", ""))
    if parsed.help:
        await respond(HELP)
        return
    refusal = await access.start_refusal(user, channel)
    if refusal:
        await respond(f":no_entry: {refusal}.")
        return
    repositories = parsed.repositories or starter.default_repositories(channel)
    if not parsed.title or not repositories:
        await _open_modal(
            client, command["trigger_id"], starter, channel, parsed.title, "", None, repositories
        )
        return
    request = TaskRequest(
        trigger=command["trigger_id"],
        user_id=user,
        channel_id=channel,
        team_id=command.get("team_id"),
        title=parsed.title,
        repositories=[parse_repository_argument(r) for r in repositories],
    )
    await _start(request, respond_text=respond, starter=starter)


async def _on_shortcut(
    shortcut: dict[str, Any], client: AsyncWebClient, starter: SlackTaskStarter
) -> None:
    message = shortcut.get("message", {})
    channel = shortcut.get("channel", {}).get("id", "")
    link = await _permalink(client, channel, message.get("ts"))
    text = str(message.get("text", ""))
    title = text.strip().splitlines()[0][:150] if text.strip() else ""
    await _open_modal(
        client,
        shortcut["trigger_id"],
        starter,
        channel,
        title,
        text,
        link,
        starter.default_repositories(channel),
    )


async def _open_modal(
    client: AsyncWebClient,
    trigger_id: str,
    starter: SlackTaskStarter,
    channel: str,
    title: str,
    description: str,
    link: str | None,
    preselected: list[str],
) -> None:
    metadata = json.dumps({"channel_id": channel, "source": link})
    view = new_task_modal(
        title=title,
        description=description,
        repository_options=starter.repository_options,
        preselected=[r for r in preselected if r in starter.repository_options],
        source_link=link,
        private_metadata=metadata,
    )
    await client.views_open(trigger_id=trigger_id, view=view)


async def _start_from_modal(
    body: dict[str, Any],
    view: dict[str, Any],
    form: NewTaskForm,
    client: AsyncWebClient,
    starter: SlackTaskStarter,
    access: SlackAccess,
) -> None:
    user = body["user"]["id"]
    metadata = json.loads(view.get("private_metadata") or "{}")
    channel = metadata.get("channel_id") or user
    refusal = await access.start_refusal(user, channel)
    if refusal:
        await client.chat_postEphemeral(channel=channel, user=user, text=f":no_entry: {refusal}.")
        return
    source = metadata.get("source")
    description = form.description + (f"\n\nReported in Slack: {source}" if source else "")
    request = TaskRequest(
        trigger=view["id"],
        user_id=user,
        channel_id=channel,
        team_id=body.get("team", {}).get("id"),
        title=form.title,
        repositories=form.repositories,
        description=description,
        require_approval=form.require_approval,
        budget_usd=form.budget_usd,
    )

    async def tell(text: str) -> None:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)

    await _start(request, respond_text=tell, starter=starter)


async def _start(request: TaskRequest, *, respond_text: Any, starter: SlackTaskStarter) -> None:
    try:
        task = await starter.start(request)
    except TaskValidationError as exc:
        problems = "\n".join(f"• {p}" for p in exc.problems)
        await respond_text(f":warning: fixbot cannot start this task:\n{problems}")
        return
    log.info("task started from slack", task_id=task.task_id, user=request.user_id)


async def _permalink(client: AsyncWebClient, channel: str, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
    return str(answer.get("permalink")) if answer.get("ok") else None
