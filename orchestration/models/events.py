"""Task events: what happened to a task, the same for every way a task can start.

A task started from the CLI, from Slack or (later) from the web emits the same typed events;
channels (Slack, the CLI's live view, ...) render them. Each event carries only what changed
plus a few common fields, so the notify activity's input, and with it the workflow history,
stays small: no TaskInput, no patch text. Pure pydantic, no I/O (the workflow sandbox loads it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field

from orchestration.models import (
    ChangeRequest,
    ChangeSet,
    DecisionRecord,
    FileChange,
    PullRequestRef,
    RepositoryChange,
    RepositorySpec,
    Step,
    TaskStatus,
)
from orchestration.models.origin import OriginKind as OriginKind  # re-exported
from orchestration.models.origin import TaskOrigin as TaskOrigin
from orchestration.models.origin import Thread as Thread

TITLE_CHARS = 500
# the Slack root message shows 1500 (a little more here, so it still knows to link to the
# run for the rest); every event carries the headline, so it stays this small
DESCRIPTION_CHARS = 1600
REPOSITORIES_KEPT = 10
FILES_KEPT = 50
# the patch's first lines on the card: enough to see the change, within a Slack section
EXCERPT_LINES = 40
EXCERPT_LINE_CHARS = 160
EXCERPT_CHARS = 2000
TEXT_CHARS = 4000  # a question, a summary, a reason
PROGRESS_CHARS = 500


def bounded(text: str, limit: int) -> str:
    """The text cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TaskHeadline(BaseModel):
    """What every channel shows about a task, bounded so it can travel with each event."""

    task_id: str
    title: str
    requester: str
    description: str = ""
    ticket_url: str | None = None
    repositories: list[RepositorySpec] = Field(default_factory=list)  # the first few
    repository_count: int = 0
    origin: TaskOrigin = Field(default_factory=TaskOrigin)


def patch_excerpt(patch: str) -> tuple[str, bool]:
    """The patch's first lines, as many as fit the excerpt's bounds; and whether that is not
    the whole patch."""
    # split off only the lines that can be shown: the patch may be a megabyte, and this runs
    # in the workflow each time a card is built
    pieces = patch.split("\n", EXCERPT_LINES)
    rest = pieces[EXCERPT_LINES] if len(pieces) > EXCERPT_LINES else ""
    lines = pieces[:EXCERPT_LINES]
    if lines and lines[-1] == "" and not rest:
        lines.pop()  # the patch's final newline
    kept: list[str] = []
    size, shortened = 0, False
    for line in lines[:EXCERPT_LINES]:
        if len(line) > EXCERPT_LINE_CHARS:
            line, shortened = line[:EXCERPT_LINE_CHARS] + "…", True
        if size + len(line) + 1 > EXCERPT_CHARS:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept), shortened or bool(rest) or len(kept) < len(lines)


class RepositoryOverview(BaseModel):
    """One repository's change as a reviewer sees it: files, counts and the patch's first
    lines (the whole patch stays out of events, to keep workflow history small)."""

    repository: RepositorySpec
    files: list[FileChange] = Field(default_factory=list)  # the first few
    file_count: int = 0
    additions: int = 0
    deletions: int = 0
    patch_excerpt: str = ""
    patch_truncated: bool = False

    @property
    def diffstat(self) -> str:
        return f"{self.file_count} file(s) changed, +{self.additions} -{self.deletions}"


class ChangeOverview(BaseModel):
    """A change set without its patch text; the digest pins what an approval approves."""

    repositories: list[RepositoryOverview] = Field(default_factory=list)
    digest: str = ""
    protected_files: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, changes: ChangeSet) -> ChangeOverview:
        return cls(
            repositories=[_overview(c) for c in changes.repositories],
            digest=changes.digest,
            protected_files=changes.protected_files[:FILES_KEPT],
        )


def _overview(change: RepositoryChange) -> RepositoryOverview:
    excerpt, truncated = patch_excerpt(change.patch)
    return RepositoryOverview(
        repository=change.repository,
        files=change.files[:FILES_KEPT],
        file_count=len(change.files),
        additions=sum(f.additions for f in change.files),
        deletions=sum(f.deletions for f in change.files),
        patch_excerpt=excerpt,
        patch_truncated=truncated,
    )


class _Event(BaseModel):
    """Fields every event has: which task, its place in the task's sequence, when, and the
    task's status, step and cost at that moment (enough for a one-line status)."""

    task_id: str
    seq: int
    at: datetime
    status: TaskStatus
    current_step: Step | None = None
    cost_usd: float = 0.0


class TaskStarted(_Event):
    kind: Literal["started"] = "started"
    headline: TaskHeadline


class StepChanged(_Event):
    """The task entered a step worth telling people about (sandbox ready, agent working)."""

    kind: Literal["step_changed"] = "step_changed"
    step: Step
    detail: str = ""  # e.g. the answer or feedback the agent resumes with


class ProgressReported(_Event):
    kind: Literal["progress"] = "progress"
    text: str


class QuestionAsked(_Event):
    kind: Literal["question"] = "question"
    question: str


class CardReady(_Event):
    """A change is ready for review: what a person needs to decide."""

    kind: Literal["card_ready"] = "card_ready"
    summary: str = ""
    revision: int = 1
    changes: ChangeOverview = Field(default_factory=ChangeOverview)
    verification: list[str] = Field(default_factory=list)  # fixbot's own test runs, a line each
    verification_failed: bool = False  # the fix made the repository's checks fail
    verification_tail: str = ""  # the end of the failing output
    tokens: int | None = None
    elapsed_seconds: float | None = None


class Decided(_Event):
    """A decision on the card: the decision record, or a request for changes."""

    kind: Literal["decided"] = "decided"
    revision: int = 1
    record: DecisionRecord | None = None
    change_request: ChangeRequest | None = None


class PullRequestsOpened(_Event):
    kind: Literal["pull_requests_opened"] = "pull_requests_opened"
    pull_requests: list[PullRequestRef] = Field(default_factory=list)
    text: str = ""


class TaskFinished(_Event):
    """The task ended; `status` is the final status."""

    kind: Literal["finished"] = "finished"
    reason: str = ""
    summary: str = ""
    pull_requests: list[PullRequestRef] = Field(default_factory=list)
    decision: DecisionRecord | None = None
    tokens: int | None = None
    elapsed_seconds: float | None = None


TaskEvent = Annotated[
    TaskStarted
    | StepChanged
    | ProgressReported
    | QuestionAsked
    | CardReady
    | Decided
    | PullRequestsOpened
    | TaskFinished,
    Field(discriminator="kind"),
]


class EventDelivery(BaseModel):
    """The notify activity's argument: one event and the little a channel needs to render it
    without the TaskInput."""

    event: TaskEvent
    headline: TaskHeadline
    thread: Thread | None = None
    activity: str | None = None  # the latest progress line, for status lines
    card: CardReady | None = None  # the card a `decided` event closes
    run_url: str | None = None


class DeliveryReceipt(BaseModel):
    """Where the event landed in the origin's channel (empty when it did not land).

    Accepts the old receipt's names (`channel_id`, `ts`), which saved histories still hold."""

    channel: str | None = Field(
        default=None, validation_alias=AliasChoices("channel", "channel_id")
    )
    message: str | None = Field(default=None, validation_alias=AliasChoices("message", "ts"))
