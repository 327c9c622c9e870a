"""A task: what to fix, where, for whom, and where it stands (its status and steps)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from orchestration.models.origin import OriginKind, TaskOrigin


class TaskStatus(StrEnum):
    """Where a task is; the last seven are terminal."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    PREPARING = "preparing"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    CREATING_PRS = "creating_prs"
    COMPLETED = "completed"
    NO_CHANGE = "no_change"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = {
    TaskStatus.COMPLETED,
    TaskStatus.NO_CHANGE,
    TaskStatus.FAILED,
    TaskStatus.REJECTED,
    TaskStatus.CANCELLED,
    TaskStatus.EXPIRED,
}


class Step(StrEnum):
    """The workflow's steps, in order; each is timed in the result."""

    VALIDATE = "validate"
    PROVISION = "provision"
    WORKSPACE = "workspace"
    SETUP = "setup"
    AGENT = "agent"
    CHANGES = "changes"
    VERIFY = "verify"
    APPROVAL = "approval"
    PULL_REQUESTS = "pull_requests"
    CLEANUP = "cleanup"


class RepositorySpec(BaseModel):
    """One repository to work on: where it lives, which branch, its folder name in the sandbox."""

    url: str
    branch: str = "main"
    name: str


class ApprovalPolicy(BaseModel):
    """Who may decide on this task's fix; copied from settings when the task starts."""

    approvers: list[str] = Field(default_factory=list)  # empty: anyone may decide
    allow_self_approval: bool = False


class TaskInput(BaseModel):
    """Everything the workflow needs to fix one bug; the workflow's single argument."""

    task_id: str
    title: str
    description: str = ""
    repositories: list[RepositorySpec]
    ticket_url: str | None = None
    requester: str
    origin: TaskOrigin = Field(default_factory=TaskOrigin)  # where it started: cli, slack, web
    require_approval: bool = True
    auto_merge: bool = False
    draft: bool = False
    approval_timeout_seconds: int = 24 * 3600
    budget_usd: float = 5.0
    model: str | None = None
    agent_timeout_seconds: int = 30 * 60
    # rounds the agent gets to repair a fix that fails the repository's verify command
    max_repairs: int = 2
    # a failing setup lets the task go on unverified instead of stopping it
    continue_without_setup: bool = False
    # how soon a crashed worker is noticed and its step retried elsewhere
    heartbeat_timeout_seconds: int = 30
    # a long wait continues as a new workflow run once the history has this many events
    continue_as_new_after_events: int = 10_000
    policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    allow_egress: bool = False  # reach the deployment's egress allowlist (package registries)
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _origin_from_slack(cls, data: object) -> object:
        """Histories of earlier versions carry `"slack": {channel_id, thread_ts, team_id}`."""
        if not isinstance(data, dict) or "slack" not in data:
            return data
        data = dict(data)
        slack = data.pop("slack")
        if isinstance(slack, dict) and "origin" not in data:
            data["origin"] = TaskOrigin(
                kind=OriginKind.SLACK,
                channel=slack.get("channel_id"),
                thread=slack.get("thread_ts"),
                workspace=slack.get("team_id"),
            )
        return data
