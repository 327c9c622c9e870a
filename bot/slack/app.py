"""The Bolt app: Socket Mode, every listener attached, one gateway to Temporal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.access import SlackAccess
from bot.slack.listeners import decisions, replies, task_requests
from bot.slack.starting import SlackTaskStarter
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import repository_rules
from orchestration.runtime.settings import Settings


def slack_client(settings: Settings) -> AsyncWebClient:
    """A Web API client with the bot token that waits out Slack's rate limits."""
    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_app(settings: Settings, gateway: TaskGateway, client: AsyncWebClient) -> AsyncApp:
    """The Bolt app with all of fixbot's listeners."""
    app = AsyncApp(client=client, process_before_response=False)
    access = SlackAccess(client, settings.slack)
    rules = repository_rules(settings)
    starter = SlackTaskStarter(settings, gateway, access, rules)
    task_requests.register(app, starter, access, rules)
    decisions.register(app, gateway)
    replies.register(app, gateway, access, replies.ThreadTasks(client))
    return app


@contextlib.asynccontextmanager
async def socket_mode(settings: Settings, gateway: TaskGateway) -> AsyncIterator[AsyncApp]:
    """The app connected to Slack over Socket Mode until the block exits."""
    if settings.slack_app_token is None:
        raise ValueError("SLACK_APP_TOKEN (xapp-…) is not set: Socket Mode needs it")
    client = slack_client(settings)
    app = build_app(settings, gateway, client)
    handler = AsyncSocketModeHandler(
        app, settings.slack_app_token.get_secret_value(), web_client=client
    )
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        yield app
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
