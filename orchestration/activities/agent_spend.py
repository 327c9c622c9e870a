"""What an agent run has spent, as the model proxy metered it: never what the agent says.

The proxy counts every answer of the task's route. A run's spend is the route's growth since
the run began, plus what earlier attempts of the same run had spent: each attempt records its
spend in its heartbeats, and Temporal hands the last heartbeat's details to the retry, on this
worker or another. So a retried or resumed run continues with what is left of the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import activity

from orchestration.proxies.model.proxy import ModelProxy, ProxyRoute


def carried_from(details: Sequence[Any]) -> float:
    """The spend an earlier attempt's last heartbeat recorded (its second detail); 0 when
    this is the first attempt or the details say nothing usable."""
    if len(details) < 2:
        return 0.0
    spent = details[1]
    if isinstance(spent, bool) or not isinstance(spent, int | float) or spent < 0:
        return 0.0
    return float(spent)


class RunSpend:
    """One agent run's spend: metered by the proxy, carried across attempts."""

    def __init__(self, proxy: ModelProxy, task_id: str, *, carried: float, base: float) -> None:
        self._proxy = proxy
        self._task_id = task_id
        self._carried = carried
        self._base = base

    @classmethod
    async def open(
        cls, proxy: ModelProxy, task_id: str, allowance_usd: float
    ) -> tuple[RunSpend, ProxyRoute]:
        """Open the route for this attempt with the allowance less what earlier attempts
        spent; the route's token stays in this process."""
        carried = carried_from(activity.info().heartbeat_details)
        route, base = await proxy.open_allowance(task_id, allowance_usd - carried)
        return cls(proxy, task_id, carried=carried, base=base), route

    def usd(self) -> float:
        """The run's spend so far, all attempts included."""
        usage = self._proxy.usage(self._task_id)
        metered = usage.cost_usd - self._base if usage is not None else 0.0
        return self._carried + max(metered, 0.0)

    def heartbeat(self, text: str) -> None:
        """Heartbeat with the progress text and the spend (what a retry carries on with)."""
        activity.heartbeat(text, self.usd())
