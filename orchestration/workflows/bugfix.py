"""BugFixWorkflow: decides and waits; every piece of I/O is an activity called by name.

Steps: validate → provision → workspace → agent (with clarification rounds) → changes →
approval gate → pull requests → cleanup (always, in `finally`) → result.

Changing this file while tasks wait for approval in production: a change that alters the
sequence of commands (activities, timers) of an existing path must be guarded with
`workflow.patched("<change-id>")`; tests/workflow/test_replay.py replays saved histories of
every earlier version and fails on a change that is not. Record new histories with
`uv run python -m tests.workflow.record_histories` (it keeps the old ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from orchestration.activities import names as names
    from orchestration.models import (
        AgentMode,
        AgentOutcome,
        AgentProgress,
        AgentRequest,
        AgentResult,
        Answer,
        AuditTrail,
        CancelRequest,
        ChangeRequest,
        ChangeSet,
        CollectRequest,
        Decision,
        DecisionRecord,
        DestroyRequest,
        NoticeKind,
        ProvisionRequest,
        PublishRequest,
        PublishResult,
        RefusedAction,
        SandboxRef,
        SandboxTarget,
        SignalDecision,
        Step,
        StepTiming,
        TaskInput,
        TaskResult,
        TaskStatus,
        TaskView,
        TokenUsage,
        WorkspaceReport,
    )
    from orchestration.policy.approval import decision_refusal
    from orchestration.workflows.announcer import Announcer
    from orchestration.workflows.waits import wait_through_cancel

T = TypeVar("T")

QUICK = timedelta(minutes=2)
WORKSPACE_TIMEOUT = timedelta(minutes=20)
PUBLISH_TIMEOUT = timedelta(minutes=10)
# a worker that dies mid-run leaves its claude running in the sandbox: the next attempt stops
# it and resumes the same session (see the agent activity)
AGENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
MAX_CLARIFICATIONS = 5
MAX_REVISIONS = 5
_FINAL_NOTICE = {
    TaskStatus.COMPLETED: NoticeKind.COMPLETED,
    TaskStatus.NO_CHANGE: NoticeKind.NO_CHANGE,
    TaskStatus.FAILED: NoticeKind.FAILED,
    TaskStatus.REJECTED: NoticeKind.REJECTED,
    TaskStatus.CANCELLED: NoticeKind.CANCELLED,
    TaskStatus.EXPIRED: NoticeKind.EXPIRED,
}
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_attempts=6
)


class _Stop(Exception):
    """Ends the task early with a terminal status (not an error of the workflow itself)."""

    def __init__(self, status: TaskStatus, reason: str | None = None) -> None:
        super().__init__(reason or status.value)
        self.status = status
        self.reason = reason


@workflow.defn
class BugFixWorkflow:
    """One bug-fix task, from report to pull requests."""

    def __init__(self) -> None:
        self._task: TaskInput | None = None
        self._status = TaskStatus.PENDING
        self._steps: list[StepTiming] = []
        self._progress: str | None = None
        self._sandbox: SandboxRef | None = None
        self._agent: AgentResult | None = None
        self._cost = 0.0
        self._usage = TokenUsage()
        self._turns = 0
        self._changes: ChangeSet | None = None
        self._decision: DecisionRecord | None = None
        self._answers: list[Answer] = []
        self._answers_used = 0
        self._change_request: ChangeRequest | None = None
        self._revision = 0
        self._announcer: Announcer | None = None
        self._refused: list[RefusedAction] = []
        self._cancel: CancelRequest | None = None
        self._pull_requests: PublishResult | None = None
        self._error: str | None = None
        self._result: TaskResult | None = None

    @workflow.run
    async def run(self, task: TaskInput) -> TaskResult:
        self._task = task
        self._announcer = announcer = Announcer(task, self.status)
        try:
            await announcer.started()
            await self._fix(task)
        except _Stop as stop:
            self._status, self._error = stop.status, stop.reason
        except (asyncio.CancelledError, CancelledError):
            self._status = TaskStatus.CANCELLED
            self._error = "cancelled"
        except ActivityError as exc:
            self._status, self._error = TaskStatus.FAILED, _reason(exc)
        finally:
            await self._cleanup(task)
        self._result = self._build_result(task)
        if self._result.audit is not None:
            workflow.logger.info("audit %s", self._result.audit.model_dump_json())
        final = _FINAL_NOTICE.get(self._status, NoticeKind.FAILED)
        await announcer.finish(final, self._error or self._summary())
        return self._result

    def _announce(self, kind: NoticeKind, text: str = "") -> None:
        if self._announcer is not None:
            self._announcer.post(kind, text)

    async def _fix(self, task: TaskInput) -> None:
        await self._step(Step.VALIDATE, TaskStatus.PENDING, names.VALIDATE_TASK, task, None, QUICK)
        self._sandbox = await self._step(
            Step.PROVISION,
            TaskStatus.PROVISIONING,
            names.PROVISION_SANDBOX,
            ProvisionRequest(
                task_id=task.task_id,
                workflow_id=workflow.info().workflow_id,
                budget_usd=task.budget_usd,
                allow_egress=task.allow_egress,
            ),
            SandboxRef,
            QUICK,
        )
        self._announce(NoticeKind.SANDBOX_READY)
        target = SandboxTarget(task=task, sandbox=self._sandbox)
        workspace = await self._step(
            Step.WORKSPACE,
            TaskStatus.PREPARING,
            names.PREPARE_WORKSPACE,
            target,
            WorkspaceReport,
            WORKSPACE_TIMEOUT,
        )
        session_id = str(workflow.uuid4())
        await self._agent_until_answered(task, session_id, AgentMode.START, "")
        collect = CollectRequest(task=task, sandbox=self._sandbox, workspace=workspace)
        await self._collect_changes(collect)
        for _ in range(MAX_REVISIONS):
            if not task.require_approval:
                break
            feedback = await self._approval_gate(task)
            if feedback is None:
                break
            await self._agent_until_answered(task, session_id, AgentMode.FEEDBACK, feedback)
            await self._collect_changes(collect)
        else:
            raise _Stop(TaskStatus.FAILED, f"more than {MAX_REVISIONS} rounds of requested changes")
        self._pull_requests = await self._step(
            Step.PULL_REQUESTS,
            TaskStatus.CREATING_PRS,
            names.OPEN_PULL_REQUESTS,
            PublishRequest(
                task=task,
                changes=self._changes,
                summary=self._summary(),
                cost_usd=self._cost,
                approved_digest=self._decision.approved_digest if self._decision else None,
            ),
            PublishResult,
            PUBLISH_TIMEOUT,
            retry=PUBLISH_RETRY,
            interruptible=False,
        )
        self._announce(NoticeKind.PR_OPENED)
        self._status = TaskStatus.COMPLETED

    async def _collect_changes(self, collect: CollectRequest) -> None:
        self._changes = await self._step(
            Step.CHANGES, TaskStatus.RUNNING, names.COLLECT_CHANGES, collect, ChangeSet, QUICK
        )
        if not self._changes.repositories:
            explanation = self._agent.summary if self._agent else ""
            raise _Stop(TaskStatus.NO_CHANGE, explanation or "the agent changed nothing")
        protected = self._changes.protected_files
        if protected and not self._changes.protected_paths_allowed:
            raise _Stop(
                TaskStatus.FAILED,
                "the change touches protected paths and will not be pushed: "
                + ", ".join(protected[:10])
                + " (FIXBOT_GIT__ALLOW_PROTECTED_PATHS)",
            )

    async def _agent_until_answered(
        self, task: TaskInput, session_id: str, mode: AgentMode, message: str
    ) -> None:
        """Run the agent; while it asks a question, wait for an answer and resume its session."""
        for _ in range(MAX_CLARIFICATIONS + 1):
            self._announce(NoticeKind.AGENT_WORKING, message)
            result = await self._run_agent(task, session_id, mode, message)
            if result.outcome is AgentOutcome.NO_FIX:
                raise _Stop(TaskStatus.NO_CHANGE, result.summary or "the agent found no fix")
            if result.outcome is not AgentOutcome.NEEDS_CLARIFICATION:
                return
            self._announce(NoticeKind.QUESTION, result.question or "")
            answer = await self._wait_for_answer(task, result.question or "")
            mode, message = AgentMode.ANSWER, answer.text
        raise _Stop(TaskStatus.FAILED, f"the agent asked more than {MAX_CLARIFICATIONS} questions")

    async def _run_agent(
        self, task: TaskInput, session_id: str, mode: AgentMode, message: str
    ) -> AgentResult:
        if self._sandbox is None:
            raise _Stop(TaskStatus.FAILED, "no sandbox was provisioned")
        request = AgentRequest(
            task=task,
            sandbox=self._sandbox,
            session_id=session_id,
            mode=mode,
            message=message,
            budget_usd=max(task.budget_usd - self._cost, 0.01),
        )
        result = await self._step(
            Step.AGENT,
            TaskStatus.RUNNING,
            names.RUN_AGENT,
            request,
            AgentResult,
            timedelta(seconds=task.agent_timeout_seconds + 120),
            retry=AGENT_RETRY,
        )
        self._agent = result
        self._cost += result.cost_usd
        self._usage = self._usage.plus(result.usage)
        self._turns += result.num_turns
        return result

    async def _wait_for_answer(self, task: TaskInput, question: str) -> Answer:
        """The next answer not yet used: one sent while the agent was busy waits in the queue."""
        self._progress = f"question: {question}"
        await self._wait(
            lambda: len(self._answers) > self._answers_used,
            timedelta(seconds=task.approval_timeout_seconds),
            "nobody answered the agent's question in time",
        )
        self._answers_used += 1
        return self._answers[self._answers_used - 1]

    async def _approval_gate(self, task: TaskInput) -> str | None:
        """Wait for a decision: None when approved, the feedback when changes are requested."""
        self._status = TaskStatus.AWAITING_APPROVAL
        self._change_request = None
        self._revision += 1
        self._begin(Step.APPROVAL)
        if self._announcer is not None:
            await self._announcer.card()
        await self._wait(
            lambda: self._decision is not None or self._change_request is not None,
            timedelta(seconds=task.approval_timeout_seconds),
            "nobody approved or rejected the fix in time",
        )
        self._end(Step.APPROVAL)
        if self._change_request is not None and self._decision is None:
            request = self._change_request
            self._announce(NoticeKind.DECIDED, f"changes requested by {request.by}")
            return request.feedback
        self._announce(NoticeKind.DECIDED)
        decision = self._decision.decision if self._decision else None
        if decision is None or not decision.approve:
            by = decision.by if decision else "nobody"
            reason = (decision.comment if decision else "") or "rejected"
            raise _Stop(TaskStatus.REJECTED, f"rejected by {by}: {reason}")
        return None

    async def _wait(self, done: Callable[[], bool], timeout: timedelta, expiry: str) -> None:
        """Wait durably for done(), a cancel request, or the timeout (→ expired)."""
        previous = self._status
        try:
            await workflow.wait_condition(
                lambda: done() or self._cancel is not None, timeout=timeout
            )
        except TimeoutError:
            raise _Stop(TaskStatus.EXPIRED, expiry) from None
        self._raise_if_cancel_requested()
        self._status = previous

    async def _step(
        self,
        step: Step,
        status: TaskStatus,
        activity: str,
        argument: Any,
        result_type: type[T] | None,
        timeout: timedelta,
        *,
        retry: RetryPolicy = RETRY,
        heartbeat: timedelta | None = None,
        interruptible: bool = True,
    ) -> T:
        """Run one activity as a step: timed, visible in status, interrupted by a cancel request
        (unless its effects reach outside, like opening PRs: then it is finished first)."""
        self._raise_if_cancel_requested()
        self._status = status
        self._begin(step)
        handle = workflow.start_activity(
            activity,
            argument,
            result_type=result_type,
            start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat or self._heartbeat(),
            retry_policy=retry,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        if not interruptible:
            result = await _finish_regardless(handle)
            self._end(step)
            return result  # type: ignore[no-any-return]
        try:
            await workflow.wait_condition(lambda: handle.done() or self._cancel is not None)
        except asyncio.CancelledError:
            handle.cancel()  # the workflow itself was cancelled: stop the activity first
            await asyncio.gather(handle, return_exceptions=True)
            raise
        if not handle.done():
            handle.cancel()
            await asyncio.gather(handle, return_exceptions=True)
            self._raise_if_cancel_requested()
        result = await handle
        self._end(step)
        return result  # type: ignore[no-any-return]

    def _heartbeat(self) -> timedelta:
        return timedelta(seconds=self._require_task().heartbeat_timeout_seconds)

    def _raise_if_cancel_requested(self) -> None:
        if self._cancel is not None:
            reason = f"cancelled by {self._cancel.by}" + (
                f": {self._cancel.reason}" if self._cancel.reason else ""
            )
            raise _Stop(TaskStatus.CANCELLED, reason)

    async def _cleanup(self, task: TaskInput) -> None:
        """Remove the sandbox, whatever happened; a failure here is reported, not raised."""
        self._begin(Step.CLEANUP)
        try:
            await _finish_regardless(
                workflow.start_activity(
                    names.DESTROY_SANDBOX,
                    DestroyRequest(task_id=task.task_id, workflow_id=workflow.info().workflow_id),
                    start_to_close_timeout=QUICK,
                    heartbeat_timeout=self._heartbeat(),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1), maximum_attempts=5
                    ),
                )
            )
        except ActivityError as exc:
            workflow.logger.warning("sandbox cleanup failed; the reaper will remove it: %s", exc)
        self._end(Step.CLEANUP)

    def _begin(self, step: Step) -> None:
        self._steps.append(StepTiming(step=step, started_at=workflow.now()))

    def _end(self, step: Step) -> None:
        for timing in reversed(self._steps):
            if timing.step is step and timing.finished_at is None:
                timing.finished_at = workflow.now()
                return

    def _require_task(self) -> TaskInput:
        """The task input; handlers can run before `run` has stored it only in a broken history."""
        if self._task is None:
            raise ApplicationError("the task has not started yet", non_retryable=True)
        return self._task

    def _summary(self) -> str:
        return self._agent.summary if self._agent else ""

    def _current_step(self) -> Step | None:
        open_steps = [t.step for t in self._steps if t.finished_at is None]
        return open_steps[-1] if open_steps else None

    # --- messages -------------------------------------------------------------------------

    @workflow.signal
    def report_progress(self, progress: AgentProgress) -> None:
        """The agent activity's latest action (throttled by the activity)."""
        self._progress = progress.text
        if self._announcer is not None and self._announcer.enabled:
            self._announcer.progress(progress.text)
        if progress.cost_usd is not None and self._agent is None:
            self._cost = max(self._cost, progress.cost_usd)

    @workflow.update
    def decide(self, decision: Decision) -> DecisionRecord:
        """Approve or reject the fix; refused decisions never reach history (the validator)."""
        self._decision = self._record(decision)
        return self._decision

    def _record(self, decision: Decision) -> DecisionRecord:
        """The decision, pinned to the exact change it was made on."""
        digest = self._changes.digest if self._changes else None
        return DecisionRecord(decision=decision, at=workflow.now(), approved_digest=digest)

    def _stale(self, decision: Decision) -> str | None:
        """A decision on a change that has since been revised (or is being) is refused."""
        if self._cancel is not None:
            return f"the task is being cancelled by {self._cancel.by}"
        if self._change_request is not None:
            return f"changes were just requested by {self._change_request.by}"
        if decision.diff_sha256 and self._changes and decision.diff_sha256 != self._changes.digest:
            return "the fix was revised since you reviewed it; decide on the latest card"
        return None

    @decide.validator
    def _validate_decision(self, decision: Decision) -> None:
        refusal = self._refusal(decision.by) or self._stale(decision)
        if refusal:
            raise ApplicationError(refusal, type="DecisionRefused", non_retryable=True)

    @workflow.signal
    def approve(self, decision: SignalDecision | None = None) -> None:
        """Signal form of an approval; a refused one is recorded and ignored."""
        self._decide_by_signal(True, decision or SignalDecision())

    @workflow.signal
    def reject(self, decision: SignalDecision | None = None) -> None:
        """Signal form of a rejection; a refused one is recorded and ignored."""
        self._decide_by_signal(False, decision or SignalDecision())

    def _decide_by_signal(self, approve: bool, signal: SignalDecision) -> None:
        refusal = self._refusal(signal.by)
        if refusal:
            action = "approve" if approve else "reject"
            self._refused.append(
                RefusedAction(by=signal.by, action=action, reason=refusal, at=workflow.now())
            )
            workflow.logger.warning("refused %s by %r: %s", action, signal.by, refusal)
            return
        decision = Decision(approve=approve, by=signal.by, comment=signal.comment)
        self._decision = self._record(decision)

    def _refusal(self, decider: str) -> str | None:
        task = self._require_task()
        return decision_refusal(
            policy=task.policy,
            requester=task.requester,
            decider=decider,
            status=self._status,
            existing=self._decision,
        )

    @workflow.update
    def request_changes(self, request: ChangeRequest) -> None:
        """Ask the agent to revise its fix; the same approvers' rules apply."""
        self._change_request = request

    @request_changes.validator
    def _validate_change_request(self, request: ChangeRequest) -> None:
        refusal = self._refusal(request.by) or (
            None if request.feedback.strip() else "the requested changes are empty"
        )
        if refusal is None and self._change_request is not None:
            refusal = f"changes were already requested by {self._change_request.by}"
        if refusal is None and self._cancel is not None:
            refusal = f"the task is being cancelled by {self._cancel.by}"
        if refusal:
            raise ApplicationError(refusal, type="DecisionRefused", non_retryable=True)

    @workflow.update
    def answer(self, answer: Answer) -> None:
        """A person's answer to the agent's question; queued if it arrives early."""
        self._answers.append(answer)

    @answer.validator
    def _validate_answer(self, answer: Answer) -> None:
        if self._status.is_terminal:
            raise ApplicationError(f"the task has ended ({self._status.value})", non_retryable=True)
        if not answer.text.strip():
            raise ApplicationError("the answer is empty", non_retryable=True)

    @workflow.update
    def request_cancel(self, request: CancelRequest) -> TaskStatus:
        """Cancel the task: the running step is interrupted and the sandbox removed."""
        if self._cancel is None:
            self._cancel = request
        return self._status

    @request_cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self._status.is_terminal or self._result is not None:
            raise ApplicationError(f"the task has ended ({self._status.value})", non_retryable=True)
        if self._status is TaskStatus.CREATING_PRS or (
            self._decision is not None and self._decision.decision.approve
        ):
            raise ApplicationError(
                "too late to cancel: the fix is approved and its pull requests are being opened",
                non_retryable=True,
            )
        task = self._require_task()
        approvers = task.policy.approvers
        if approvers and request.by not in approvers and request.by != task.requester:
            raise ApplicationError(
                f"{request.by} may not cancel this task (only its requester or an approver)",
                type="DecisionRefused",
                non_retryable=True,
            )

    @workflow.signal
    def cancel(self, request: CancelRequest | None = None) -> None:
        """Signal form of cancel (`temporal workflow signal --name cancel`)."""
        late = self._status.is_terminal or self._status is TaskStatus.CREATING_PRS
        if self._cancel is None and not late:
            self._cancel = request or CancelRequest(by="signal")

    @workflow.query
    def status(self) -> TaskView:
        """Where the task is now."""
        task = self._require_task()
        return TaskView(
            task_id=task.task_id,
            title=task.title,
            status=self._status,
            current_step=self._current_step(),
            steps=list(self._steps),
            last_progress=self._progress,
            cost_usd=self._cost,
            changes=self._changes,
            summary=self._agent.summary if self._agent else None,
            question=self._agent.question if self._agent else None,
            pull_requests=self._pull_requests.pull_requests if self._pull_requests else [],
            decision=self._decision,
            refused=list(self._refused),
            revision=self._revision,
            change_request=self._change_request,
            error=self._error,
        )

    @workflow.query
    def get_status(self) -> TaskView:
        """The seed's name for `status`."""
        return self.status()

    @workflow.query
    def result(self) -> TaskResult | None:
        """The final result, once the task has ended."""
        return self._result

    @workflow.query
    def get_claude_result(self) -> AgentResult | None:
        """The latest agent run's result."""
        return self._agent

    def _build_result(self, task: TaskInput) -> TaskResult:
        changes = self._changes.repositories if self._changes else []
        return TaskResult(
            task_id=task.task_id,
            status=self._status,
            summary=self._summary(),
            pull_requests=self._pull_requests.pull_requests if self._pull_requests else [],
            files_changed={c.repository.name: [f.path for f in c.files] for c in changes},
            cost_usd=self._cost,
            usage=self._usage,
            num_turns=self._turns,
            step_seconds=_step_seconds(self._steps),
            decision=self._decision,
            audit=self._audit(task),
            error=self._error,
        )

    def _audit(self, task: TaskInput) -> AuditTrail:
        record = self._decision
        return AuditTrail(
            requested_by=task.requester,
            requested_at=task.created_at,
            decided_by=record.decision.by if record else None,
            decided_at=record.at if record else None,
            approved=record.decision.approve if record else None,
            approved_digest=record.approved_digest if record else None,
            refused=list(self._refused),
            pushed_branches=[p.branch for p in self._pull_requests.pull_requests]
            if self._pull_requests
            else [],
        )


async def _finish_regardless(handle: Any) -> Any:
    """Wait for a step that must not be cut short; a cancel of the workflow waits for it."""
    await wait_through_cancel(handle.done)
    return await handle


def _step_seconds(steps: list[StepTiming]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for timing in steps:
        if timing.seconds is not None:
            totals[timing.step.value] = totals.get(timing.step.value, 0.0) + timing.seconds
    return totals


def _reason(exc: BaseException) -> str:
    """The innermost message of an activity failure, for people."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = getattr(exc, "message", None)
    return str(message or exc) or type(exc).__name__
