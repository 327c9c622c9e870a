"""Delivering one event to every channel that serves the task's origin.

One channel's permanent failure is logged and does not stop the others; a transient error is
raised once every channel has been tried, so Temporal retries the activity. The receipt is the
first one that names a message: the channel of the task's own origin threads its messages.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from orchestration.channels.port import DeliveryRefused, TaskChannel
from orchestration.models.events import DeliveryReceipt, EventDelivery

log = structlog.get_logger(__name__)


class ChannelFanOut:
    """The channels a worker was given, delivered to in order."""

    def __init__(self, channels: Sequence[TaskChannel]) -> None:
        self._channels = list(channels)

    async def deliver(self, delivery: EventDelivery) -> DeliveryReceipt:
        receipt = DeliveryReceipt()
        transient: Exception | None = None
        for channel in self._serving(delivery):
            try:
                landed = await channel.deliver(delivery)
            except DeliveryRefused as exc:
                _log_refusal(channel, delivery, exc)
                continue
            except Exception as exc:  # raised below, once the others had their turn
                transient = transient or exc
                continue
            if receipt.message is None and landed.message is not None:
                receipt = landed
        if transient is not None:
            raise transient
        return receipt

    def _serving(self, delivery: EventDelivery) -> list[TaskChannel]:
        return [c for c in self._channels if c.serves(delivery.headline.origin)]


def _log_refusal(channel: TaskChannel, delivery: EventDelivery, exc: DeliveryRefused) -> None:
    log.warning(
        "task event dropped",
        channel=channel.name,
        kind=delivery.event.kind,
        task_id=delivery.event.task_id,
        error=str(exc),
    )
