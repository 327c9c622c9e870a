"""Running fixbot's back end in this process: Temporal (embedded or configured) plus a worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.client import Client

from orchestration.dev_server import DevServer
from orchestration.gateway import TaskGateway
from orchestration.logs import Redactor
from orchestration.notify import Notifier
from orchestration.settings import Settings
from orchestration.temporal_client import connect
from orchestration.worker import build_worker, reap_forever, run_url_for, sandbox_services
from sandbox.interface import Sandbox

EMBEDDED_PORT = 7233
EMBEDDED_UI_PORT = 8233


def notifier_for(settings: Settings) -> Notifier | None:
    """The Slack notifier when a bot token is set; otherwise notices only reach the log."""
    if settings.slack_bot_token is None:
        return None
    from bot.slack.app import slack_client
    from bot.slack.notifier import SlackNotifier

    return SlackNotifier(
        slack_client(settings),
        run_url_for(settings),
        edit_interval_seconds=settings.slack.status_edit_interval_seconds,
        redact=Redactor(settings.secret_values()).text,
    )


@contextlib.asynccontextmanager
async def _maybe_slack(
    settings: Settings, gateway: TaskGateway, wanted: bool
) -> AsyncIterator[None]:
    if not (wanted and settings.slack_enabled):
        yield
        return
    from bot.slack.app import socket_mode

    async with socket_mode(settings, gateway):
        yield


@dataclass
class Runtime:
    client: Client
    gateway: TaskGateway
    ui_url: str | None


def docker_backend() -> Sandbox:
    """The Docker sandbox backend, checked to answer (SandboxUnavailable says what to do)."""
    from sandbox.docker_backend import DockerSandbox

    backend = DockerSandbox()
    backend.ping()
    return backend


@contextlib.asynccontextmanager
async def embedded_temporal(
    settings: Settings, *, fixed_ports: bool = True
) -> AsyncIterator[tuple[str | None, str | None]]:
    """(address, UI URL): the configured cluster, or a dev server started here until exit."""
    if settings.temporal_address:
        yield None, settings.temporal_ui_url
        return
    ports = (EMBEDDED_PORT, EMBEDDED_UI_PORT) if fixed_ports else (None, None)
    server = DevServer(settings.data_dir / "temporal.db", port=ports[0], ui_port=ports[1])
    await asyncio.to_thread(server.start)
    try:
        yield server.address, server.ui_url
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def running_backend(
    settings: Settings, backend: Sandbox, *, fixed_ports: bool = True, with_slack: bool = False
) -> AsyncIterator[Runtime]:
    """Temporal plus a worker (and its reaper) running in the background of this process."""
    async with embedded_temporal(settings, fixed_ports=fixed_ports) as (address, ui_url):
        if ui_url and not settings.temporal_ui_url:
            settings = settings.model_copy(update={"temporal_ui_url": ui_url})
        client = await connect(settings, address)
        gateway = TaskGateway(client, settings.temporal_task_queue)
        async with sandbox_services(settings) as proxy:
            worker = build_worker(client, settings, backend, notifier_for(settings), services=proxy)
            async with (
                worker,
                _maybe_slack(settings, gateway, with_slack),
                _reaping(backend, gateway, settings),
            ):
                yield Runtime(client=client, gateway=gateway, ui_url=ui_url)


@contextlib.asynccontextmanager
async def _reaping(
    backend: Sandbox, gateway: TaskGateway, settings: Settings
) -> AsyncIterator[None]:
    """The reaper, in the background, for as long as the block runs."""
    reaper = asyncio.create_task(
        reap_forever(
            backend, gateway, settings.sandbox_owner, settings.sandbox.reap_interval_seconds
        )
    )
    try:
        yield
    finally:
        reaper.cancel()
        await asyncio.gather(reaper, return_exceptions=True)
