"""The front ends this process adds to the back end: the Slack channel and bot when configured."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from orchestration.channels.port import TaskChannel
from orchestration.client.gateway import TaskGateway
from orchestration.client.links import run_url_for
from orchestration.runtime.logs import Redactor
from orchestration.runtime.settings import Settings


def channels_for(settings: Settings) -> list[TaskChannel]:
    """The channels this process's worker renders task events in, besides the log: the Slack
    channel when a bot token is set."""
    if settings.slack_bot_token is None:
        return []
    from bot.slack.app import slack_client
    from bot.slack.notifier import SlackChannel

    slack = SlackChannel(
        slack_client(settings),
        run_url_for(settings),
        edit_interval_seconds=settings.slack.status_edit_interval_seconds,
        redact=Redactor(settings.secret_values()).text,
    )
    return [slack]


@contextlib.asynccontextmanager
async def slack_bot_if_configured(settings: Settings, gateway: TaskGateway) -> AsyncIterator[bool]:
    """The Slack bot over Socket Mode while the block runs, when both tokens are set."""
    if not settings.slack_enabled:
        yield False
        return
    from bot.slack.app import socket_mode

    async with socket_mode(settings, gateway):
        yield True
