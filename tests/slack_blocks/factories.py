"""Ready-made tasks, views and event deliveries for the Block Kit tests (events are built from
a notice kind and a view the way the workflow's announcer builds them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestration.models import (
    ChangeSet,
    Decision,
    DecisionRecord,
    FileChange,
    NoticeKind,
    PullRequestRef,
    RepositoryChange,
    RepositorySpec,
    Step,
    StepTiming,
    TaskInput,
    TaskResult,
    TaskStatus,
    TaskView,
    TokenUsage,
)
from orchestration.models.event_builders import event_for, headline_of
from orchestration.models.events import (
    PROGRESS_CHARS,
    EventDelivery,
    OriginKind,
    TaskOrigin,
    bounded,
)

TASK_ID = "20261124-3fa9c2"
RUN_URL = "https://temporal.example.com/namespaces/default/workflows/fix-20261124-3fa9c2/run-1"
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def repo(name: str = "calc", branch: str = "main") -> RepositorySpec:
    return RepositorySpec(url=f"https://github.com/acme/{name}", branch=branch, name=name)


def task(**changes: object) -> TaskInput:
    values: dict[str, object] = {
        "task_id": TASK_ID,
        "title": "add() subtracts",
        "description": "add(1, 2) returns -1",
        "repositories": [repo()],
        "requester": "U012ABCDEF",
        "origin": TaskOrigin(kind=OriginKind.SLACK, channel="C0BUGS"),
        "created_at": START,
    }
    values.update(changes)
    return TaskInput.model_validate(values)


def steps() -> list[StepTiming]:
    return [
        StepTiming(
            step=Step.PROVISION, started_at=START, finished_at=START + timedelta(seconds=20)
        ),
        StepTiming(
            step=Step.AGENT,
            started_at=START + timedelta(seconds=20),
            finished_at=START + timedelta(seconds=200),
        ),
        StepTiming(step=Step.APPROVAL, started_at=START + timedelta(seconds=252)),
    ]


def changes(repositories: int = 1, files: int = 2) -> ChangeSet:
    return ChangeSet(
        repositories=[
            RepositoryChange(
                repository=repo(f"repo{r}"),
                base_commit="0" * 40,
                files=[
                    FileChange(path=f"src/module_{i}.py", additions=i, deletions=1)
                    for i in range(files)
                ],
                patch="",
                patch_sha256="",
            )
            for r in range(repositories)
        ]
    )


def view(status: TaskStatus = TaskStatus.RUNNING, **changes: object) -> TaskView:
    values: dict[str, object] = {
        "task_id": TASK_ID,
        "title": "add() subtracts",
        "status": status,
        "current_step": Step.AGENT,
        "steps": steps(),
        "last_progress": "Edit pricing.py",
        "cost_usd": 0.12,
    }
    values.update(changes)
    return TaskView.model_validate(values)


def awaiting(
    summary: str = "Fixed the sign in add().", change_set: ChangeSet | None = None
) -> TaskView:
    return view(
        TaskStatus.AWAITING_APPROVAL,
        current_step=Step.APPROVAL,
        summary=summary,
        changes=change_set or changes(),
        cost_usd=0.28,
    )


def delivery(
    kind: NoticeKind,
    the_view: TaskView | None = None,
    *,
    the_task: TaskInput | None = None,
    text: str = "",
    run_url: str | None = RUN_URL,
) -> EventDelivery:
    """The delivery of the event `kind` stands for; a decision carries the card of its view."""
    shown = the_view or view()
    headline = headline_of(the_task or task())
    event = event_for(kind, text, shown, headline=headline, seq=1, at=START)
    latest, card = shown.last_progress, None
    if kind is NoticeKind.DECIDED:
        card = event_for(NoticeKind.CHANGES_READY, "", shown, headline=headline, seq=0, at=START)
    return EventDelivery.model_validate(
        {
            "event": event,
            "headline": headline,
            "activity": bounded(latest, PROGRESS_CHARS) if latest else None,
            "card": card,
            "run_url": run_url,
        }
    )


def root(
    the_task: TaskInput | None = None, the_view: TaskView | None = None, run_url: str | None = None
) -> EventDelivery:
    """A status delivery, as the root message is rebuilt from."""
    return delivery(NoticeKind.PROGRESS, the_view, the_task=the_task, run_url=run_url)


def record(approve: bool = True, by: str = "U0APPROVER", comment: str = "") -> DecisionRecord:
    return DecisionRecord(
        decision=Decision(approve=approve, by=by, comment=comment),
        at=START + timedelta(minutes=10),
    )


def pull_request(name: str = "calc", number: int = 7) -> PullRequestRef:
    return PullRequestRef(
        repository=f"acme/{name}",
        branch=f"fixbot/{TASK_ID}",
        url=f"https://github.com/acme/{name}/pull/{number}",
        number=number,
    )


def result(status: TaskStatus = TaskStatus.COMPLETED) -> TaskResult:
    return TaskResult(
        task_id=TASK_ID,
        status=status,
        summary="Fixed the sign in add().",
        pull_requests=[pull_request()],
        cost_usd=0.31,
        usage=TokenUsage(input_tokens=12_000, output_tokens=3_400),
        step_seconds={"provision": 20.0, "agent": 180.0, "pull_requests": 5.0},
    )
