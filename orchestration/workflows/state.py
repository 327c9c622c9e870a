"""All of one task's workflow state in one serialisable model, and its pure projections.

The workflow holds exactly one `TaskState`; everything a person or a client sees (the status
view, the result, the audit trail) is computed from it here, with no workflow API involved.
Because it is one pydantic model, the workflow can continue-as-new with it during a long wait
and pick up where it was, with nothing lost.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from orchestration.models import (
    AgentMode,
    AgentResult,
    Answer,
    AuditTrail,
    CancelRequest,
    ChangeRequest,
    ChangeSet,
    DecisionRecord,
    PublishResult,
    RefusedAction,
    SandboxRef,
    Step,
    StepTiming,
    TaskInput,
    TaskResult,
    TaskStatus,
    TaskView,
    TokenUsage,
    WorkspaceReport,
)
from orchestration.models.environment import EnvironmentReady, Verification, VerifyRun
from orchestration.models.events import CardReady, TaskEvent, Thread


class Stage(StrEnum):
    """What the task does next; a task carried over by continue-as-new starts here."""

    SETUP = "setup"  # validate, provision, prepare the workspace
    AGENT = "agent"  # run (or resume) the agent with `agent_mode` and `agent_message`
    ANSWER = "answer"  # wait for a person's answer to the agent's question
    COLLECT = "collect"  # collect the change
    APPROVAL = "approval"  # wait for a decision on the change
    PUBLISH = "publish"  # open the pull requests
    DONE = "done"


class Announcements(BaseModel):
    """What the announcer remembers of a task's events: where its messages live, the events
    kept for the `events` query, the latest approval card, when progress last went out."""

    thread: Thread | None = None
    seq: int = 0
    events: list[TaskEvent] = Field(default_factory=list)
    card: CardReady | None = None
    last_progress_at: datetime | None = None


class TaskState(BaseModel):
    """Everything the workflow knows about its task."""

    task: TaskInput
    stage: Stage = Stage.SETUP
    status: TaskStatus = TaskStatus.PENDING
    steps: list[StepTiming] = Field(default_factory=list)
    progress: str | None = None
    sandbox: SandboxRef | None = None
    workspace: WorkspaceReport | None = None
    session_id: str | None = None
    agent_mode: AgentMode = AgentMode.START
    agent_message: str = ""
    clarifications: int = 0  # questions asked in the current agent round
    agent: AgentResult | None = None
    cost_usd: float = 0.0  # of the agent runs that finished
    # the run in flight (or the last one, had it failed): its spend so far, metered by the
    # proxy and signalled with its progress
    run_cost_usd: float = 0.0
    usage: TokenUsage = Field(default_factory=TokenUsage)
    turns: int = 0
    changes: ChangeSet | None = None
    baseline: list[VerifyRun] = Field(default_factory=list)  # the untouched tree's verify runs
    verifications: list[Verification] = Field(default_factory=list)
    repairs: int = 0  # rounds the agent was given to repair a fix that failed verification
    environments: list[EnvironmentReady] = Field(default_factory=list)  # restored by setup
    verification_note: str | None = None  # why nothing is verified (setup failed)
    decision: DecisionRecord | None = None
    answers: list[Answer] = Field(default_factory=list)
    answers_used: int = 0
    change_request: ChangeRequest | None = None
    revision: int = 0
    refused: list[RefusedAction] = Field(default_factory=list)
    cancel: CancelRequest | None = None
    pull_requests: PublishResult | None = None
    error: str | None = None
    wait_deadline: datetime | None = None  # when the current wait expires, across runs
    announcements: Announcements = Field(default_factory=Announcements)
    runs: int = 1  # workflow runs so far (continue-as-new starts the next)

    def begin(self, step: Step, now: datetime) -> None:
        self.steps.append(StepTiming(step=step, started_at=now))

    def end(self, step: Step, now: datetime) -> None:
        for timing in reversed(self.steps):
            if timing.step is step and timing.finished_at is None:
                timing.finished_at = now
                return

    def record_agent_run(self, result: AgentResult) -> None:
        """Keep a run's result and costs; its session is the one to resume (a runner may
        choose its own id instead of the one it was offered)."""
        self.agent = result
        self.session_id = result.session_id or self.session_id
        self.cost_usd += result.cost_usd
        self.run_cost_usd = 0.0
        self.usage = self.usage.plus(result.usage)
        self.turns += result.num_turns

    @property
    def spent_usd(self) -> float:
        """Everything the task's model traffic cost, a failed or running agent run included."""
        return self.cost_usd + self.run_cost_usd

    @property
    def summary(self) -> str:
        return self.agent.summary if self.agent else ""

    @property
    def current_step(self) -> Step | None:
        open_steps = [t.step for t in self.steps if t.finished_at is None]
        return open_steps[-1] if open_steps else None


def status_view(state: TaskState) -> TaskView:
    """What `fixbot status` and the status query show."""
    return TaskView(
        task_id=state.task.task_id,
        title=state.task.title,
        status=state.status,
        current_step=state.current_step,
        steps=list(state.steps),
        last_progress=state.progress,
        cost_usd=state.spent_usd,
        changes=state.changes,
        summary=state.agent.summary if state.agent else None,
        question=state.agent.question if state.agent else None,
        pull_requests=state.pull_requests.pull_requests if state.pull_requests else [],
        decision=state.decision,
        refused=list(state.refused),
        revision=state.revision,
        change_request=state.change_request,
        error=state.error,
        verifications=list(state.verifications),
        verification_note=state.verification_note,
    )


def task_result(state: TaskState) -> TaskResult:
    """The workflow's result: how the task ended and what it cost."""
    changes = state.changes.repositories if state.changes else []
    return TaskResult(
        task_id=state.task.task_id,
        status=state.status,
        summary=state.summary,
        pull_requests=state.pull_requests.pull_requests if state.pull_requests else [],
        files_changed={c.repository.name: [f.path for f in c.files] for c in changes},
        cost_usd=state.spent_usd,
        usage=state.usage,
        num_turns=state.turns,
        step_seconds=step_seconds(state.steps),
        decision=state.decision,
        audit=audit_trail(state),
        error=state.error,
        verifications=list(state.verifications),
        verification_note=state.verification_note,
    )


def audit_trail(state: TaskState) -> AuditTrail:
    """Who asked, who decided on which exact change, what was refused, what was pushed."""
    record = state.decision
    prs = state.pull_requests.pull_requests if state.pull_requests else []
    return AuditTrail(
        requested_by=state.task.requester,
        requested_at=state.task.created_at,
        decided_by=record.decision.by if record else None,
        decided_at=record.at if record else None,
        approved=record.decision.approve if record else None,
        approved_digest=record.approved_digest if record else None,
        refused=list(state.refused),
        pushed_branches=[p.branch for p in prs],
    )


def step_seconds(steps: list[StepTiming]) -> dict[str, float]:
    """Seconds spent in each step, summed over its rounds."""
    totals: dict[str, float] = {}
    for timing in steps:
        if timing.seconds is not None:
            totals[timing.step.value] = totals.get(timing.step.value, 0.0) + timing.seconds
    return totals
