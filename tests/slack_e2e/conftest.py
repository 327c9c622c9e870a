"""Slack end to end: the real Bolt app over a real Socket Mode websocket, the real worker with
the Slack notifier, real Docker, sandbox image and `claude`; scripted model; local Slack and
GitHub servers speaking their wire formats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from bot.cli.runtime import channels_for
from bot.slack.app import socket_mode
from orchestration.client.gateway import TaskGateway
from orchestration.models import TaskStatus
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.settings import SandboxSettings, Settings, SlackSettings
from orchestration.runtime.worker import build_worker
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer
from sandbox.docker_backend import DockerSandbox
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.support.guards import no_sandbox_left_behind  # noqa: F401 (autouse fixture)
from tests.support.images import ensure_test_image
from tests.support.settings import e2e_settings

REQUESTER, APPROVER, STRANGER = "U0REQUEST1", "U0APPROVE1", "U0STRANGE1"
CHANNEL = "C9"


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    return ensure_test_image()


@pytest.fixture
def fake_github() -> Any:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def slack_tokens() -> tuple[str, str]:
    """Unique bot and app tokens per test, so a leak of either can be searched for."""
    return f"xoxb-{uuid.uuid4().hex}", f"xapp-{uuid.uuid4().hex}"


@pytest.fixture
async def fake_slack(slack_tokens: tuple[str, str]) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=slack_tokens[0], app_token=slack_tokens[1]) as fake:
        yield fake


def slack_settings(base: Settings, fake: FakeSlack, tokens: tuple[str, str]) -> Settings:
    return base.model_copy(
        update={
            "slack_bot_token": SecretStr(tokens[0]),
            "slack_app_token": SecretStr(tokens[1]),
            "slack_api_url": fake.api_url,
            "slack": SlackSettings(approver_users=[APPROVER], status_edit_interval_seconds=0.5),
        }
    )


@dataclass
class SlackLoop:
    """Everything a Slack end-to-end test drives and inspects."""

    slack: FakeSlack
    github: FakeGitHub
    model: ScriptedModelServer
    gateway: TaskGateway
    backend: DockerSandbox
    settings: Settings
    temporal: WorkflowEnvironment
    extras: dict[str, Any] = field(default_factory=dict)

    def root_messages(self) -> list[dict[str, Any]]:
        return [
            m
            for m in self.slack.messages(CHANNEL)
            if not m.get("thread_ts") or m.get("thread_ts") == m.get("ts")
        ]

    async def root(self, timeout: float = 30) -> dict[str, Any]:
        await self.slack.wait_until(lambda: bool(self.root_messages()), timeout, "a root message")
        return self.root_messages()[0]

    def thread(self, root_ts: str) -> list[dict[str, Any]]:
        return self.slack.thread(CHANNEL, root_ts)[1:]

    def cards(self, root_ts: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.thread(root_ts)
            if _has_action(m, "fixbot_approve")
            or "Approved by" in str(m.get("blocks"))
            or "Changes requested" in str(m.get("blocks"))
        ]

    async def wait_for_cards(
        self, root_ts: str, count: int, timeout: float = 90
    ) -> list[dict[str, Any]]:
        await self.slack.wait_until(
            lambda: len(self.cards(root_ts)) >= count, timeout, f"{count} card(s)"
        )
        return self.cards(root_ts)

    async def task_id(self, root: dict[str, Any]) -> str:
        return str(root["metadata"]["event_payload"]["task_id"])

    async def wait_status(self, task_id: str, status: TaskStatus, timeout: float = 120) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            view = await self.gateway.status(task_id)
            if view.status is status:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{task_id} never reached {status}")


def _has_action(message: dict[str, Any], action_id: str) -> bool:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return True
    return False


StartSlackLoop = Callable[..., Awaitable[SlackLoop]]


@pytest.fixture
async def start_slack_loop(
    temporal_env: WorkflowEnvironment,
    sandbox_image: str,
    tmp_path: Path,
    fake_github: FakeGitHub,
    slack_tokens: tuple[str, str],
    fake_slack: FakeSlack,
) -> AsyncIterator[StartSlackLoop]:
    """Factory: worker (Slack notifier) + Bolt app on Socket Mode, for a given model script."""
    stack: list[Any] = []
    backend = DockerSandbox()

    async def start(script: ModelScript, sandbox: SandboxSettings | None = None) -> SlackLoop:
        model = ScriptedModelServer(script)
        model.start()
        stack.append(model)
        queue = f"slack-{uuid.uuid4().hex[:8]}"
        base = e2e_settings(tmp_path / "data", fake_github, model.url, queue)
        settings = slack_settings(base, fake_slack, slack_tokens)
        if sandbox is not None:
            settings = settings.model_copy(update={"sandbox": sandbox})
        gateway = TaskGateway(temporal_env.client, queue)
        proxy_context = sandbox_services(settings)
        proxy = await proxy_context.__aenter__()
        stack.append(proxy_context)
        worker = build_worker(
            temporal_env.client, settings, backend, channels_for(settings), services=proxy
        )
        await worker.__aenter__()
        stack.append(worker)
        bot = socket_mode(settings, gateway)
        await bot.__aenter__()
        stack.append(bot)
        await fake_slack.wait_connected(timeout=10)
        return SlackLoop(fake_slack, fake_github, model, gateway, backend, settings, temporal_env)

    yield start
    for item in reversed(stack):
        if hasattr(item, "__aexit__"):
            await item.__aexit__(None, None, None)
        elif hasattr(item, "shutdown"):
            await item.shutdown()
        elif isinstance(item, ScriptedModelServer):
            item.stop()
