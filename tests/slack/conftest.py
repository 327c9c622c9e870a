"""The Slack bot alone: the real Bolt app over a real Socket Mode websocket to the Slack fake,
starting workflows on the real dev server (no worker: started tasks simply wait)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from bot.slack.app import socket_mode
from orchestration.client.gateway import TaskGateway, workflow_id
from orchestration.models import TaskInput
from orchestration.runtime.settings import GitSettings, Settings, SlackSettings
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack


@dataclass
class Bot:
    slack: FakeSlack
    temporal: WorkflowEnvironment
    gateway: TaskGateway
    queue: str

    async def started_tasks(self) -> list[TaskInput]:
        """The task inputs of every workflow started on this bot's queue."""
        tasks: list[TaskInput] = []
        query = f"TaskQueue = '{self.queue}'"
        async for execution in self.temporal.client.list_workflows(query):
            history = await self.temporal.client.get_workflow_handle(execution.id).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            payload = started.input.payloads[0]
            tasks.append(TaskInput.model_validate_json(payload.data))
        return tasks

    async def terminate_all(self) -> None:
        async for execution in self.temporal.client.list_workflows(f"TaskQueue = '{self.queue}'"):
            if execution.status == WorkflowExecutionStatus.RUNNING:
                await self.temporal.client.get_workflow_handle(execution.id).terminate()


StartBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def start_bot(temporal_env: WorkflowEnvironment) -> AsyncIterator[StartBot]:
    """Factory: a fake Slack plus the bot connected to it, with the given Slack settings."""
    running: list[Any] = []

    async def start(slack: SlackSettings | None = None) -> Bot:
        fake = FakeSlack()
        await fake.start()
        running.append(fake)
        queue = f"bot-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_api_url=fake.api_url,
            temporal_task_queue=queue,
            slack=slack or SlackSettings(),
            git=GitSettings(allowed_hosts=["github.com"]),
        )
        gateway = TaskGateway(temporal_env.client, queue)
        connection = socket_mode(settings, gateway)
        await connection.__aenter__()
        running.append(connection)
        await fake.wait_connected(timeout=10)
        bot = Bot(fake, temporal_env, gateway, queue)
        running.append(bot)
        return bot

    yield start
    for item in reversed(running):
        if isinstance(item, Bot):
            await item.terminate_all()
        elif isinstance(item, FakeSlack):
            await item.stop()
        else:
            await item.__aexit__(None, None, None)


def workflow_of(task: TaskInput) -> str:
    return workflow_id(task.task_id)
