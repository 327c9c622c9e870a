"""The workflow's side of task events: which event goes out when, without holding the task up.

Runs inside the workflow (deterministic: only workflow APIs). Every call records a typed task
event in a bounded in-memory log (the `events` query reads it) and hands it to the `notify`
activity, which fans it out to the channels serving the task's origin. Most events are sent
without waiting (a slow or failing chat service never blocks a task); the root message and the
approval card are awaited, briefly, because their message ids are needed later. Everything
still in flight is awaited once at the end, so the final word reaches the thread.

Replay: Slack tasks schedule exactly the activities they always did. Tasks from other origins
sent nothing before; they send events behind the `events-for-every-origin` patch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from orchestration.activities import contracts
    from orchestration.models import NoticeKind, TaskInput, TaskView
    from orchestration.models.event_builders import event_for, headline_of
    from orchestration.models.events import (
        PROGRESS_CHARS,
        CardReady,
        DeliveryReceipt,
        EventDelivery,
        OriginKind,
        ProgressReported,
        TaskEvent,
        Thread,
        bounded,
    )
    from orchestration.workflows.state import Announcements
    from orchestration.workflows.waits import wait_through_cancel

NOTICE_DEADLINE = timedelta(seconds=60)
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=5
)
PROGRESS_EVERY = timedelta(seconds=5)
EVENTS_KEPT = 300  # the log's bound; progress events are dropped first
EVENTS_FOR_EVERY_ORIGIN = "events-for-every-origin"


class Announcer:
    """Emits a task's events and keeps the latest of them for the `events` query."""

    def __init__(
        self,
        task: TaskInput,
        view: Callable[[], TaskView],
        memory: Announcements | None = None,
    ) -> None:
        self._task = task
        self._view = view
        self._headline = headline_of(task)
        # part of the task's state, so a run that continues as new goes on with it
        self._memory = memory if memory is not None else Announcements()
        self._pending: list[workflow.ActivityHandle[DeliveryReceipt]] = []
        # a Slack task always sent notices; asking for the patch there would add a marker
        self._enabled = task.origin.kind is OriginKind.SLACK or workflow.patched(
            EVENTS_FOR_EVERY_ORIGIN
        )

    @property
    def thread(self) -> Thread | None:
        return self._memory.thread

    @property
    def enabled(self) -> bool:
        """Whether events are sent to channels (always recorded for the query)."""
        return self._enabled

    async def started(self) -> None:
        """Post the root message; its id becomes the task's thread."""
        receipt = await self._deliver(self._record(NoticeKind.STARTED, ""))
        if receipt is not None and receipt.message and receipt.channel:
            self._memory.thread = Thread(channel=receipt.channel, root=receipt.message)

    async def card(self) -> None:
        """Post the approval card and remember it, so the decision can be shown on it."""
        event = self._record(NoticeKind.CHANGES_READY, "")
        receipt = await self._deliver(event)
        thread = self._memory.thread
        if thread is not None and receipt is not None and receipt.message:
            self._memory.thread = thread.model_copy(update={"card": receipt.message})

    def post(self, kind: NoticeKind, text: str = "") -> None:
        """Send an event without waiting for it."""
        event = self._record(kind, text)
        if not self.enabled:
            return
        self._pending = [h for h in self._pending if not h.done()]
        self._pending.append(
            contracts.start(
                contracts.NOTIFY,
                self._delivery(event),
                schedule_to_close_timeout=NOTICE_DEADLINE,
                retry_policy=NOTICE_RETRY,
            )
        )

    def progress(self, text: str) -> None:
        """Refresh the status line, at most every few seconds."""
        now, last = workflow.now(), self._memory.last_progress_at
        if last is not None and now - last < PROGRESS_EVERY:
            return
        self._memory.last_progress_at = now
        self.post(NoticeKind.PROGRESS, text)

    async def finish(self, kind: NoticeKind, text: str = "") -> None:
        """The final event, then wait for every event still in flight (a cancel of the
        workflow arriving now does not cut the final word short)."""
        self.post(kind, text)
        await self.flush()

    async def flush(self) -> None:
        """Wait for every event still in flight as the task ends (a cancel of the workflow
        arriving now does not cut the final word short)."""
        pending, self._pending = self._pending, []
        await wait_through_cancel(lambda: all(h.done() for h in pending))
        await asyncio.gather(*pending, return_exceptions=True)  # failures were logged

    async def settle(self) -> None:
        """Wait for every event still in flight before the run continues as new; unlike
        flush(), a cancel of the workflow interrupts this wait (the task then ends)."""
        pending = [h for h in self._pending if not h.done()]
        await workflow.wait_condition(lambda: all(h.done() for h in pending))
        await asyncio.gather(*pending, return_exceptions=True)  # failures were logged
        self._pending = []

    def events_after(self, seq: int) -> list[TaskEvent]:
        """The kept events with a sequence number above `seq`, oldest first."""
        return [e for e in self._memory.events if e.seq > seq]

    def _record(self, kind: NoticeKind, text: str) -> TaskEvent:
        memory = self._memory
        memory.seq += 1
        event = event_for(
            kind, text, self._view(), headline=self._headline, seq=memory.seq, at=workflow.now()
        )
        if isinstance(event, CardReady):
            memory.card = event
        memory.events.append(event)
        if len(memory.events) > EVENTS_KEPT:
            memory.events.remove(_oldest_to_drop(memory.events))
        return event

    async def _deliver(self, event: TaskEvent) -> DeliveryReceipt | None:
        if not self.enabled:
            return None
        try:
            receipt = await contracts.start(
                contracts.NOTIFY,
                self._delivery(event),
                schedule_to_close_timeout=NOTICE_DEADLINE,
                retry_policy=NOTICE_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("event %s not delivered: %s", event.kind, exc)
            return None
        return receipt

    def _delivery(self, event: TaskEvent) -> EventDelivery:
        latest = self._view().last_progress
        return EventDelivery(
            event=event,
            headline=self._headline,
            thread=self.thread,
            activity=bounded(latest, PROGRESS_CHARS) if latest else None,
            card=self._memory.card if event.kind == "decided" else None,
        )


def _oldest_to_drop(events: list[TaskEvent]) -> TaskEvent:
    """The oldest progress event, or the oldest event when there is none."""
    return next((e for e in events if isinstance(e, ProgressReported)), events[0])
