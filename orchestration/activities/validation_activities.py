"""Validating a task against the worker's own policy (the client validated it too)."""

from __future__ import annotations

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.errors import permanent
from orchestration.models import TaskInput
from orchestration.policy.validation import RepositoryRules, TaskValidationError, validate_task


class ValidationActivities:
    """Holds the repository rules from the worker's settings."""

    def __init__(self, rules: RepositoryRules, *, allow_skipping_approval: bool = False) -> None:
        self._rules = rules
        self._allow_skip = allow_skipping_approval

    @activity.defn(name=contracts.VALIDATE_TASK.name)
    async def validate(self, task: TaskInput) -> None:
        """Refuse an invalid task before any sandbox exists; never retried."""
        try:
            validate_task(task, self._rules)
        except TaskValidationError as exc:
            raise permanent(str(exc), "InvalidTask") from None
        if not task.require_approval and not self._allow_skip:
            raise permanent(
                "this deployment does not open pull requests without an approval "
                "(FIXBOT_APPROVAL__ALLOW_SKIP)",
                "ApprovalRequired",
            )
