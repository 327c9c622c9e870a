"""The data that crosses workflow and activity boundaries.

Every workflow, activity, signal, update and query argument is one model from here, so the
pydantic data converter can carry it and a reader finds the whole vocabulary in one place.
This module has no side effects and imports nothing with I/O (the workflow sandbox loads it).
"""

from __future__ import annotations

import hashlib
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
    AGENT = "agent"
    CHANGES = "changes"
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


class SandboxRef(BaseModel):
    """A provisioned sandbox, as recorded in workflow state."""

    sandbox_id: str
    name: str


class ProvisionRequest(BaseModel):
    task_id: str
    workflow_id: str
    budget_usd: float = 5.0  # what the model proxy lets this task spend
    allow_egress: bool = False


class SandboxTarget(BaseModel):
    """An activity argument naming the task and its sandbox."""

    task: TaskInput
    sandbox: SandboxRef


class PreparedRepository(BaseModel):
    name: str
    branch: str
    commit: str
    path: str


class WorkspaceReport(BaseModel):
    repositories: list[PreparedRepository]


class CollectRequest(BaseModel):
    """Collect the change in each prepared repository, against the commit it was prepared at."""

    task: TaskInput
    sandbox: SandboxRef
    workspace: WorkspaceReport


class AgentOutcome(StrEnum):
    """What the agent reports through its structured output."""

    FIXED = "fixed"
    NO_FIX = "no_fix"
    NEEDS_CLARIFICATION = "needs_clarification"


class AgentMode(StrEnum):
    START = "start"
    ANSWER = "answer"  # resume with a person's answer to the agent's question
    FEEDBACK = "feedback"  # resume with a reviewer's requested changes
    CONTINUE = "continue"  # resume after the run was cut off (its worker died)


class AgentRequest(BaseModel):
    """Run (or resume) the agent in the task's sandbox."""

    task: TaskInput
    sandbox: SandboxRef
    session_id: str
    mode: AgentMode = AgentMode.START
    message: str = ""
    budget_usd: float


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def plus(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens + other.cache_creation_input_tokens
            ),
        )

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


class AgentResult(BaseModel):
    """One agent run's outcome and its costs, from the final stream-json `result` line."""

    session_id: str
    outcome: AgentOutcome
    summary: str = ""
    question: str | None = None
    cost_usd: float = 0.0
    usage: TokenUsage = Field(default_factory=TokenUsage)
    num_turns: int = 0
    duration_ms: int = 0


class AgentProgress(BaseModel):
    """A progress line the agent activity reports to its workflow (a signal)."""

    text: str
    cost_usd: float | None = None


class FileChange(BaseModel):
    path: str
    additions: int
    deletions: int


class RepositoryChange(BaseModel):
    """One repository's change as the agent left it: the patch is against the prepared commit."""

    repository: RepositorySpec
    base_commit: str
    files: list[FileChange]
    patch: str
    patch_sha256: str
    protected_files: list[str] = Field(default_factory=list)  # under protected paths

    @property
    def diffstat(self) -> str:
        added = sum(f.additions for f in self.files)
        removed = sum(f.deletions for f in self.files)
        return f"{len(self.files)} file(s) changed, +{added} -{removed}"


class ChangeSet(BaseModel):
    """The changed repositories only; empty means the agent changed nothing."""

    repositories: list[RepositoryChange] = Field(default_factory=list)
    protected_paths_allowed: bool = False  # the deployment lets fixbot push protected paths

    @property
    def digest(self) -> str:
        """One hash over every repository's exact patch: what an approval approves."""
        lines = sorted(f"{c.repository.name}:{c.patch_sha256}" for c in self.repositories)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    @property
    def protected_files(self) -> list[str]:
        return [f"{c.repository.name}/{p}" for c in self.repositories for p in c.protected_files]


class PublishRequest(BaseModel):
    """Push the approved changes and open (or reuse) one pull request per repository."""

    task: TaskInput
    changes: ChangeSet
    summary: str
    cost_usd: float
    run_url: str | None = None
    approved_digest: str | None = None  # the push refuses any other change


class PullRequestRef(BaseModel):
    repository: str
    branch: str
    url: str
    number: int | None = None
    created: bool = True  # False when an open PR for the branch already existed
    patch_file: str | None = None  # the local forge writes the patch here


class PublishResult(BaseModel):
    pull_requests: list[PullRequestRef]


class DestroyRequest(BaseModel):
    task_id: str
    workflow_id: str


class Decision(BaseModel):
    """A person's decision on the approval card (or `fixbot approve/reject`)."""

    approve: bool
    by: str
    comment: str = ""
    diff_sha256: str | None = None  # the ChangeSet.digest the person reviewed, when known


class DecisionRecord(BaseModel):
    decision: Decision
    at: datetime
    approved_digest: str | None = None  # ChangeSet.digest of the change that was decided on


class RefusedAction(BaseModel):
    """A decision or cancel that was refused, kept for the audit trail."""

    by: str
    action: str
    reason: str
    at: datetime


class CancelRequest(BaseModel):
    by: str
    reason: str = ""


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


class SignalDecision(BaseModel):
    """The `approve`/`reject` signals' argument (`temporal workflow signal --name approve`)."""

    by: str = ""
    comment: str = ""


class Answer(BaseModel):
    """A person's answer to the agent's clarification question."""

    by: str
    text: str


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


class ChangeRequest(BaseModel):
    """A reviewer asks for changes instead of approving: the agent revises in its session."""

    by: str
    feedback: str


class AuditTrail(BaseModel):
    """Who did what to a task, for the record: in the result and in one log line."""

    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    approved: bool | None = None
    approved_digest: str | None = None
    refused: list[RefusedAction] = Field(default_factory=list)
    pushed_branches: list[str] = Field(default_factory=list)


TaskView.model_rebuild()
TaskResult.model_rebuild()
