"""Building a TaskInput from what a person typed, with the deployment's defaults applied."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from orchestration.models import ApprovalPolicy, RepositorySpec, TaskInput
from orchestration.models.origin import TaskOrigin
from orchestration.policy.validation import RepositoryRules
from orchestration.runtime.settings import Settings


def new_task_id(now: datetime | None = None) -> str:
    """A short, sortable, unique task id such as `20261124-3fa9c2`."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%d}-{secrets.token_hex(3)}"


def make_task(
    settings: Settings,
    *,
    title: str,
    repositories: list[RepositorySpec],
    requester: str,
    description: str = "",
    ticket_url: str | None = None,
    require_approval: bool = True,
    auto_merge: bool = False,
    budget_usd: float | None = None,
    model: str | None = None,
    task_id: str | None = None,
    origin: TaskOrigin | None = None,
) -> TaskInput:
    """A task with settings' defaults for everything the person did not choose."""
    now = datetime.now(UTC).replace(microsecond=0)
    return TaskInput(
        task_id=task_id or new_task_id(now),
        title=title.strip(),
        description=description,
        repositories=repositories,
        ticket_url=ticket_url,
        requester=requester,
        origin=origin or TaskOrigin(),  # the CLI unless said otherwise
        require_approval=require_approval,
        auto_merge=auto_merge,
        draft=settings.git.draft_pull_requests,
        approval_timeout_seconds=settings.approval.timeout_seconds,
        budget_usd=budget_usd if budget_usd is not None else settings.agent.budget_usd,
        model=model or settings.agent.model,
        agent_timeout_seconds=settings.agent.timeout_seconds,
        max_repairs=settings.environment.max_repairs,
        continue_without_setup=settings.environment.continue_without_setup,
        policy=ApprovalPolicy(
            approvers=settings.approval.approvers,
            allow_self_approval=settings.approval.allow_self_approval,
        ),
        created_at=now,
    )


def repository_rules(settings: Settings) -> RepositoryRules:
    git = settings.git
    return RepositoryRules(
        allowed_schemes=tuple(git.allowed_schemes),
        allowed_hosts=tuple(git.allowed_hosts),
        allow_local=git.allow_local_repositories,
    )
