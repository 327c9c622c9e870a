"""Long-running commands: the worker, `fixbot dev`, and building the sandbox image."""

from __future__ import annotations

import asyncio
import signal

from bot.cli.runtime import channels_for, slack_bot_if_configured
from bot.cli.terminal import console, inert
from orchestration.client.connection import connect
from orchestration.client.gateway import TaskGateway
from orchestration.runtime import images
from orchestration.runtime.backend import docker_backend, running_backend, running_worker
from orchestration.runtime.settings import Settings, SettingsError


async def serve_worker(settings: Settings) -> None:
    """Poll the task queue until interrupted; reap orphaned sandboxes meanwhile."""
    backend = await asyncio.to_thread(docker_backend)
    async with running_worker(settings, backend, channels_for(settings)):
        console.print(f"worker polling task queue {settings.temporal_task_queue!r}")
        await until_stopped()
    console.print("worker stopped")


async def serve_dev(settings: Settings) -> None:
    """Embedded Temporal plus a worker (and the Slack bot when configured), until interrupted."""
    backend = await asyncio.to_thread(docker_backend)
    async with (
        running_backend(settings, backend, channels_for(settings)) as runtime,
        slack_bot_if_configured(runtime.settings, runtime.gateway) as with_slack,
    ):
        if with_slack:
            console.print("Slack bot connected over Socket Mode")
        console.print(
            "Temporal Web UI: "
            + (runtime.ui_url or settings.temporal_ui_url or "(configured cluster)")
        )
        console.print("worker running; start a task with `fixbot start ...` in another terminal")
        await until_stopped()
    console.print("stopped")


async def until_stopped() -> None:
    """Wait for SIGINT or SIGTERM (Ctrl-C, `docker stop`, systemd), then return to shut down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def serve_bot(settings: Settings) -> None:
    """The Slack bot (Socket Mode) against TEMPORAL_ADDRESS, until interrupted."""
    from bot.slack.app import socket_mode

    if not settings.slack_enabled:
        raise SettingsError(
            "the Slack bot needs SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN (xapp-…)"
        )
    gateway = TaskGateway(await connect(settings), settings.temporal_task_queue)
    async with socket_mode(settings, gateway):
        console.print("Slack bot connected over Socket Mode")
        await until_stopped()


async def build_image(settings: Settings, *, base_image: str | None, tag: str | None) -> None:
    """Build the sandbox image unless an identical build already exists."""
    result = await asyncio.to_thread(
        images.build_image,
        settings,
        base_image=base_image,
        tag=tag,
        on_log=lambda text: console.print(inert(text, style="dim")),
    )
    console.print(
        f"sandbox image {result.tag}: {'reused' if result.cached else 'built'} "
        f"in {result.seconds:.1f}s"
    )
