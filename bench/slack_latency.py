"""Slack acknowledgement latency with many commands at once, and time to the first message.

    uv run python bench/slack_latency.py [--burst 50] [--firsts 5]

1. `burst` /fixbug commands sent at once over Socket Mode to fixbot's bot (which acks, then
   starts a workflow on a real Temporal dev server) — and, as the baseline in the same run, to a
   bare Bolt app whose handler only acks. Prints p50/p99/max of ack latency for both.
2. `firsts` commands one after another with a real worker (Slack notifier, Docker sandbox):
   the time from sending the command to the root message appearing in the channel.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bot.cli.runtime import channels_for
from bot.slack.app import socket_mode
from orchestration.client.gateway import TaskGateway
from orchestration.models import CancelRequest
from orchestration.models.index import SEARCH_ATTRIBUTES
from orchestration.runtime.embedded_temporal import temporal_binary
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.settings import GitSettings, SandboxSettings, Settings
from orchestration.runtime.worker import build_worker
from sandbox.docker_backend import DockerSandbox
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack, slash_command
from tests.support.images import TEST_IMAGE, ensure_test_image

REPO = "https://github.com/acme/shop"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def describe(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<34} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms"
        f"   max {max(ms):7.1f} ms   (n={len(ms)})"
    )


async def burst(fake: FakeSlack, count: int) -> list[float]:
    envelopes = await asyncio.gather(
        *[
            fake.send(slash_command(f"Bug {i} {REPO}", f"U0USER{i:04d}", "C0BENCH"))
            for i in range(count)
        ]
    )
    acks = await asyncio.gather(*[fake.wait_for_ack(e, timeout=30) for e in envelopes])
    return [seconds for _, seconds in acks]


async def baseline_burst(count: int) -> list[float]:
    """A Bolt app whose /fixbug handler only acks: the floor of Bolt + Socket Mode here."""
    async with FakeSlack() as fake:
        app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url))

        @app.command("/fixbug")
        async def only_ack(ack: AsyncAck) -> None:
            await ack()

        handler = AsyncSocketModeHandler(app, APP_TOKEN)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await fake.wait_connected()
        try:
            await burst(fake, 1)  # warm up (auth.test on the first envelope)
            return await burst(fake, count)
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]


def settings_for(fake: FakeSlack, queue: str, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_app_token=SecretStr(APP_TOKEN),
        slack_api_url=fake.api_url,
        temporal_task_queue=queue,
        data_dir=data_dir,
        anthropic_base_url="http://127.0.0.1:9",
        sandbox=SandboxSettings(image=TEST_IMAGE),
        git=GitSettings(allowed_hosts=["github.com"]),
    )


async def fixbot_burst(env: WorkflowEnvironment, count: int, data_dir: Path) -> list[float]:
    async with FakeSlack() as fake:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        settings = settings_for(fake, queue, data_dir)
        gateway = TaskGateway(env.client, queue)
        async with socket_mode(settings, gateway):
            await fake.wait_connected()
            await burst(fake, 1)
            seconds = await burst(fake, count)
        await terminate(env, queue)
        return seconds


async def first_messages(env: WorkflowEnvironment, count: int, data_dir: Path) -> list[float]:
    """Command → root message, with the real worker behind the bot."""
    times: list[float] = []
    async with FakeSlack() as fake:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        settings = settings_for(fake, queue, data_dir)
        gateway = TaskGateway(env.client, queue)
        async with sandbox_services(settings) as proxy:
            worker = build_worker(
                env.client, settings, DockerSandbox(), channels_for(settings), services=proxy
            )
            await run_firsts(fake, worker, settings, gateway, count, times)
    return times


async def run_firsts(
    fake: FakeSlack,
    worker: Any,
    settings: Settings,
    gateway: TaskGateway,
    count: int,
    times: list[float],
) -> None:
    """Send commands one by one and time each root message; cancel each task after."""
    async with worker, socket_mode(settings, gateway):
        await fake.wait_connected()
        for i in range(count):
            channel = f"C0FIRST{i}"
            sent = time.perf_counter()
            await fake.send(slash_command(f"Bug {REPO}", "U0USER0001", channel))
            await fake.wait_until(lambda c=channel: bool(fake.messages(c)), 30, "root message")
            times.append(time.perf_counter() - sent)
            root: dict[str, Any] = fake.messages(channel)[0]
            task_id = root["metadata"]["event_payload"]["task_id"]
            await gateway.cancel(task_id, CancelRequest(by="U0USER0001"))
            await gateway.result(task_id)


async def terminate(env: WorkflowEnvironment, queue: str) -> None:
    async for execution in env.client.list_workflows(f"TaskQueue = '{queue}'"):
        if execution.status == WorkflowExecutionStatus.RUNNING:
            await env.client.get_workflow_handle(execution.id).terminate()


async def main(count: int, firsts: int) -> None:
    ensure_test_image()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="fixbot-bench-") as tmp:
            base = await baseline_burst(count)
            ours = await fixbot_burst(env, count, Path(tmp))
            first = await first_messages(env, firsts, Path(tmp))
    finally:
        await env.shutdown()
    print(f"{count} /fixbug commands sent at once over Socket Mode (ack latency):")
    print(describe("  baseline: Bolt handler that only acks", base))
    print(describe("  fixbot bot (ack, then start workflow)", ours))
    print(describe("command → first message in the channel", first))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--firsts", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.burst, args.firsts))
