"""The channel port: one place task events are rendered, for the origins it serves.

A channel raises `DeliveryRefused` for a failure no retry can fix (the chat channel is gone,
the bot was removed); the fan-out logs it and goes on. Any other error is transient: it is
raised so Temporal retries the notify activity, which delivers again to every channel, so a
channel must tolerate an event arriving twice.
"""

from __future__ import annotations

from typing import Protocol

from orchestration.models.events import DeliveryReceipt, EventDelivery, TaskOrigin


class DeliveryRefused(Exception):
    """A permanent failure to deliver: retrying would not help."""


class TaskChannel(Protocol):
    """Renders task events somewhere people follow tasks."""

    @property
    def name(self) -> str:
        """A short name for logs."""
        ...

    def serves(self, origin: TaskOrigin) -> bool:
        """Whether this channel shows tasks started from `origin`."""
        ...

    async def deliver(self, delivery: EventDelivery) -> DeliveryReceipt:
        """Render one event; the receipt says where it landed (empty when nowhere)."""
        ...
