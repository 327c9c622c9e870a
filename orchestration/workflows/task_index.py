"""The workflow's side of the task index: keeps the task's search attributes up to date.

Runs inside the workflow (deterministic: only workflow APIs and pure code). Each upsert is an
event in history, so only the attributes whose value changed since the last one are sent; the
values the task was started with (the client sets them, see TaskGateway.start) count as sent.
The attribute names and meanings are in orchestration/models/index.py.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from orchestration.models import TaskInput, TaskView
    from orchestration.models.index import SEARCH_ATTRIBUTES, comparable, index_values


class TaskIndex:
    """Upserts a task's search attributes from its status view, only what changed."""

    def __init__(self, task: TaskInput) -> None:
        self._task = task
        self._sent = _known_values(workflow.info().typed_search_attributes)

    def update(self, view: TaskView) -> None:
        """Bring the attributes in line with the view; no event when nothing changed."""
        wanted = index_values(self._task, view.status, view.cost_usd)
        changes: list[SearchAttributeUpdate[Any]] = []
        for pair in wanted:
            value = comparable(pair.value)
            if self._sent.get(pair.key.name) != value:
                changes.append(pair.key.value_set(pair.value))
                self._sent[pair.key.name] = value
        if changes:
            workflow.upsert_search_attributes(changes)


def _known_values(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """The index's values the workflow already carries (from its start), by name."""
    known: dict[str, Any] = {}
    for key in SEARCH_ATTRIBUTES:
        value = attributes.get(key)
        if value is not None:
            known[key.name] = comparable(value)
    return known
