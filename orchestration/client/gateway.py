"""The one way front ends (CLI, Slack) talk to Temporal about tasks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from orchestration.client.registration import ensure_registered, looks_unregistered
from orchestration.models import (
    Answer,
    CancelRequest,
    ChangeRequest,
    Decision,
    DecisionRecord,
    TaskInput,
    TaskResult,
    TaskStatus,
    TaskView,
)
from orchestration.models.events import TaskEvent
from orchestration.models.index import index_values
from orchestration.workflows.bugfix import BugFixWorkflow

WORKFLOW_ID_PREFIX = "fixbot-"
EVENTS_QUERY = "events"  # BugFixWorkflow.events(after): the announcer's kept events
QUERY_TIMEOUT = timedelta(seconds=10)
UPDATE_ATTEMPTS = 3
ArgumentT = TypeVar("ArgumentT")
ResultT = TypeVar("ResultT")


class UnknownTask(LookupError):
    """No task with that id."""


class ActionRefused(ValueError):
    """The workflow refused the request; the message says why."""


class TaskEnded(ActionRefused):
    """The request reached a run that has ended (the task, or a run that continued as new)."""


class NoWorker(RuntimeError):
    """A running task's workflow has no worker to answer; the message says what to start."""


def workflow_id(task_id: str) -> str:
    return task_id if task_id.startswith(WORKFLOW_ID_PREFIX) else WORKFLOW_ID_PREFIX + task_id


class TaskGateway:
    """Starts tasks and sends them decisions, answers and cancels; reads their status."""

    def __init__(
        self, client: Client, task_queue: str, query_timeout: timedelta = QUERY_TIMEOUT
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._query_timeout = query_timeout

    @property
    def client(self) -> Client:
        """The Temporal client underneath (for tools that need more than tasks)."""
        return self._client

    async def start(self, task: TaskInput) -> str:
        """Start the task's workflow; a second start of the same task returns the running one."""
        try:
            handle = await self._start(task)
        except WorkflowAlreadyStartedError:
            raise ActionRefused(
                f"task id {task.task_id!r} was already used by a task that has ended"
            ) from None
        except RPCError as exc:
            if looks_unregistered(exc):
                await ensure_registered(self._client)  # names the command that fixes it
            raise
        return handle.id

    async def _start(self, task: TaskInput) -> WorkflowHandle[BugFixWorkflow, TaskResult]:
        return await self._client.start_workflow(
            BugFixWorkflow.run,
            task,
            id=workflow_id(task.task_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # an ended task's id is not reused: its branch and PR belong to that task
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={"title": task.title, "requester": task.requester},
            # indexed from the start, so a filter finds the task before its workflow runs
            search_attributes=index_values(task, TaskStatus.PENDING, 0.0),
            execution_timeout=timedelta(days=31),
        )

    async def status(self, task_id: str) -> TaskView:
        """A running task answers the status query; a finished one is read from its result,
        so no worker is needed to look at history."""
        handle = await self._existing(task_id)
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            title = str((await description.memo()).get("title", ""))
            return await _finished_view(handle, task_id, title)
        try:
            return await handle.query(BugFixWorkflow.status, rpc_timeout=self._query_timeout)
        except RPCError as exc:
            raise NoWorker(
                f"task {task_id} is running but no worker answered ({exc.message}); "
                f"start one for task queue {self._task_queue!r}: `fixbot worker` or `fixbot dev`"
            ) from None

    async def events(self, task_id: str, after: int = 0) -> list[TaskEvent]:
        """The task's events with a sequence number above `after`, oldest first (the workflow
        keeps the latest few hundred). Raises WorkflowQueryFailedError when the worker's
        workflow code has no `events` query yet."""
        handle = await self._existing(task_id)
        try:
            events: list[TaskEvent] = await handle.query(
                EVENTS_QUERY, after, result_type=list[TaskEvent], rpc_timeout=self._query_timeout
            )
        except RPCError as exc:
            raise NoWorker(
                f"task {task_id}: no worker answered ({exc.message}); "
                f"start one for task queue {self._task_queue!r}: `fixbot worker` or `fixbot dev`"
            ) from None
        return events

    async def result(self, task_id: str) -> TaskResult:
        """Wait for the task to end and return its result."""
        handle = await self._existing(task_id)
        return await handle.result()

    async def decide(self, task_id: str, decision: Decision) -> DecisionRecord:
        """Approve or reject; ActionRefused says why when the workflow's validator refuses."""
        return await self._update(task_id, BugFixWorkflow.decide, decision)

    async def request_changes(self, task_id: str, request: ChangeRequest) -> None:
        """Send the fix back to the agent with a reviewer's feedback."""
        await self._update(task_id, BugFixWorkflow.request_changes, request)

    async def answer(self, task_id: str, answer: Answer) -> None:
        await self._update(task_id, BugFixWorkflow.answer, answer)

    async def cancel(self, task_id: str, request: CancelRequest) -> TaskStatus:
        return await self._update(task_id, BugFixWorkflow.request_cancel, request)

    async def _update(
        self,
        task_id: str,
        update: UpdateMethodMultiParam[[BugFixWorkflow, ArgumentT], ResultT],
        argument: ArgumentT,
    ) -> ResultT:
        """Send an update to the task's current run. One that lands on a run just as it
        continues as new is sent again to the next run, instead of reading "ended"."""
        for attempt in range(UPDATE_ATTEMPTS):
            handle = await self._existing(task_id)
            try:
                async with _refusals(task_id):
                    return await handle.execute_update(update, argument)
            except TaskEnded:
                if attempt + 1 == UPDATE_ATTEMPTS or not await self.is_running(task_id):
                    raise
        raise AssertionError("unreachable")

    async def is_running(self, task_id: str) -> bool:
        try:
            description = await self._client.get_workflow_handle(workflow_id(task_id)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    async def _existing(self, task_id: str) -> WorkflowHandle[BugFixWorkflow, TaskResult]:
        handle = self._client.get_workflow_handle_for(BugFixWorkflow.run, workflow_id(task_id))
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise UnknownTask(f"no task {task_id!r}") from None
            raise
        return handle


async def _finished_view(
    handle: WorkflowHandle[BugFixWorkflow, TaskResult], task_id: str, title: str
) -> TaskView:
    """The status of an ended task, from its result (or how Temporal ended it)."""
    try:
        result = await handle.result()
    except WorkflowFailureError as exc:
        cause = exc.cause
        reason = getattr(cause, "message", None) or str(cause or exc)
        return TaskView(task_id=task_id, title=title, status=TaskStatus.FAILED, error=reason)
    return TaskView(
        task_id=task_id,
        title=title,
        status=result.status,
        last_progress=None,
        cost_usd=result.cost_usd,
        summary=result.summary,
        pull_requests=result.pull_requests,
        decision=result.decision,
        error=result.error,
        result=result,
    )


@contextlib.asynccontextmanager
async def _refusals(task_id: str) -> AsyncIterator[None]:
    """A refused update, or one sent to a finished workflow, becomes ActionRefused."""
    try:
        yield
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise ActionRefused(getattr(cause, "message", None) or str(cause or exc)) from None
    except RPCError as exc:
        if "completed" in exc.message or exc.status == RPCStatusCode.NOT_FOUND:
            raise TaskEnded(f"task {task_id} has ended") from None
        raise
