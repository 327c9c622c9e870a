"""The notify activity: the workflow's task events, delivered through the channel fan-out.

The orchestration defines the channel port (orchestration/channels/port.py); the Slack bot
implements one (bot/slack/notifier.py); the worker wires the list. A channel must never hold a
task up: transient errors are raised (Temporal retries them with backoff), permanent ones are
logged by the fan-out and answered with an empty receipt.
"""

from __future__ import annotations

from temporalio import activity

from orchestration.activities import contracts
from orchestration.channels.fan_out import ChannelFanOut
from orchestration.models.events import DeliveryReceipt, EventDelivery


class NotifyActivities:
    """The notify activity, backed by the fan-out over the worker's channels."""

    def __init__(self, fan_out: ChannelFanOut) -> None:
        self._fan_out = fan_out

    @activity.defn(name=contracts.NOTIFY.name)
    async def notify(self, delivery: EventDelivery) -> DeliveryReceipt:
        """Deliver one task event to every channel serving the task's origin."""
        return await self._fan_out.deliver(delivery)
