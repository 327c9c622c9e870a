"""What the workflow's steps take and return: sandbox, workspace, agent, change, pull requests."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, Field

from orchestration.models.environment import EnvironmentSpec
from orchestration.models.task import RepositorySpec, TaskInput


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
    environment: EnvironmentSpec | None = None  # the repository's spec, or the operator's


class WorkspaceReport(BaseModel):
    repositories: list[PreparedRepository]


class SetupRequest(BaseModel):
    """Set up (or restore) each repository's environment in the task's sandbox."""

    task: TaskInput
    workflow_id: str
    sandbox: SandboxRef
    workspace: WorkspaceReport


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
    REPAIR = "repair"  # resume with the output of a verification the fix failed
    CONTINUE = "continue"  # resume after the run was cut off (its worker died)


class AgentRequest(BaseModel):
    """Run (or resume) the agent in the task's sandbox."""

    task: TaskInput
    sandbox: SandboxRef
    session_id: str
    mode: AgentMode = AgentMode.START
    message: str = ""
    budget_usd: float
    # the repository whose set-up environment (tools installed by its setup) the agent sees
    environment_of: str | None = None


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
    transcript: str | None = None  # where the worker keeps the session's transcript


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
    verification: list[str] = Field(default_factory=list)  # fixbot's own test runs, a line each


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
