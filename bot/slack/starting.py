"""Starting a task from Slack: the task id comes from the trigger, so a redelivered command
or modal submission finds the workflow it already started instead of starting a second."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.slack.access import SlackAccess
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import ApprovalPolicy, RepositorySpec, TaskInput
from orchestration.models.origin import OriginKind, TaskOrigin
from orchestration.policy.validation import RepositoryRules, validate_task
from orchestration.runtime.settings import Settings


def task_id_for_trigger(trigger: str) -> str:
    """A stable task id for one Slack trigger (slash command trigger id, modal view id)."""
    return "slack-" + hashlib.sha256(trigger.encode()).hexdigest()[:16]


@dataclass
class TaskRequest:
    """What a person asked for in Slack."""

    trigger: str
    user_id: str
    channel_id: str
    team_id: str | None
    title: str
    repositories: list[RepositorySpec]
    description: str = ""
    require_approval: bool = True
    budget_usd: float | None = None


class SlackTaskStarter:
    """Builds the task (policy from Slack's approvers), validates it, starts the workflow."""

    def __init__(
        self, settings: Settings, gateway: TaskGateway, access: SlackAccess, rules: RepositoryRules
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._access = access
        self._rules = rules

    async def start(self, request: TaskRequest) -> TaskInput:
        """Raise TaskValidationError (with every problem) or start and return the task."""
        task = make_task(
            self._settings,
            title=request.title,
            description=request.description,
            repositories=request.repositories,
            requester=request.user_id,
            require_approval=request.require_approval,
            budget_usd=request.budget_usd,
            task_id=task_id_for_trigger(request.trigger),
            origin=TaskOrigin(
                kind=OriginKind.SLACK, channel=request.channel_id, workspace=request.team_id
            ),
        )
        policy = ApprovalPolicy(
            approvers=await self._access.approvers(),
            allow_self_approval=self._settings.approval.allow_self_approval,
        )
        task = task.model_copy(update={"policy": policy})
        validate_task(task, self._rules)
        await self._gateway.start(task)
        return task

    def default_repositories(self, channel_id: str) -> list[str]:
        return list(self._settings.slack.channel_repositories.get(channel_id, []))

    @property
    def repository_options(self) -> list[str]:
        return list(self._settings.slack.repositories)
