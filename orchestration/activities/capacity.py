"""How many sandboxes this worker's Docker engine runs at once; tasks beyond wait in order.

The engine's own list of running sandboxes (of this deployment) is the count that matters: it
survives a worker restart and sees sandboxes that other activities are tearing down. Tasks
that find no free slot wait in the order they asked, heartbeating and telling their workflow
how many are ahead, instead of starting and failing for lack of memory or CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from sandbox.interface import Sandbox

POLL_SECONDS = 1.0

OnWait = Callable[[str], Awaitable[None]]


class SandboxCapacity:
    """Hands out sandbox slots on one engine, first come first served."""

    def __init__(
        self, backend: Sandbox, owner: str, limit: int, *, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self._backend = backend
        self._owner = owner
        self.limit = limit
        self._poll = poll_seconds
        self._queue: list[str] = []  # task ids waiting, oldest first
        self._creating = 0  # slots handed out whose sandbox may not be listed yet
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def slot(self, task_id: str, on_wait: OnWait) -> AsyncIterator[None]:
        """Hold a slot while the task's sandbox is created; a task whose sandbox exists (a
        retried step) already has its slot."""
        if await asyncio.to_thread(self._backend.find, task_id) is not None:
            yield
            return
        self._queue.append(task_id)
        try:
            await self._wait_for_turn(task_id, on_wait)
        finally:
            self._queue.remove(task_id)
        try:
            yield
        finally:
            self._creating -= 1

    async def _wait_for_turn(self, task_id: str, on_wait: OnWait) -> None:
        last_said = ""
        while True:
            async with self._lock:
                in_use = await asyncio.to_thread(self.running) + self._creating
                ahead = self._queue.index(task_id)
                if ahead == 0 and in_use < self.limit:
                    self._creating += 1
                    return
            said = waiting_text(ahead, in_use, self.limit)
            if said != last_said:
                await on_wait(said)
                last_said = said
            await asyncio.sleep(self._poll)

    def running(self) -> int:
        """Sandboxes of this deployment the engine runs now (blocking)."""
        return sum(
            1 for s in self._backend.list_sandboxes() if s.owner == self._owner and s.running
        )


def waiting_text(ahead: int, in_use: int, limit: int) -> str:
    """What a waiting task's status line says."""
    queue = f"{ahead} task{'s' if ahead != 1 else ''} ahead" if ahead else "next in line"
    return f"waiting for a sandbox: {queue} ({in_use} of {limit} in use)"
