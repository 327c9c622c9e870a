"""The data that crosses workflow and activity boundaries: fixbot's pydantic vocabulary.

Every workflow, activity, signal, update and query argument is one model from this package,
so the pydantic data converter can carry it. The modules have no side effects and import
nothing with I/O (the workflow sandbox loads them). Import from here; the modules group the
models by what they describe (task, steps, decisions, views; events, origin, index).
"""

from __future__ import annotations

from orchestration.models.decisions import (
    Answer,
    AuditTrail,
    CancelRequest,
    ChangeRequest,
    Decision,
    DecisionRecord,
    RefusedAction,
    SignalDecision,
)
from orchestration.models.steps import (
    AgentMode,
    AgentOutcome,
    AgentProgress,
    AgentRequest,
    AgentResult,
    ChangeSet,
    CollectRequest,
    DestroyRequest,
    FileChange,
    PreparedRepository,
    ProvisionRequest,
    PublishRequest,
    PublishResult,
    PullRequestRef,
    RepositoryChange,
    SandboxRef,
    SandboxTarget,
    SetupRequest,
    TokenUsage,
    WorkspaceReport,
)
from orchestration.models.task import (
    ApprovalPolicy,
    RepositorySpec,
    Step,
    TaskInput,
    TaskStatus,
)
from orchestration.models.views import (
    NoticeKind,
    StepTiming,
    TaskResult,
    TaskView,
)

__all__ = [
    "AgentMode",
    "AgentOutcome",
    "AgentProgress",
    "AgentRequest",
    "AgentResult",
    "Answer",
    "ApprovalPolicy",
    "AuditTrail",
    "CancelRequest",
    "ChangeRequest",
    "ChangeSet",
    "CollectRequest",
    "Decision",
    "DecisionRecord",
    "DestroyRequest",
    "FileChange",
    "NoticeKind",
    "PreparedRepository",
    "ProvisionRequest",
    "PublishRequest",
    "PublishResult",
    "PullRequestRef",
    "RefusedAction",
    "RepositoryChange",
    "RepositorySpec",
    "SandboxRef",
    "SandboxTarget",
    "SetupRequest",
    "SignalDecision",
    "Step",
    "StepTiming",
    "TaskInput",
    "TaskResult",
    "TaskStatus",
    "TaskView",
    "TokenUsage",
    "WorkspaceReport",
]
