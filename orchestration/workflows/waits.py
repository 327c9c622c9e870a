"""Waiting inside the workflow for work that a cancel of the workflow must not cut short."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import workflow


async def wait_through_cancel(done: Callable[[], bool]) -> None:
    """Wait durably until done(); a cancel of the workflow arriving meanwhile waits too."""
    while True:
        try:
            await workflow.wait_condition(done)
            return
        except asyncio.CancelledError:
            workflow.logger.info("cancel arrived while finishing work that must complete")
