"""BugFixWorkflow on the real Temporal dev server, with its activities replaced by name."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestration.client.gateway import ActionRefused, NoWorker, TaskGateway, workflow_id
from orchestration.models import (
    AgentMode,
    AgentOutcome,
    Answer,
    CancelRequest,
    ChangeRequest,
    Decision,
    RepositoryChange,
    RepositorySpec,
    SignalDecision,
    TaskInput,
    TaskStatus,
    TaskView,
)
from orchestration.models.events import Decided, OriginKind, TaskOrigin
from orchestration.workflows.bugfix import BugFixWorkflow
from tests.workflow.stubs import Stubs, agent_result, change_for, make_task, stub_worker

SLACK = TaskOrigin(kind=OriginKind.SLACK, channel="C9")


@pytest.fixture
async def harness(
    temporal_env: WorkflowEnvironment,
) -> AsyncIterator[Callable[[Stubs], TaskGateway]]:
    """Runs a stub worker on a fresh task queue for each Stubs given; stops them afterwards."""
    workers = []

    def start(stubs: Stubs) -> TaskGateway:
        queue = f"q-{uuid.uuid4().hex[:8]}"
        worker = stub_worker(temporal_env.client, stubs, queue)
        workers.append(asyncio.ensure_future(worker.run()))
        workers.append(worker)  # type: ignore[arg-type]
        return TaskGateway(temporal_env.client, queue)

    yield start
    for item in workers:
        if hasattr(item, "shutdown"):
            await item.shutdown()  # type: ignore[union-attr]


async def wait_for_status(gateway: TaskGateway, task: TaskInput, status: TaskStatus) -> TaskView:
    for _ in range(200):
        view = await gateway.status(task.task_id)
        if view.status is status:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"task never reached {status}; last: {view.status}")


async def test_approved_fix_opens_pull_requests_and_cleans_up(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Approval by an approver opens the PRs; the result carries cost, tokens and step times."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    view = await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    assert view.changes is not None and view.changes.repositories[0].files[0].path == "pricing.py"
    await gateway.decide(task.task_id, Decision(approve=True, by="alice"))
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED
    assert [pr.number for pr in result.pull_requests] == [1]
    assert result.cost_usd == pytest.approx(0.25) and result.usage.total == 120
    assert result.files_changed == {"shop": ["pricing.py"]}
    assert {
        "provision",
        "workspace",
        "agent",
        "changes",
        "approval",
        "pull_requests",
        "cleanup",
    } <= set(result.step_seconds)
    assert result.decision is not None and result.decision.decision.by == "alice"
    assert stubs.calls[-2:] == ["publish", "destroy"]


async def test_no_approval_needed_goes_straight_to_pull_requests(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """With approval off the workflow never waits at the gate."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task(require_approval=False)
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED
    assert "approval" not in result.step_seconds
    assert stubs.published and stubs.destroyed == [task.task_id]


async def test_rejection_opens_nothing(harness: Callable[[Stubs], TaskGateway]) -> None:
    """A rejection ends the task as rejected, with the reason, and no PR step."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    await gateway.decide(task.task_id, Decision(approve=False, by="bob", comment="wrong fix"))
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.REJECTED
    assert result.error == "rejected by bob: wrong fix"
    assert "publish" not in stubs.calls and stubs.destroyed == [task.task_id]


async def test_unauthorized_and_self_approval_are_refused_by_the_validator(
    harness: Callable[[Stubs], TaskGateway], temporal_env: WorkflowEnvironment
) -> None:
    """Refused decisions raise at once with the reason and leave no trace in history."""
    gateway = harness(Stubs())
    task = make_task(policy={"approvers": ["alice", "rita"], "allow_self_approval": False})
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    with pytest.raises(ActionRefused, match="mallory is not an approver"):
        await gateway.decide(task.task_id, Decision(approve=True, by="mallory"))
    with pytest.raises(ActionRefused, match="may not approve their own fix"):
        await gateway.decide(task.task_id, Decision(approve=True, by="rita"))
    await gateway.decide(task.task_id, Decision(approve=True, by="alice"))
    with pytest.raises(ActionRefused, match="already approved by alice"):
        await gateway.decide(task.task_id, Decision(approve=False, by="alice"))
    assert (await gateway.result(task.task_id)).status is TaskStatus.COMPLETED
    history = await temporal_env.client.get_workflow_handle(
        workflow_id(task.task_id)
    ).fetch_history()
    assert "mallory" not in history.to_json()


async def test_refused_signal_is_recorded_and_ignored(
    harness: Callable[[Stubs], TaskGateway], temporal_env: WorkflowEnvironment
) -> None:
    """The seed's `approve` signal obeys the same rule; a refused one is kept for the audit."""
    gateway = harness(Stubs())
    task = make_task()
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    handle = temporal_env.client.get_workflow_handle(workflow_id(task.task_id))
    await handle.signal(BugFixWorkflow.approve, SignalDecision(by="mallory"))
    await asyncio.sleep(0.3)
    view = await gateway.status(task.task_id)
    assert view.status is TaskStatus.AWAITING_APPROVAL
    assert [(r.by, r.action) for r in view.refused] == [("mallory", "approve")]
    await handle.signal(BugFixWorkflow.approve, SignalDecision(by="bob"))
    assert (await gateway.result(task.task_id)).status is TaskStatus.COMPLETED


async def test_cancel_during_agent_run_stops_it_and_cleans_up(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """A cancel request interrupts the running agent activity; the sandbox is still removed."""
    stubs = Stubs(agent_blocks=True)
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.RUNNING)
    await gateway.cancel(task.task_id, CancelRequest(by="rita", reason="duplicate"))
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.CANCELLED
    assert result.error == "cancelled by rita: duplicate"
    assert stubs.agent_cancelled.is_set()
    assert stubs.calls[-1] == "destroy"


async def test_temporal_cancellation_also_cleans_up(
    harness: Callable[[Stubs], TaskGateway], temporal_env: WorkflowEnvironment
) -> None:
    """Cancelling the workflow itself (Web UI, `temporal workflow cancel`) cleans up too."""
    stubs = Stubs(agent_blocks=True)
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.RUNNING)
    await temporal_env.client.get_workflow_handle(workflow_id(task.task_id)).cancel()
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.CANCELLED
    assert stubs.agent_cancelled.is_set() and stubs.destroyed == [task.task_id]


async def test_agent_failure_fails_with_the_reason(harness: Callable[[Stubs], TaskGateway]) -> None:
    """An agent failure ends the task as failed, carrying the reason; cleanup still runs."""
    stubs = Stubs(agent_error="the agent run failed: budget exceeded")
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error == "the agent run failed: budget exceeded"
    assert stubs.destroyed == [task.task_id]


async def test_a_failed_run_still_counts_what_it_spent(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """The spend an agent run signalled (the proxy's meter) stays in the task's cost when the
    run then fails for good."""
    stubs = Stubs(agent_error="the agent exited with code 1", spent_before_error=0.37)
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.cost_usd == pytest.approx(0.37)


async def test_no_change_ends_as_no_change_with_the_explanation(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """When the agent changed nothing the task ends as no_change, explained by the agent."""
    stubs = Stubs(
        agent_results=[agent_result(AgentOutcome.NO_FIX, summary="cannot reproduce")],
        changed=lambda task: [],
    )
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.NO_CHANGE
    assert result.error == "cannot reproduce"
    assert "publish" not in stubs.calls


async def test_a_claimed_fix_with_no_change_fails_saying_so(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """The agent says "fixed" but the workspace holds no change: the task fails and says
    exactly that (with where its transcript is), never "no change needed"."""
    claimed = agent_result(summary="fixed, all tests pass", transcript="/data/t/s.jsonl")
    stubs = Stubs(agent_results=[claimed], changed=lambda task: [])
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error == (
        "the agent reported a fix but changed no file; its transcript is kept at /data/t/s.jsonl"
    )
    assert "publish" not in stubs.calls and stubs.destroyed == [task.task_id]


async def test_two_repositories_reach_the_pull_request_step_together(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Both changed repositories go to one publish step, which returns one PR each."""
    repos = [RepositorySpec(url=f"https://github.com/acme/{n}", name=n) for n in ("api", "web")]
    stubs = Stubs(changed=lambda task: [change_for(r) for r in task.repositories])
    gateway = harness(stubs)
    task = make_task(repositories=repos, require_approval=False)
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert [pr.repository for pr in result.pull_requests] == ["api", "web"]
    assert [c.repository.name for c in stubs.published[0].changes.repositories] == ["api", "web"]


async def test_clarification_resumes_the_same_session_with_the_answer(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """A question waits for an answer; the agent resumes its session with it."""
    stubs = Stubs(
        agent_results=[
            agent_result(AgentOutcome.NEEDS_CLARIFICATION, question="Which currency?"),
            agent_result(),
        ]
    )
    gateway = harness(stubs)
    task = make_task(require_approval=False)
    await gateway.start(task)
    for _ in range(100):
        view = await gateway.status(task.task_id)
        if view.question:
            break
        await asyncio.sleep(0.05)
    assert view.question == "Which currency?"
    await gateway.answer(task.task_id, Answer(by="rita", text="Euros"))
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED
    first, second = stubs.agent_requests
    assert (first.mode, second.mode, second.message) == (AgentMode.START, AgentMode.ANSWER, "Euros")
    assert first.session_id == second.session_id
    assert result.cost_usd == pytest.approx(0.5)


async def test_duplicate_start_returns_the_running_task(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Starting the same task id twice runs one workflow."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task()
    first = await gateway.start(task)
    second = await gateway.start(task)
    assert first == second
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    assert stubs.calls.count("provision") == 1
    await gateway.cancel(task.task_id, CancelRequest(by="rita"))
    assert (await gateway.result(task.task_id)).status is TaskStatus.CANCELLED


async def test_deciding_on_a_finished_task_is_refused(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Approving a task that has ended says so instead of failing obscurely."""
    gateway = harness(Stubs())
    task = make_task(require_approval=False)
    await gateway.start(task)
    await gateway.result(task.task_id)
    with pytest.raises(ActionRefused, match="ended"):
        await gateway.decide(task.task_id, Decision(approve=True, by="alice"))


async def test_unknown_task_is_a_clear_error(harness: Callable[[Stubs], TaskGateway]) -> None:
    """Status of a task that does not exist names it."""
    from orchestration.client.gateway import UnknownTask

    gateway = harness(Stubs())
    with pytest.raises(UnknownTask, match="no task 'nope-123'"):
        await gateway.status("nope-123")


async def test_status_of_a_finished_task_needs_no_worker(temporal_env: WorkflowEnvironment) -> None:
    """After the worker is gone, a finished task's status still shows its result."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    gateway = TaskGateway(temporal_env.client, queue, query_timeout=timedelta(seconds=1))
    task = make_task(require_approval=False)
    async with stub_worker(temporal_env.client, Stubs(), queue):
        await gateway.start(task)
        await gateway.result(task.task_id)
    view = await gateway.status(task.task_id)
    assert view.status is TaskStatus.COMPLETED
    assert view.result is not None and view.result.pull_requests[0].number == 1
    assert view.title == task.title


async def test_status_of_a_running_task_without_worker_says_what_to_start(
    temporal_env: WorkflowEnvironment,
) -> None:
    """No worker polls the queue: the status names the queue and `fixbot worker`."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    gateway = TaskGateway(temporal_env.client, queue, query_timeout=timedelta(seconds=1))
    task = make_task()
    await gateway.start(task)
    with pytest.raises(NoWorker, match=f"task queue '{queue}'.*fixbot worker"):
        await gateway.status(task.task_id)
    await temporal_env.client.get_workflow_handle(workflow_id(task.task_id)).terminate()


async def test_slack_task_notices_follow_the_task_in_order(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """A Slack task posts its root message first, the card at the gate, the decision on it,
    the PR, and the final word; every later notice names the root message as its thread."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task(origin=SLACK)
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    await gateway.decide(task.task_id, Decision(approve=True, by="alice"))
    await gateway.result(task.task_id)
    kinds = [n.event.kind for n in stubs.notices if n.event.kind != "progress"]
    assert kinds == [
        "started",
        "step_changed",
        "step_changed",
        "card_ready",
        "decided",
        "pull_requests_opened",
        "finished",
    ]
    root_ts = "1700000000.000001"
    assert all(n.thread and n.thread.root == root_ts for n in stubs.notices[1:])
    decided = next(n for n in stubs.notices if isinstance(n.event, Decided))
    assert decided.thread is not None and decided.thread.card is not None
    assert decided.event.record is not None and decided.event.record.decision.by == "alice"
    assert decided.card is not None and decided.card.changes.digest
    seqs = [n.event.seq for n in stubs.notices]
    assert len(set(seqs)) == len(seqs)  # one sequence number per event


async def test_a_cli_task_emits_the_same_events(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """A task started from the CLI sends the same typed events as a Slack task, named by its
    CLI origin, ending with the final status."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task(require_approval=False)
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    kinds = [n.event.kind for n in stubs.notices if n.event.kind != "progress"]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert "pull_requests_opened" in kinds
    assert {n.headline.origin.kind for n in stubs.notices} == {OriginKind.CLI}
    assert stubs.notices[-1].event.status is result.status is TaskStatus.COMPLETED


async def test_failing_notifications_never_block_the_task(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """When every notice fails (say, channel_not_found), the task still completes."""
    stubs = Stubs(notify_fails=True)
    gateway = harness(stubs)
    gone = TaskOrigin(kind=OriginKind.SLACK, channel="C-gone")
    task = make_task(origin=gone, require_approval=False)
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED


async def test_requested_changes_resume_the_session_and_ask_again(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Request changes: the agent gets the feedback in the same session, a new card follows,
    and the approval after it opens the PR."""
    stubs = Stubs(agent_results=[agent_result(), agent_result(summary="revised")])
    gateway = harness(stubs)
    task = make_task(origin=SLACK)
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    with pytest.raises(ActionRefused, match="not an approver"):
        await gateway.request_changes(task.task_id, ChangeRequest(by="mallory", feedback="x"))
    await gateway.request_changes(task.task_id, ChangeRequest(by="bob", feedback="use Decimal"))
    for _ in range(100):
        if (
            len(stubs.agent_requests) == 2
            and (await gateway.status(task.task_id)).status is TaskStatus.AWAITING_APPROVAL
        ):
            break
        await asyncio.sleep(0.05)
    first, second = stubs.agent_requests
    assert (second.mode, second.message, second.session_id) == (
        AgentMode.FEEDBACK,
        "use Decimal",
        first.session_id,
    )
    await gateway.decide(task.task_id, Decision(approve=True, by="alice"))
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED and result.summary == "revised"
    cards = [n for n in stubs.notices if n.event.kind == "card_ready"]
    assert len(cards) == 2


async def test_an_answer_sent_early_is_queued_not_dropped(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """A reply that arrives while the agent is still busy answers its next question."""
    stubs = Stubs(
        agent_results=[
            agent_result(AgentOutcome.NEEDS_CLARIFICATION, question="Which currency?"),
            agent_result(),
        ],
        agent_blocks_once=True,
    )
    gateway = harness(stubs)
    task = make_task(require_approval=False)
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.RUNNING)
    await gateway.answer(task.task_id, Answer(by="rita", text="Euros"))
    stubs.release_agent.set()
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED
    assert stubs.agent_requests[1].message == "Euros"


async def test_a_decision_on_a_superseded_diff_is_refused(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Approving with the digest of a diff that is no longer the current one is refused."""
    gateway = harness(Stubs())
    task = make_task()
    await gateway.start(task)
    view = await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    assert view.changes is not None
    stale = Decision(approve=True, by="alice", diff_sha256="0" * 64)
    with pytest.raises(ActionRefused, match="revised since you reviewed"):
        await gateway.decide(task.task_id, stale)
    current = Decision(approve=True, by="alice", diff_sha256=view.changes.digest)
    record = await gateway.decide(task.task_id, current)
    assert record.approved_digest == view.changes.digest
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED


async def test_protected_paths_are_refused_unless_allowed(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """A change to .github/workflows/ fails the task with the paths named; nothing is pushed."""

    def touching_ci(task: TaskInput) -> list[RepositoryChange]:
        change = change_for(task.repositories[0])
        change.protected_files = [".github/workflows/ci.yml"]
        return [change]

    stubs = Stubs(changed=touching_ci)
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "shop/.github/workflows/ci.yml" in result.error
    assert "publish" not in stubs.calls and stubs.destroyed == [task.task_id]


async def test_the_result_carries_the_audit_trail(
    harness: Callable[[Stubs], TaskGateway], temporal_env: WorkflowEnvironment
) -> None:
    """Who started, who was refused, who approved which exact diff, and what was pushed."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    view = await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    handle = temporal_env.client.get_workflow_handle(workflow_id(task.task_id))
    await handle.signal(BugFixWorkflow.approve, SignalDecision(by="mallory"))
    await gateway.decide(task.task_id, Decision(approve=True, by="bob"))
    result = await gateway.result(task.task_id)
    audit = result.audit
    assert audit is not None and view.changes is not None
    assert (audit.requested_by, audit.decided_by, audit.approved) == ("rita", "bob", True)
    assert audit.approved_digest == view.changes.digest
    assert [r.by for r in audit.refused] == ["mallory"]
    assert audit.pushed_branches == [f"fixbot/{task.task_id}"]
    assert stubs.published[0].approved_digest == view.changes.digest


async def test_approve_racing_cancel_has_exactly_one_outcome(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """Approve and cancel sent at the same moment, several times: each task ends either
    completed with its PR opened once, or cancelled with none; never both, never neither."""
    outcomes = []
    for _ in range(5):
        stubs = Stubs()
        gateway = harness(stubs)
        task = make_task()
        await gateway.start(task)
        await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
        await asyncio.gather(
            gateway.decide(task.task_id, Decision(approve=True, by="alice")),
            gateway.cancel(task.task_id, CancelRequest(by="rita")),
            return_exceptions=True,
        )
        result = await gateway.result(task.task_id)
        published = stubs.calls.count("publish")
        assert (result.status, published) in {(TaskStatus.COMPLETED, 1), (TaskStatus.CANCELLED, 0)}
        assert stubs.destroyed == [task.task_id]
        outcomes.append(result.status)
    print("approve vs cancel outcomes:", [o.value for o in outcomes])


async def test_two_approvals_at_once_decide_once(harness: Callable[[Stubs], TaskGateway]) -> None:
    """Two approvers click at the same moment: one decision is recorded, the other is told."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task()
    await gateway.start(task)
    await wait_for_status(gateway, task, TaskStatus.AWAITING_APPROVAL)
    answers = await asyncio.gather(
        gateway.decide(task.task_id, Decision(approve=True, by="alice")),
        gateway.decide(task.task_id, Decision(approve=True, by="bob")),
        return_exceptions=True,
    )
    refused = [a for a in answers if isinstance(a, ActionRefused)]
    assert len(refused) == 1 and "already approved by" in str(refused[0])
    result = await gateway.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED and stubs.calls.count("publish") == 1


async def test_events_query_lists_a_tasks_events_after_a_sequence_number(
    harness: Callable[[Stubs], TaskGateway],
) -> None:
    """The workflow's `events` query returns the task's events in order, the same for a CLI
    task as for a Slack one, and only those after the sequence number asked for."""
    stubs = Stubs()
    gateway = harness(stubs)
    task = make_task(require_approval=False)
    await gateway.start(task)
    await gateway.result(task.task_id)
    events = await gateway.events(task.task_id, 0)
    assert events[0].kind == "started" and events[-1].kind == "finished"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    later = await gateway.events(task.task_id, 2)
    assert [e.seq for e in later] == [e.seq for e in events[2:]]
