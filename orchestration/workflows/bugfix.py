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
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from orchestration.activities import contracts
    from orchestration.activities.contracts import ActivityContract
    from orchestration.models import (
        AgentMode,
        AgentOutcome,
        AgentProgress,
        AgentRequest,
        AgentResult,
        Answer,
        CancelRequest,
        ChangeRequest,
        ChangeSet,
        CollectRequest,
        Decision,
        DecisionRecord,
        DestroyRequest,
        NoticeKind,
        PreparedRepository,
        ProvisionRequest,
        PublishRequest,
        RefusedAction,
        SandboxTarget,
        SetupRequest,
        SignalDecision,
        Step,
        TaskInput,
        TaskResult,
        TaskStatus,
        TaskView,
    )
    from orchestration.models.environment import (
        SetupReport,
        Verification,
        VerifyPhase,
        VerifyReport,
        VerifyRequest,
        VerifyRun,
        VerifyTarget,
        counts_text,
        verification_lines,
    )
    from orchestration.models.events import TaskEvent
    from orchestration.workflows import refusals
    from orchestration.workflows.announcer import Announcer
    from orchestration.workflows.refusals import Refusal
    from orchestration.workflows.state import Stage, TaskState, status_view, task_result
    from orchestration.workflows.task_index import TaskIndex
    from orchestration.workflows.waits import wait_through_cancel

TASK_INDEX_PATCH = "task-index"
CONTINUE_AS_NEW_PATCH = "continue-as-new"
VERIFICATION_PATCH = "verification-gate"
ENVIRONMENT_PATCH = "repository-environments"
# beyond the setup commands' own timeout: a setup sandbox, its workspace, saving the snapshot
SETUP_OVERHEAD = timedelta(minutes=15)
# beyond the verify commands' own timeout: a fresh sandbox, its workspace, the patch
VERIFY_OVERHEAD = timedelta(minutes=10)
ArgumentT = TypeVar("ArgumentT")
ResultT = TypeVar("ResultT")

QUICK = timedelta(minutes=2)
WORKSPACE_TIMEOUT = timedelta(minutes=20)
# provisioning includes waiting for a free sandbox slot (heartbeating, so a lost worker is
# still noticed in seconds); a long queue must not fail the tasks at its end
PROVISION_TIMEOUT = timedelta(hours=12)
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


class _CarryOn(Exception):
    """A long wait has made the history long: continue as a new run with the same state."""


@workflow.defn
class BugFixWorkflow:
    """One bug-fix task, from report to pull requests."""

    @workflow.init
    def __init__(self, start: TaskInput | TaskState) -> None:
        # the state exists before any handler runs: an update can reach a new run (one that
        # continued as new) in the same activation that starts it
        self._carried = isinstance(start, TaskState)
        self._state = start if isinstance(start, TaskState) else TaskState(task=start)
        self._announcer: Announcer | None = None
        self._index: TaskIndex | None = None
        self._may_carry_on = False
        self._result: TaskResult | None = None
        # the untouched tree's verification, running beside the agent (not carried over to a
        # run that continued as new: that run runs it again when it needs it)
        self._baseline: asyncio.Task[list[VerifyRun]] | None = None

    @workflow.run
    async def run(self, start: TaskInput | TaskState) -> TaskResult:
        """Fix the task's bug. A run that continued as new gets the previous run's state
        instead of the task (one argument either way: old histories hold just the task)."""
        state = self._state
        task = state.task
        # histories from before the task index have no upserts: they replay without them
        self._index = TaskIndex(task) if workflow.patched(TASK_INDEX_PATCH) else None
        # a history recorded before continue-as-new existed must not start carrying on in replay
        self._may_carry_on = workflow.patched(CONTINUE_AS_NEW_PATCH)
        self._announcer = announcer = Announcer(task, self.status, state.announcements)
        carry_on = False
        try:
            if not self._carried:
                await announcer.started()
            await self._fix()
        except _CarryOn:
            carry_on = True
        except _Stop as stop:
            state.status, state.error = stop.status, stop.reason
        except (asyncio.CancelledError, CancelledError):
            state.status, state.error = TaskStatus.CANCELLED, "cancelled"
        except ActivityError as exc:
            state.status, state.error = TaskStatus.FAILED, _reason(exc)
        finally:
            if not carry_on:
                await self._cleanup(task)
        if carry_on:
            state.runs += 1
            workflow.logger.info("continuing as new run %d of the task", state.runs)
            workflow.continue_as_new(state)
        self._update_index()
        self._result = task_result(state)
        if self._result.audit is not None:
            workflow.logger.info("audit %s", self._result.audit.model_dump_json())
        final = _FINAL_NOTICE.get(state.status, NoticeKind.FAILED)
        await announcer.finish(final, state.error or state.summary)
        return self._result

    def _update_index(self) -> None:
        """Bring the task's search attributes (its state, outcome and cost) up to date."""
        if self._index is not None:
            self._index.update(self.status())

    def _announce(self, kind: NoticeKind, text: str = "") -> None:
        if self._announcer is not None:
            self._announcer.post(kind, text)

    async def _fix(self) -> None:
        """Run the task's stages in order; a run that continued-as-new resumes at its stage."""
        stages: dict[Stage, Callable[[], Awaitable[None]]] = {
            Stage.SETUP: self._setup,
            Stage.AGENT: self._agent_round,
            Stage.ANSWER: self._await_answer,
            Stage.COLLECT: self._collect_changes,
            Stage.APPROVAL: self._approval_gate,
            Stage.PUBLISH: self._publish,
        }
        while self._state.stage is not Stage.DONE:
            await stages[self._state.stage]()

    async def _setup(self) -> None:
        s = self._state
        await self._step(Step.VALIDATE, TaskStatus.PENDING, contracts.VALIDATE_TASK, s.task, QUICK)
        request = ProvisionRequest(
            task_id=s.task.task_id,
            workflow_id=workflow.info().workflow_id,
            budget_usd=s.task.budget_usd,
            allow_egress=s.task.allow_egress,
        )
        s.sandbox = await self._step(
            Step.PROVISION,
            TaskStatus.PROVISIONING,
            contracts.PROVISION_SANDBOX,
            request,
            PROVISION_TIMEOUT,
        )
        self._announce(NoticeKind.SANDBOX_READY)
        target = SandboxTarget(task=s.task, sandbox=s.sandbox)
        s.workspace = await self._step(
            Step.WORKSPACE,
            TaskStatus.PREPARING,
            contracts.PREPARE_WORKSPACE,
            target,
            WORKSPACE_TIMEOUT,
        )
        if _needs_setup(s) and workflow.patched(ENVIRONMENT_PATCH):
            await self._prepare_environment()
        s.session_id = str(workflow.uuid4())
        if _verify_targets(s) and workflow.patched(VERIFICATION_PATCH):
            self._baseline = asyncio.create_task(self._verify_baseline_once_the_agent_works())
        self._next_agent_round(AgentMode.START, "")

    def _next_agent_round(self, mode: AgentMode, message: str) -> None:
        s = self._state
        s.stage, s.agent_mode, s.agent_message = Stage.AGENT, mode, message

    async def _agent_round(self) -> None:
        """Run the agent; a question moves on to waiting for its answer."""
        s = self._state
        self._announce(NoticeKind.AGENT_WORKING, s.agent_message)
        result = await self._run_agent(s.agent_mode, s.agent_message)
        if result.outcome is AgentOutcome.NO_FIX:
            raise _Stop(TaskStatus.NO_CHANGE, result.summary or "the agent found no fix")
        if result.outcome is not AgentOutcome.NEEDS_CLARIFICATION:
            s.stage, s.clarifications = Stage.COLLECT, 0
            return
        self._announce(NoticeKind.QUESTION, result.question or "")
        s.clarifications += 1
        s.stage = Stage.ANSWER

    async def _await_answer(self) -> None:
        s = self._state
        answer = await self._wait_for_answer(s.agent.question if s.agent else None)
        if s.clarifications > MAX_CLARIFICATIONS:
            raise _Stop(
                TaskStatus.FAILED, f"the agent asked more than {MAX_CLARIFICATIONS} questions"
            )
        self._next_agent_round(AgentMode.ANSWER, answer.text)

    async def _run_agent(self, mode: AgentMode, message: str) -> AgentResult:
        s = self._state
        if s.sandbox is None or s.session_id is None:
            raise _Stop(TaskStatus.FAILED, "no sandbox was provisioned")
        request = AgentRequest(
            task=s.task,
            sandbox=s.sandbox,
            session_id=s.session_id,
            mode=mode,
            message=message,
            budget_usd=max(s.task.budget_usd - s.cost_usd, 0.01),
            environment_of=s.environments[0].repository if s.environments else None,
        )
        result = await self._step(
            Step.AGENT,
            TaskStatus.RUNNING,
            contracts.RUN_AGENT,
            request,
            timedelta(seconds=s.task.agent_timeout_seconds + 120),
            retry=AGENT_RETRY,
        )
        s.record_agent_run(result)
        return result

    async def _collect_changes(self) -> None:
        s = self._state
        if s.sandbox is None or s.workspace is None:
            raise _Stop(TaskStatus.FAILED, "no sandbox was provisioned")
        collect = CollectRequest(task=s.task, sandbox=s.sandbox, workspace=s.workspace)
        s.changes = await self._step(
            Step.CHANGES, TaskStatus.RUNNING, contracts.COLLECT_CHANGES, collect, QUICK
        )
        if not s.changes.repositories:
            raise _Stop(*_nothing_changed(s.agent))
        protected = s.changes.protected_files
        if protected and not s.changes.protected_paths_allowed:
            raise _Stop(
                TaskStatus.FAILED,
                "the change touches protected paths and will not be pushed: "
                + ", ".join(protected[:10])
                + " (FIXBOT_GIT__ALLOW_PROTECTED_PATHS)",
            )
        if await self._verification_sends_back():
            return
        if not s.task.require_approval:
            s.stage = Stage.PUBLISH
        elif s.revision >= MAX_REVISIONS:
            raise _Stop(TaskStatus.FAILED, f"more than {MAX_REVISIONS} rounds of requested changes")
        else:
            s.stage = Stage.APPROVAL
            await self._open_approval()

    async def _prepare_environment(self) -> None:
        """Set up (or restore) the repositories' environments before any model spend; a
        failure stops the task, unless the task may go on unverified."""
        s = self._state
        if s.sandbox is None or s.workspace is None:
            raise _Stop(TaskStatus.FAILED, "no sandbox was provisioned")
        request = SetupRequest(
            task=s.task,
            workflow_id=workflow.info().workflow_id,
            sandbox=s.sandbox,
            workspace=s.workspace,
        )
        longest = max(
            (r.environment.setup.timeout_seconds for r in _set_up_repositories(s) if r.environment),
            default=0,
        )
        try:
            report: SetupReport = await self._step(
                Step.SETUP,
                TaskStatus.PREPARING,
                contracts.PREPARE_ENVIRONMENT,
                request,
                timedelta(seconds=longest) + SETUP_OVERHEAD,
            )
        except ActivityError as exc:
            if not s.task.continue_without_setup:
                raise
            s.verification_note = f"not verified: the environment's setup failed: {_reason(exc)}"
            return
        s.environments = report.environments

    async def _verify_baseline_once_the_agent_works(self) -> list[VerifyRun]:
        """The baseline, started once the agent reports its first action (or its round
        ends): a test suite starting beside it would slow the agent's own start."""
        s = self._state
        await workflow.wait_condition(lambda: s.progress is not None or s.stage is not Stage.AGENT)
        return await self._verify_baseline()

    async def _verify_baseline(self) -> list[VerifyRun]:
        """The verify commands on the untouched tree; a failure to run them is no baseline."""
        s = self._state
        try:
            report = await contracts.start(
                contracts.VERIFY_CHANGE,
                self._verify_request(VerifyPhase.BASELINE, _verify_targets(s)),
                start_to_close_timeout=self._verify_timeout(),
                heartbeat_timeout=self._heartbeat(),
                retry_policy=RETRY,
                # a task that ends first stops it and waits until its sandbox is removed
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as exc:
            workflow.logger.warning("the baseline verification did not run: %s", _reason(exc))
            return []
        s.baseline = report.runs
        return report.runs

    async def _verification_sends_back(self) -> bool:
        """Verify the fix in a fresh sandbox; True when it failed and the agent gets another
        round to repair it. A fix still failing goes on to the approver, who is told; a task
        without approval stops instead of pushing it."""
        s = self._state
        targets = _verify_targets(s)
        if not targets:
            return False
        baseline = await self._baseline if self._baseline is not None else s.baseline
        report: VerifyReport = await self._step(
            Step.VERIFY,
            TaskStatus.RUNNING,
            contracts.VERIFY_CHANGE,
            self._verify_request(VerifyPhase.AFTER_FIX, targets),
            self._verify_timeout(),
        )
        before = {run.repository: run for run in baseline}
        s.verifications = [
            Verification(
                repository=run.repository,
                baseline=before.get(run.repository),
                after=run,
                repairs=s.repairs,
            )
            for run in report.runs
        ]
        failing = [v for v in s.verifications if v.regressed]
        if not failing:
            return False
        if s.repairs < s.task.max_repairs:
            s.repairs += 1
            self._next_agent_round(AgentMode.REPAIR, _repair_message(failing))
            return True
        if not s.task.require_approval:
            raise _Stop(TaskStatus.FAILED, _failed_verification(failing))
        return False

    def _verify_request(self, phase: VerifyPhase, targets: list[VerifyTarget]) -> VerifyRequest:
        s = self._state
        changed = s.changes.repositories if s.changes else []
        patches = {c.repository.name: c.patch for c in changed}
        if phase is VerifyPhase.AFTER_FIX:
            targets = [
                t.model_copy(update={"patch": patches.get(t.repository, "")}) for t in targets
            ]
        return VerifyRequest(
            task=s.task,
            workflow_id=workflow.info().workflow_id,
            phase=phase,
            commits={r.name: r.commit for r in (s.workspace.repositories if s.workspace else [])},
            targets=targets,
        )

    def _verify_timeout(self) -> timedelta:
        longest = max((t.verify.timeout_seconds for t in _verify_targets(self._state)), default=0)
        return timedelta(seconds=longest) + VERIFY_OVERHEAD

    async def _open_approval(self) -> None:
        """Show the change for a decision (once per revision, not again after carrying on)."""
        s = self._state
        s.status = TaskStatus.AWAITING_APPROVAL
        s.change_request = None
        s.revision += 1
        s.begin(Step.APPROVAL, workflow.now())
        self._update_index()
        if self._announcer is not None:
            await self._announcer.card()

    async def _approval_gate(self) -> None:
        """Wait for a decision: approved goes on to publish, requested changes to the agent."""
        s = self._state
        await self._wait(
            lambda: s.decision is not None or s.change_request is not None,
            timedelta(seconds=s.task.approval_timeout_seconds),
            "nobody approved or rejected the fix in time",
        )
        s.end(Step.APPROVAL, workflow.now())
        if s.change_request is not None and s.decision is None:
            request = s.change_request
            self._announce(NoticeKind.DECIDED, f"changes requested by {request.by}")
            self._next_agent_round(AgentMode.FEEDBACK, request.feedback)
            return
        self._announce(NoticeKind.DECIDED)
        decision = s.decision.decision if s.decision else None
        if decision is None or not decision.approve:
            by = decision.by if decision else "nobody"
            reason = (decision.comment if decision else "") or "rejected"
            raise _Stop(TaskStatus.REJECTED, f"rejected by {by}: {reason}")
        s.stage = Stage.PUBLISH

    async def _publish(self) -> None:
        s = self._state
        request = PublishRequest(
            task=s.task,
            changes=s.changes or ChangeSet(),
            summary=s.summary,
            cost_usd=s.cost_usd,
            approved_digest=s.decision.approved_digest if s.decision else None,
            verification=verification_lines(
                s.verifications,
                len(s.changes.repositories if s.changes else []) > 1,
                s.verification_note,
            ),
        )
        s.pull_requests = await self._step(
            Step.PULL_REQUESTS,
            TaskStatus.CREATING_PRS,
            contracts.OPEN_PULL_REQUESTS,
            request,
            PUBLISH_TIMEOUT,
            retry=PUBLISH_RETRY,
            interruptible=False,
        )
        self._announce(NoticeKind.PR_OPENED)
        s.status, s.stage = TaskStatus.COMPLETED, Stage.DONE

    async def _wait_for_answer(self, question: str | None) -> Answer:
        """The next answer not yet used: one sent while the agent was busy waits in the queue."""
        s = self._state
        s.progress = f"question: {question or ''}"
        await self._wait(
            lambda: len(s.answers) > s.answers_used,
            timedelta(seconds=s.task.approval_timeout_seconds),
            "nobody answered the agent's question in time",
        )
        s.answers_used += 1
        return s.answers[s.answers_used - 1]

    async def _wait(self, done: Callable[[], bool], timeout: timedelta, expiry: str) -> None:
        """Wait durably for done(), a cancel request, or the timeout (→ expired). A wait that
        makes the history long continues as a new run, which waits on until the same deadline."""
        s = self._state
        previous = s.status
        if s.wait_deadline is None:
            s.wait_deadline = workflow.now() + timeout
        try:
            await workflow.wait_condition(
                lambda: done() or s.cancel is not None or self._history_is_long(),
                timeout=s.wait_deadline - workflow.now(),
            )
        except TimeoutError:
            raise _Stop(TaskStatus.EXPIRED, expiry) from None
        self._raise_if_cancel_requested()
        if not done():
            await self._settle_before_carrying_on()
            raise _CarryOn
        s.wait_deadline = None
        s.status = previous

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return self._may_carry_on and (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._state.task.continue_as_new_after_events
        )

    async def _settle_before_carrying_on(self) -> None:
        """Let notices in flight and running handlers finish, so nothing is lost between the
        runs. A cancel arriving meanwhile ends the task here, as it would during the wait."""
        if self._announcer is not None:
            await self._announcer.settle()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._raise_if_cancel_requested()

    async def _step(
        self,
        step: Step,
        status: TaskStatus,
        contract: ActivityContract[ArgumentT, ResultT],
        argument: ArgumentT,
        timeout: timedelta,
        *,
        retry: RetryPolicy = RETRY,
        interruptible: bool = True,
    ) -> ResultT:
        """Run one activity as a step: timed, visible in status, interrupted by a cancel request
        (unless its effects reach outside, like opening PRs: then it is finished first)."""
        s = self._state
        self._raise_if_cancel_requested()
        s.status = status
        s.begin(step, workflow.now())
        self._update_index()
        handle = contracts.start(
            contract,
            argument,
            start_to_close_timeout=timeout,
            heartbeat_timeout=self._heartbeat(),
            retry_policy=retry,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        if not interruptible:
            result = await _finish_regardless(handle)
            s.end(step, workflow.now())
            return result
        try:
            await workflow.wait_condition(lambda: handle.done() or s.cancel is not None)
        except asyncio.CancelledError:
            handle.cancel()  # the workflow itself was cancelled: stop the activity first
            await asyncio.gather(handle, return_exceptions=True)
            raise
        if not handle.done():
            handle.cancel()
            await asyncio.gather(handle, return_exceptions=True)
            self._raise_if_cancel_requested()
        result = await handle
        s.end(step, workflow.now())
        return result

    def _heartbeat(self) -> timedelta:
        return timedelta(seconds=self._state.task.heartbeat_timeout_seconds)

    def _raise_if_cancel_requested(self) -> None:
        cancel = self._state.cancel
        if cancel is not None:
            reason = f"cancelled by {cancel.by}" + (f": {cancel.reason}" if cancel.reason else "")
            raise _Stop(TaskStatus.CANCELLED, reason)

    async def _cleanup(self, task: TaskInput) -> None:
        """Remove the sandbox, whatever happened; a failure here is reported, not raised."""
        s = self._state
        s.begin(Step.CLEANUP, workflow.now())
        if self._baseline is not None and not self._baseline.done():
            self._baseline.cancel()
            await asyncio.gather(self._baseline, return_exceptions=True)
        try:
            await _finish_regardless(
                contracts.start(
                    contracts.DESTROY_SANDBOX,
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
        s.end(Step.CLEANUP, workflow.now())

    # --- messages -------------------------------------------------------------------------

    @workflow.signal
    def report_progress(self, progress: AgentProgress) -> None:
        """The agent activity's latest action (throttled by the activity)."""
        s = self._state
        s.progress = progress.text
        if self._announcer is not None and self._announcer.enabled:
            self._announcer.progress(progress.text)
        if progress.cost_usd is not None:
            s.run_cost_usd = max(s.run_cost_usd, progress.cost_usd)

    @workflow.update
    def decide(self, decision: Decision) -> DecisionRecord:
        """Approve or reject the fix; refused decisions never reach history (the validator)."""
        self._state.decision = self._record(decision)
        return self._state.decision

    def _record(self, decision: Decision) -> DecisionRecord:
        """The decision, pinned to the exact change it was made on."""
        changes = self._state.changes
        digest = changes.digest if changes else None
        return DecisionRecord(decision=decision, at=workflow.now(), approved_digest=digest)

    @decide.validator
    def _validate_decision(self, decision: Decision) -> None:
        _refuse(refusals.decision(self._state, decision))

    @workflow.signal
    def approve(self, decision: SignalDecision | None = None) -> None:
        """Signal form of an approval; a refused one is recorded and ignored."""
        self._decide_by_signal(True, decision or SignalDecision())

    @workflow.signal
    def reject(self, decision: SignalDecision | None = None) -> None:
        """Signal form of a rejection; a refused one is recorded and ignored."""
        self._decide_by_signal(False, decision or SignalDecision())

    def _decide_by_signal(self, approve: bool, signal: SignalDecision) -> None:
        refusal = refusals.deciding(self._state, signal.by)
        if refusal:
            action = "approve" if approve else "reject"
            self._state.refused.append(
                RefusedAction(by=signal.by, action=action, reason=refusal.reason, at=workflow.now())
            )
            workflow.logger.warning("refused %s by %r: %s", action, signal.by, refusal.reason)
            return
        decision = Decision(approve=approve, by=signal.by, comment=signal.comment)
        self._state.decision = self._record(decision)

    @workflow.update
    def request_changes(self, request: ChangeRequest) -> None:
        """Ask the agent to revise its fix; the same approvers' rules apply."""
        self._state.change_request = request

    @request_changes.validator
    def _validate_change_request(self, request: ChangeRequest) -> None:
        _refuse(refusals.change_request(self._state, request))

    @workflow.update
    def answer(self, answer: Answer) -> None:
        """A person's answer to the agent's question; queued if it arrives early."""
        self._state.answers.append(answer)

    @answer.validator
    def _validate_answer(self, answer: Answer) -> None:
        _refuse(refusals.answer(self._state, answer))

    @workflow.update
    def request_cancel(self, request: CancelRequest) -> TaskStatus:
        """Cancel the task: the running step is interrupted and the sandbox removed."""
        s = self._state
        if s.cancel is None:
            s.cancel = request
        return s.status

    @request_cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        _refuse(refusals.cancel(self._state, request, ended=self._result is not None))

    @workflow.signal
    def cancel(self, request: CancelRequest | None = None) -> None:
        """Signal form of cancel (`temporal workflow signal --name cancel`)."""
        s = self._state
        late = s.status.is_terminal or s.status is TaskStatus.CREATING_PRS
        if s.cancel is None and not late:
            s.cancel = request or CancelRequest(by="signal")

    @workflow.query
    def status(self) -> TaskView:
        """Where the task is now."""
        return status_view(self._state)

    @workflow.query
    def get_status(self) -> TaskView:
        """The seed's name for `status`."""
        return self.status()

    @workflow.query
    def result(self) -> TaskResult | None:
        """The final result, once the task has ended."""
        return self._result

    @workflow.query
    def events(self, after: int) -> list[TaskEvent]:
        """The task's kept events with a sequence number above `after`, oldest first."""
        return self._announcer.events_after(after) if self._announcer else []

    @workflow.query
    def agent_result(self) -> AgentResult | None:
        """The latest agent run's result, whichever agent runner produced it."""
        return self._state.agent

    @workflow.query
    def get_claude_result(self) -> AgentResult | None:
        """The seed's name for `agent_result`, kept for existing scripts."""
        return self._state.agent


def _nothing_changed(agent: AgentResult | None) -> tuple[TaskStatus, str]:
    """How a task whose workspace holds no change ends: "no change needed" when the agent
    said so, but a failure when it claimed a fix it never wrote (its word is not the tree)."""
    if agent is not None and agent.outcome is AgentOutcome.FIXED:
        where = f"; its transcript is kept at {agent.transcript}" if agent.transcript else ""
        return TaskStatus.FAILED, f"the agent reported a fix but changed no file{where}"
    return TaskStatus.NO_CHANGE, (agent.summary if agent else "") or "the agent changed nothing"


def _verify_targets(state: TaskState) -> list[VerifyTarget]:
    """The prepared repositories that have a verify command (none when setup failed: the
    checks would fail for want of the environment, not because of the fix)."""
    if state.verification_note is not None:
        return []
    prepared = state.workspace.repositories if state.workspace else []
    snapshots = {e.repository: e.snapshot for e in state.environments}
    return [
        VerifyTarget(
            repository=r.name,
            commit=r.commit,
            verify=r.environment.verify,
            snapshot=snapshots.get(r.name),
        )
        for r in prepared
        if r.environment is not None and r.environment.verify is not None
    ]


def _set_up_repositories(state: TaskState) -> list[PreparedRepository]:
    """The prepared repositories whose spec has setup commands."""
    prepared = state.workspace.repositories if state.workspace else []
    return [r for r in prepared if r.environment is not None and r.environment.setup.run]


def _needs_setup(state: TaskState) -> bool:
    return bool(_set_up_repositories(state))


def _failed_verification(failing: list[Verification]) -> str:
    parts = []
    for item in failing:
        run = item.after
        if run is not None:
            parts.append(f"{item.repository}: `{run.command}`: {counts_text(run)}")
    return "tests failed after the fix: " + "; ".join(parts)


def _repair_message(failing: list[Verification]) -> str:
    """What the agent is told: which command failed, how, and the end of its output."""
    sections = []
    for item in failing:
        run = item.after
        if run is None:
            continue
        before = f" (before your change: {counts_text(item.baseline)})" if item.baseline else ""
        sections.append(
            f"In {item.repository}, `{run.command}` gave {counts_text(run)}{before}. "
            f"The end of its output:\n{run.output_tail}"
        )
    return "\n\n".join(sections)


def _refuse(refusal: Refusal | None) -> None:
    """Answer a refused update at once; nothing of it reaches history."""
    if refusal is not None:
        raise ApplicationError(refusal.reason, type=refusal.error_type, non_retryable=True)


async def _finish_regardless(handle: workflow.ActivityHandle[ResultT]) -> ResultT:
    """Wait for a step that must not be cut short; a cancel of the workflow waits for it."""
    await wait_through_cancel(handle.done)
    return await handle


def _reason(exc: BaseException) -> str:
    """The innermost message of an activity failure, for people."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = getattr(exc, "message", None)
    return str(message or exc) or type(exc).__name__
