"""Durable timeouts on the time-skipping test server: a 24 h wait passes in under a second."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestration.client.gateway import workflow_id
from orchestration.client.registration import register_search_attributes
from orchestration.models import AgentOutcome, TaskInput, TaskResult, TaskStatus
from orchestration.workflows.bugfix import BugFixWorkflow
from tests.workflow.stubs import Stubs, agent_result, make_task, stub_worker


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    binary = Path(sys.executable).with_name("temporal-test-server")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(binary), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)  # the workflow keeps its task index
    try:
        yield env
    finally:
        await env.shutdown()


async def run_to_end(env: WorkflowEnvironment, task: TaskInput, queue: str) -> TaskResult:
    """Start the workflow and wait for it; time skips while the test waits on the result."""
    return await env.client.execute_workflow(
        BugFixWorkflow.run, task, id=workflow_id(task.task_id), task_queue=queue
    )


async def test_unanswered_approval_expires_and_cleans_up(skipping_env: WorkflowEnvironment) -> None:
    """Nobody decides within the approval timeout: the task ends as expired; sandbox removed."""
    stubs = Stubs()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    task = make_task(approval_timeout_seconds=24 * 3600)
    async with stub_worker(skipping_env.client, stubs, queue):
        result = await run_to_end(skipping_env, task, queue)
    assert result.status is TaskStatus.EXPIRED
    assert result.error == "nobody approved or rejected the fix in time"
    assert "publish" not in stubs.calls and stubs.destroyed == [task.task_id]


async def test_unanswered_question_expires(skipping_env: WorkflowEnvironment) -> None:
    """A clarification question nobody answers ends the task as expired."""
    stubs = Stubs(agent_results=[agent_result(AgentOutcome.NEEDS_CLARIFICATION, question="Which?")])
    queue = f"q-{uuid.uuid4().hex[:8]}"
    task = make_task(approval_timeout_seconds=3600)
    async with stub_worker(skipping_env.client, stubs, queue):
        result = await run_to_end(skipping_env, task, queue)
    assert result.status is TaskStatus.EXPIRED
    assert result.error == "nobody answered the agent's question in time"
    assert stubs.destroyed == [task.task_id]
