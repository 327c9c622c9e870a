"""Sandboxes an activity creates for itself (setup, verification) and must not leave behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sandbox.interface import Sandbox, SandboxInfo, SandboxSpec


async def remove_even_if_cancelled(backend: Sandbox, sandbox_id: str) -> None:
    """Destroy the sandbox; a cancel arriving meanwhile waits for the removal, then stands."""
    removal = asyncio.ensure_future(asyncio.to_thread(backend.destroy, sandbox_id))
    try:
        await asyncio.shield(removal)
    except asyncio.CancelledError:
        await removal
        raise


def remove_if_present(backend: Sandbox, task_id: str) -> None:
    """Destroy the sandbox of task_id if one exists (a retried attempt starts over)."""
    found = backend.find(task_id)
    if found is not None:
        backend.destroy(found.sandbox_id)


@contextlib.asynccontextmanager
async def fresh_sandbox(backend: Sandbox, spec: SandboxSpec) -> AsyncIterator[SandboxInfo]:
    """A new sandbox for spec, removed at the end whatever happens. One left by an earlier
    attempt is removed first: half a run must never carry into the next."""
    await asyncio.to_thread(remove_if_present, backend, spec.task_id)
    info = await asyncio.to_thread(backend.create, spec)
    try:
        yield info
    finally:
        await remove_even_if_cancelled(backend, info.sandbox_id)
