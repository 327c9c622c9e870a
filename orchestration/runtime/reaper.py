"""The reaper loop: removes this deployment's sandboxes whose task has ended."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from orchestration.client.gateway import WORKFLOW_ID_PREFIX, TaskGateway
from sandbox.interface import Sandbox
from sandbox.reaper import reap

log = structlog.get_logger(__name__)


async def reap_forever(
    backend: Sandbox, gateway: TaskGateway, owner: str, interval_seconds: float
) -> None:
    """Remove this deployment's sandboxes of ended workflows: now, then every interval."""
    while True:
        await reap_once(backend, gateway, owner)
        await asyncio.sleep(interval_seconds)


async def reap_once(backend: Sandbox, gateway: TaskGateway, owner: str) -> None:
    loop = asyncio.get_running_loop()

    def is_active(workflow_id: str) -> bool:
        task_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
        return asyncio.run_coroutine_threadsafe(gateway.is_running(task_id), loop).result(
            timeout=30
        )

    with contextlib.suppress(Exception):
        report = await asyncio.to_thread(reap, backend, is_active, owner)
        log.info("reaper pass", report=str(report))
