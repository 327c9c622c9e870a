"""Stand-ins for BugFixWorkflow that exercise the task index before the real one is wired.

Each registers under the real workflow type name on its own task queue, so listings (which
select `WorkflowType = 'BugFixWorkflow'`) see them. IndexedStandIn uses TaskIndex the way
BugFixWorkflow does: `TaskIndex(task)` at the start, `update(view)` after every change (here,
each view the test signals). UnindexedStandIn is a task from before the index existed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from orchestration.client.gateway import TaskGateway, workflow_id
    from orchestration.models import RepositorySpec, TaskInput, TaskStatus, TaskView
    from orchestration.workflows.task_index import TaskIndex
    from tests.workflow.stubs import make_task

T = TypeVar("T")


@workflow.defn(name="BugFixWorkflow")
class IndexedStandIn:
    """Applies each signalled view to a TaskIndex, in order, until told to finish."""

    def __init__(self) -> None:
        self._views: list[TaskView] = []
        self._applied = 0
        self._finished = False

    @workflow.run
    async def run(self, task: TaskInput) -> None:
        index = TaskIndex(task)
        while True:
            await workflow.wait_condition(
                lambda: self._applied < len(self._views) or self._finished
            )
            while self._applied < len(self._views):
                index.update(self._views[self._applied])
                self._applied += 1
            if self._finished:
                return

    @workflow.signal
    def show(self, view: TaskView) -> None:
        self._views.append(view)

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def applied(self) -> int:
        return self._applied


@workflow.defn(name="BugFixWorkflow")
class UnindexedStandIn:
    """A task as fixbot ran them before the index: no search attributes at all."""

    @workflow.run
    async def run(self, task: TaskInput) -> None:
        return None


def view(task: TaskInput, status: TaskStatus, cost_usd: float = 0.0) -> TaskView:
    return TaskView(task_id=task.task_id, title=task.title, status=status, cost_usd=cost_usd)


def unique_repo(label: str = "shop") -> str:
    return f"https://github.com/acme/{label}-{uuid.uuid4().hex[:8]}"


def task_on(repo_url: str, **overrides: Any) -> TaskInput:
    name = repo_url.rsplit("/", 1)[-1]
    return make_task(repositories=[RepositorySpec(url=repo_url, name=name)], **overrides)


class StandIns:
    """Starts indexed stand-in tasks through the real gateway and drives them."""

    def __init__(self, client: Client, queue: str) -> None:
        self.client = client
        self.gateway = TaskGateway(client, queue)

    async def start(self, task: TaskInput) -> WorkflowHandle[Any, Any]:
        await self.gateway.start(task)
        return self.client.get_workflow_handle(workflow_id(task.task_id))

    async def run_through(
        self, task: TaskInput, statuses: list[TaskStatus], *, finish: bool = True
    ) -> WorkflowHandle[Any, Any]:
        """Start the task, show it each status in turn, and (by default) let it end."""
        handle = await self.start(task)
        for status in statuses:
            await handle.signal(IndexedStandIn.show, view(task, status))
        if finish:
            await handle.signal(IndexedStandIn.finish)
            await handle.result()
        else:
            await eventually(lambda: _applied(handle), lambda n: n == len(statuses))
        return handle


async def _applied(handle: WorkflowHandle[Any, Any]) -> int:
    count: int = await handle.query(IndexedStandIn.applied)
    return count


@asynccontextmanager
async def stand_ins(client: Client) -> AsyncIterator[StandIns]:
    """A worker for the indexed stand-in on a fresh queue, for as long as the block runs."""
    queue = f"index-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[IndexedStandIn],
        workflow_failure_exception_types=[Exception],
    )
    async with worker:
        yield StandIns(client, queue)


async def start_unindexed(client: Client, task: TaskInput) -> None:
    """Run an unindexed stand-in to its end, started as fixbot did before the index."""
    queue = f"old-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[UnindexedStandIn]):
        await client.execute_workflow(
            "BugFixWorkflow",
            task,
            id=workflow_id(task.task_id),
            task_queue=queue,
            memo={"title": task.title, "requester": task.requester},
        )


async def eventually(
    read: Callable[[], Awaitable[T]], check: Callable[[T], bool], seconds: float = 10.0
) -> T:
    """Poll until check(read()) holds (visibility catches up with history shortly after)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if check(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)
