"""Heartbeats in the background of an activity, so a dead worker is noticed in seconds.

Temporal learns that a worker died only when an activity misses its heartbeat (or runs out
its whole start-to-close timeout). Every step heartbeats while it runs, so after a crash the
step is retried on another worker within the task's heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

BEAT_SECONDS = 1.0


@contextlib.asynccontextmanager
async def heartbeating(detail: Callable[[], str | None] = lambda: None) -> AsyncIterator[None]:
    """Heartbeat every second while the block runs, with detail()'s latest text."""

    async def beat() -> None:
        while True:
            activity.heartbeat(detail())
            await asyncio.sleep(BEAT_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


P = ParamSpec("P")
R = TypeVar("R")


def heartbeats(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an activity so it heartbeats for as long as it runs."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        async with heartbeating():
            return await fn(*args, **kwargs)

    return wrapper
