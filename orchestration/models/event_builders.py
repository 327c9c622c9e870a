"""How the workflow's words for what happened (NoticeKind plus its status view) become typed
task events carrying only what changed.

Pure and deterministic: the announcer calls it inside the workflow; the CLI's live view (for
a worker without the events query) and tests build the same events with it.
"""

from __future__ import annotations

from datetime import datetime

from orchestration.models import NoticeKind, Step, TaskInput, TaskStatus, TaskView
from orchestration.models.environment import verification_lines
from orchestration.models.events import (
    DESCRIPTION_CHARS,
    PROGRESS_CHARS,
    REPOSITORIES_KEPT,
    TEXT_CHARS,
    TITLE_CHARS,
    CardReady,
    ChangeOverview,
    Decided,
    ProgressReported,
    PullRequestsOpened,
    QuestionAsked,
    StepChanged,
    TaskEvent,
    TaskFinished,
    TaskHeadline,
    TaskStarted,
    bounded,
)

FINAL_STATUS = {
    NoticeKind.COMPLETED: TaskStatus.COMPLETED,
    NoticeKind.NO_CHANGE: TaskStatus.NO_CHANGE,
    NoticeKind.FAILED: TaskStatus.FAILED,
    NoticeKind.REJECTED: TaskStatus.REJECTED,
    NoticeKind.CANCELLED: TaskStatus.CANCELLED,
    NoticeKind.EXPIRED: TaskStatus.EXPIRED,
}
_STEP_ENTERED = {NoticeKind.SANDBOX_READY: Step.WORKSPACE, NoticeKind.AGENT_WORKING: Step.AGENT}


def headline_of(task: TaskInput) -> TaskHeadline:
    """What every channel shows about the task, bounded."""
    return TaskHeadline(
        task_id=task.task_id,
        title=bounded(task.title, TITLE_CHARS),
        requester=task.requester,
        description=bounded(task.description, DESCRIPTION_CHARS),
        ticket_url=task.ticket_url,
        repositories=task.repositories[:REPOSITORIES_KEPT],
        repository_count=len(task.repositories),
        origin=task.origin,
    )


def event_for(
    kind: NoticeKind, text: str, view: TaskView, *, headline: TaskHeadline, seq: int, at: datetime
) -> TaskEvent:
    """The event a notice kind stands for, with the view's status, step and cost."""
    common = {
        "task_id": view.task_id,
        "seq": seq,
        "at": at,
        "status": FINAL_STATUS.get(kind, view.status),
        "current_step": view.current_step,
        "cost_usd": view.result.cost_usd if view.result is not None else view.cost_usd,
    }
    if kind is NoticeKind.STARTED:
        return TaskStarted(**common, headline=headline)
    if kind is NoticeKind.PROGRESS:
        return ProgressReported(**common, text=bounded(text, PROGRESS_CHARS))
    if kind in _STEP_ENTERED:
        return StepChanged(**common, step=_STEP_ENTERED[kind], detail=bounded(text, TEXT_CHARS))
    if kind is NoticeKind.QUESTION:
        return QuestionAsked(**common, question=bounded(view.question or text, TEXT_CHARS))
    if kind is NoticeKind.CHANGES_READY:
        return card_ready(view, text, common)
    if kind is NoticeKind.DECIDED:
        return decided(view, common)
    if kind is NoticeKind.PR_OPENED:
        return PullRequestsOpened(**common, pull_requests=view.pull_requests, text=text)
    return finished(view, text, common)


def card_ready(view: TaskView, text: str, common: dict[str, object]) -> CardReady:
    return CardReady.model_validate(
        {
            **common,
            "summary": bounded(view.summary or text, TEXT_CHARS),
            "revision": max(view.revision, 1),
            "changes": ChangeOverview.of(view.changes) if view.changes else ChangeOverview(),
            **_verification(view),
            "tokens": _tokens(view),
            "elapsed_seconds": elapsed_seconds(view),
        }
    )


VERIFY_TAIL_CHARS = 1500  # a Slack code block's worth of a failing run's last lines


def _verification(view: TaskView) -> dict[str, object]:
    """The card's verification lines, and the end of the output of a fix that failed."""
    repositories = len(view.changes.repositories) if view.changes else 0
    failing = [v for v in view.verifications if v.regressed and v.after is not None]
    tail = "\n".join(v.after.output_tail for v in failing if v.after is not None)
    return {
        "verification": verification_lines(
            view.verifications, repositories > 1, view.verification_note
        ),
        "verification_failed": bool(failing),
        "verification_tail": bounded(tail[-VERIFY_TAIL_CHARS:], VERIFY_TAIL_CHARS),
    }


def decided(view: TaskView, common: dict[str, object]) -> Decided:
    """The decision, or (when there is none) the request for changes."""
    request = view.change_request if view.decision is None else None
    return Decided.model_validate(
        {
            **common,
            "revision": max(view.revision, 1),
            "record": view.decision,
            "change_request": request,
        }
    )


def finished(view: TaskView, text: str, common: dict[str, object]) -> TaskFinished:
    result = view.result
    return TaskFinished.model_validate(
        {
            **common,
            "reason": bounded(text or view.error or "", TEXT_CHARS),
            "summary": bounded(view.summary or "", TEXT_CHARS),
            "pull_requests": view.pull_requests or (result.pull_requests if result else []),
            "decision": view.decision,
            "tokens": _tokens(view),
            "elapsed_seconds": elapsed_seconds(view),
        }
    )


def elapsed_seconds(view: TaskView) -> float | None:
    """Seconds from the first step's start to the latest recorded moment."""
    if view.result is not None and view.result.step_seconds:
        return sum(view.result.step_seconds.values())
    if not view.steps:
        return None
    start = min(t.started_at for t in view.steps)
    moments = [t.finished_at or t.started_at for t in view.steps]
    return (max(moments) - start).total_seconds()


def _tokens(view: TaskView) -> int | None:
    """Tokens used, when the view knows them (only once the task has a result)."""
    return view.result.usage.total if view.result is not None else None
