"""What people and clients read about a task: its status view, its result, the notices."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from orchestration.models.decisions import (
    AuditTrail,
    ChangeRequest,
    DecisionRecord,
    RefusedAction,
)
from orchestration.models.environment import Verification
from orchestration.models.steps import ChangeSet, PullRequestRef, TokenUsage
from orchestration.models.task import Step, TaskStatus


class StepTiming(BaseModel):
    step: Step
    started_at: datetime
    finished_at: datetime | None = None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class TaskView(BaseModel):
    """The status query: what a person sees with `fixbot status`."""

    task_id: str
    title: str
    status: TaskStatus
    current_step: Step | None = None
    steps: list[StepTiming] = Field(default_factory=list)
    last_progress: str | None = None
    cost_usd: float = 0.0
    changes: ChangeSet | None = None
    summary: str | None = None
    question: str | None = None
    pull_requests: list[PullRequestRef] = Field(default_factory=list)
    decision: DecisionRecord | None = None
    refused: list[RefusedAction] = Field(default_factory=list)
    error: str | None = None
    result: TaskResult | None = None  # once the task has ended
    revision: int = 0  # which approval card this is (1 for the first, 2 after changes...)
    change_request: ChangeRequest | None = None
    verifications: list[Verification] = Field(default_factory=list)  # fixbot's own test runs
    verification_note: str | None = None  # why nothing was verified, when it is not the usual


class TaskResult(BaseModel):
    """The workflow's result: how it ended and what it cost."""

    task_id: str
    status: TaskStatus
    summary: str = ""
    pull_requests: list[PullRequestRef] = Field(default_factory=list)
    files_changed: dict[str, list[str]] = Field(default_factory=dict)
    cost_usd: float = 0.0
    usage: TokenUsage = Field(default_factory=TokenUsage)
    num_turns: int = 0
    step_seconds: dict[str, float] = Field(default_factory=dict)
    decision: DecisionRecord | None = None
    error: str | None = None
    audit: AuditTrail | None = None
    verifications: list[Verification] = Field(default_factory=list)
    verification_note: str | None = None


class NoticeKind(StrEnum):
    """The workflow's words for what happened; the announcer turns them into task events."""

    STARTED = "started"  # posts the root message; its receipt gives the thread
    PROGRESS = "progress"  # edits the root message's status line (throttled)
    SANDBOX_READY = "sandbox_ready"
    AGENT_WORKING = "agent_working"
    QUESTION = "question"
    CHANGES_READY = "changes_ready"  # posts the approval card
    DECIDED = "decided"  # turns the approval card into its decided form
    PR_OPENED = "pr_opened"
    NO_CHANGE = "no_change"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    COMPLETED = "completed"


TaskView.model_rebuild()


TaskResult.model_rebuild()
