"""Running fixbot's back end in this process: Temporal (embedded or configured), a worker and
its reaper. The CLI's `dev`, `worker` and `demo` commands and the tests start it from here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from temporalio.client import Client

from orchestration.channels.port import TaskChannel
from orchestration.client.connection import connect
from orchestration.client.gateway import TaskGateway
from orchestration.runtime.embedded_temporal import DevServer
from orchestration.runtime.reaper import reap_forever
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.settings import Settings
from orchestration.runtime.worker import build_worker
from sandbox.interface import Sandbox

EMBEDDED_PORT = 7233
EMBEDDED_UI_PORT = 8233


@dataclass
class Runtime:
    client: Client
    gateway: TaskGateway
    ui_url: str | None
    settings: Settings


def use_blocking_threads(settings: Settings) -> None:
    """Give asyncio.to_thread (every Docker and git call) a pool sized for many tasks at once;
    the default (a few threads per core) lets a burst of tasks wait minutes for a thread."""
    pool = ThreadPoolExecutor(
        max_workers=settings.worker.blocking_threads, thread_name_prefix="fixbot-blocking"
    )
    asyncio.get_running_loop().set_default_executor(pool)


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
    settings: Settings,
    backend: Sandbox,
    channels: Sequence[TaskChannel] = (),
    *,
    fixed_ports: bool = True,
) -> AsyncIterator[Runtime]:
    """Temporal plus a worker (and its reaper) running in the background of this process."""
    async with embedded_temporal(settings, fixed_ports=fixed_ports) as (address, ui_url):
        if ui_url and not settings.temporal_ui_url:
            settings = settings.model_copy(update={"temporal_ui_url": ui_url})
        client = await connect(settings, address)
        gateway = TaskGateway(client, settings.temporal_task_queue)
        use_blocking_threads(settings)
        async with sandbox_services(settings) as services:
            worker = build_worker(client, settings, backend, channels, services=services)
            async with worker, reaping(backend, gateway, settings):
                yield Runtime(client=client, gateway=gateway, ui_url=ui_url, settings=settings)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, backend: Sandbox, channels: Sequence[TaskChannel] = ()
) -> AsyncIterator[TaskGateway]:
    """A worker (and its reaper) for the configured Temporal, for as long as the block runs."""
    client = await connect(settings)
    gateway = TaskGateway(client, settings.temporal_task_queue)
    use_blocking_threads(settings)
    async with sandbox_services(settings) as services:
        worker = build_worker(client, settings, backend, channels, services=services)
        async with worker, reaping(backend, gateway, settings):
            yield gateway


@contextlib.asynccontextmanager
async def reaping(
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
