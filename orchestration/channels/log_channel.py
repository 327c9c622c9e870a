"""The channel every worker has: each task's events as structured log lines."""

from __future__ import annotations

import structlog

from orchestration.models.events import DeliveryReceipt, EventDelivery, TaskOrigin

log = structlog.get_logger(__name__)


class LogChannel:
    """Logs every task's events (serves every origin), so a worker without chat still tells."""

    name = "log"

    def serves(self, origin: TaskOrigin) -> bool:
        return True

    async def deliver(self, delivery: EventDelivery) -> DeliveryReceipt:
        event = delivery.event
        log.info(
            "task event",
            kind=event.kind,
            task_id=event.task_id,
            seq=event.seq,
            status=event.status.value,
            origin=delivery.headline.origin.kind.value,
        )
        return DeliveryReceipt()
