"""Validating a task against the worker's own policy (the client validated it too)."""

from __future__ import annotations

from temporalio import activity

from orchestration import activity_names as names
from orchestration.activities.errors import permanent
from orchestration.models import TaskInput
from orchestration.validation import RepositoryRules, TaskValidationError, validate_task


class ValidationActivities:
    """Holds the repository rules from the worker's settings."""

    def __init__(self, rules: RepositoryRules) -> None:
        self._rules = rules

    @activity.defn(name=names.VALIDATE_TASK)
    async def validate(self, task: TaskInput) -> None:
        """Refuse an invalid task before any sandbox exists; never retried."""
        try:
            validate_task(task, self._rules)
        except TaskValidationError as exc:
            raise permanent(str(exc), "InvalidTask") from None
