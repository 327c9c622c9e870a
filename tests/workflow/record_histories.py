"""Record workflow histories for the replay test (run when a deployed version is frozen):

    uv run python -m tests.workflow.record_histories

Each scenario runs on a real dev server with stub activities; its history is saved as JSON
under tests/workflow/histories/. The replay test then checks that today's workflow code still
replays every saved history, which is what tasks waiting in production depend on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestration.client.gateway import TaskGateway, workflow_id
from orchestration.models import (
    AgentOutcome,
    AgentProgress,
    Answer,
    CancelRequest,
    ChangeRequest,
    Decision,
    TaskStatus,
)
from orchestration.models.events import OriginKind, TaskOrigin
from orchestration.models.index import SEARCH_ATTRIBUTES
from orchestration.runtime.embedded_temporal import temporal_binary
from tests.workflow.stubs import Stubs, agent_result, make_task, stub_worker

HISTORIES = Path(__file__).with_name("histories")
Scenario = Callable[[TaskGateway, str], Awaitable[None]]


async def _until(gateway: TaskGateway, task_id: str, check: Callable[[object], bool]) -> None:
    for _ in range(200):
        if check(await gateway.status(task_id)):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("scenario did not reach its state")


async def approved(gateway: TaskGateway, task_id: str) -> None:
    await _until(gateway, task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)  # type: ignore[attr-defined]
    await gateway.decide(task_id, Decision(approve=True, by="alice"))


async def rejected(gateway: TaskGateway, task_id: str) -> None:
    await _until(gateway, task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)  # type: ignore[attr-defined]
    await gateway.decide(task_id, Decision(approve=False, by="bob", comment="no"))


async def clarified(gateway: TaskGateway, task_id: str) -> None:
    await _until(gateway, task_id, lambda v: v.question is not None)  # type: ignore[attr-defined]
    await gateway.answer(task_id, Answer(by="rita", text="euros"))
    await approved(gateway, task_id)


async def changes_requested(gateway: TaskGateway, task_id: str) -> None:
    await _until(gateway, task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)  # type: ignore[attr-defined]
    await gateway.request_changes(task_id, ChangeRequest(by="bob", feedback="add a test"))
    await _until(
        gateway, task_id, lambda v: v.revision == 2 and v.status is TaskStatus.AWAITING_APPROVAL
    )  # type: ignore[attr-defined]
    await gateway.decide(task_id, Decision(approve=True, by="alice"))


async def cancelled(gateway: TaskGateway, task_id: str) -> None:
    await _until(gateway, task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)  # type: ignore[attr-defined]
    await gateway.cancel(task_id, CancelRequest(by="rita"))


async def continued(gateway: TaskGateway, task_id: str) -> None:
    """Progress signals during the approval wait pass the history limit: it continues as new."""
    await _until(gateway, task_id, lambda v: v.status is TaskStatus.AWAITING_APPROVAL)  # type: ignore[attr-defined]
    handle = gateway.client.get_workflow_handle(workflow_id(task_id))
    for number in range(CONTINUED_LIMIT // 2):
        await handle.signal("report_progress", AgentProgress(text=f"tick {number}"))
    await gateway.decide(task_id, Decision(approve=True, by="alice"))


CONTINUED_LIMIT = 80
SCENARIOS: dict[str, tuple[Scenario, Callable[[], Stubs]]] = {
    "approved": (approved, Stubs),
    "rejected": (rejected, Stubs),
    "clarified": (
        clarified,
        lambda: Stubs(
            agent_results=[
                agent_result(AgentOutcome.NEEDS_CLARIFICATION, question="Which currency?"),
                agent_result(),
            ]
        ),
    ),
    "cancelled": (cancelled, Stubs),
    # recorded after notices (Slack) and requested changes were added
    "slack_approved": (approved, Stubs),
    "changes_requested": (
        changes_requested,
        lambda: Stubs(agent_results=[agent_result(), agent_result()]),
    ),
    # recorded after the reshape: task state, typed events for every origin, the task index,
    # continue-as-new (both runs of "continued" are kept)
    "v2_cli_approved": (approved, Stubs),
    "v2_slack_changes_requested": (
        changes_requested,
        lambda: Stubs(agent_results=[agent_result(), agent_result()]),
    ),
    "v2_clarified": (
        clarified,
        lambda: Stubs(
            agent_results=[
                agent_result(AgentOutcome.NEEDS_CLARIFICATION, question="Which currency?"),
                agent_result(),
            ]
        ),
    ),
    "v2_cancelled": (cancelled, Stubs),
    "v2_continued": (continued, Stubs),
}
SLACK_SCENARIOS = {"slack_approved", "changes_requested", "v2_slack_changes_requested"}


async def record(env: WorkflowEnvironment, name: str) -> None:
    scenario, make_stubs = SCENARIOS[name]
    queue = f"record-{uuid.uuid4().hex[:8]}"
    slack = TaskOrigin(kind=OriginKind.SLACK, channel="C9")
    task = make_task(
        origin=slack if name in SLACK_SCENARIOS else TaskOrigin(),
        continue_as_new_after_events=CONTINUED_LIMIT,
    )
    async with stub_worker(env.client, make_stubs(), queue):
        gateway = TaskGateway(env.client, queue)
        await gateway.start(task)
        await scenario(gateway, task.task_id)
        await gateway.result(task.task_id)
    query = f"WorkflowId = '{workflow_id(task.task_id)}'"
    runs = [run async for run in env.client.list_workflows(query)]
    for number, run in enumerate(sorted(runs, key=lambda r: r.start_time)):
        handle = env.client.get_workflow_handle(run.id, run_id=run.run_id)
        history = await handle.fetch_history()
        suffix = f"_run{number + 1}" if len(runs) > 1 else ""
        (HISTORIES / f"{name}{suffix}.json").write_text(history.to_json())


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    try:
        for name in SCENARIOS:
            if list(HISTORIES.glob(f"{name}.json")) or list(HISTORIES.glob(f"{name}_run*.json")):
                continue  # an earlier version's history stays as it was recorded
            await record(env, name)
            print(f"recorded {name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
