"""Activities replaced by name: each test scripts what the I/O steps return and records calls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from orchestration.activities import contracts
from orchestration.activities.progress import signal_progress
from orchestration.models import (
    AgentOutcome,
    AgentRequest,
    AgentResult,
    ApprovalPolicy,
    ChangeSet,
    CollectRequest,
    DestroyRequest,
    FileChange,
    PreparedRepository,
    ProvisionRequest,
    PublishRequest,
    PublishResult,
    PullRequestRef,
    RepositoryChange,
    RepositorySpec,
    SandboxRef,
    SandboxTarget,
    TaskInput,
    TokenUsage,
    WorkspaceReport,
)
from orchestration.models.events import DeliveryReceipt, EventDelivery
from orchestration.workflows.bugfix import BugFixWorkflow


def make_task(**overrides: Any) -> TaskInput:
    repos = overrides.pop("repositories", None) or [
        RepositorySpec(url="https://github.com/acme/shop", branch="main", name="shop")
    ]
    values: dict[str, Any] = {
        "task_id": f"t-{uuid.uuid4().hex[:8]}",
        "title": "Discount makes prices higher",
        "repositories": repos,
        "requester": "rita",
        "policy": ApprovalPolicy(approvers=["alice", "bob"]),
        "created_at": datetime(2026, 11, 24, tzinfo=UTC),
    }
    values.update(overrides)
    return TaskInput(**values)


def change_for(repo: RepositorySpec) -> RepositoryChange:
    return RepositoryChange(
        repository=repo,
        base_commit="a" * 40,
        files=[FileChange(path="pricing.py", additions=1, deletions=1)],
        patch="--- a/pricing.py\n+++ b/pricing.py\n",
        patch_sha256="0" * 64,
    )


def agent_result(outcome: AgentOutcome = AgentOutcome.FIXED, **overrides: Any) -> AgentResult:
    values: dict[str, Any] = {
        "session_id": "s",
        "outcome": outcome,
        "summary": "fixed the sign",
        "cost_usd": 0.25,
        "usage": TokenUsage(input_tokens=100, output_tokens=20),
        "num_turns": 4,
    }
    values.update(overrides)
    return AgentResult(**values)


@dataclass
class Stubs:
    """Scripted activity behaviour plus a record of every call."""

    agent_results: list[AgentResult] = field(default_factory=lambda: [agent_result()])
    changed: Callable[[TaskInput], list[RepositoryChange]] = lambda task: [
        change_for(task.repositories[0])
    ]
    agent_blocks: bool = False
    agent_blocks_once: bool = False
    release_agent: asyncio.Event = field(default_factory=asyncio.Event)
    agent_error: str | None = None
    spent_before_error: float | None = None  # signalled, as the real activity does, then fail
    calls: list[str] = field(default_factory=list)
    agent_requests: list[AgentRequest] = field(default_factory=list)
    published: list[PublishRequest] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    notices: list[EventDelivery] = field(default_factory=list)
    notify_fails: bool = False
    agent_cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.validate,
            self.provision,
            self.prepare,
            self.run_agent,
            self.collect,
            self.publish,
            self.destroy,
            self.notify,
        ]

    @activity.defn(name=contracts.VALIDATE_TASK.name)
    async def validate(self, task: TaskInput) -> None:
        self.calls.append("validate")

    @activity.defn(name=contracts.PROVISION_SANDBOX.name)
    async def provision(self, request: ProvisionRequest) -> SandboxRef:
        self.calls.append("provision")
        return SandboxRef(sandbox_id=f"c-{request.task_id}", name=f"fixbot-{request.task_id}")

    @activity.defn(name=contracts.PREPARE_WORKSPACE.name)
    async def prepare(self, target: SandboxTarget) -> WorkspaceReport:
        self.calls.append("prepare")
        return WorkspaceReport(
            repositories=[
                PreparedRepository(
                    name=r.name, branch=r.branch, commit="a" * 40, path=f"/workspace/{r.name}"
                )
                for r in target.task.repositories
            ]
        )

    @activity.defn(name=contracts.RUN_AGENT.name)
    async def run_agent(self, request: AgentRequest) -> AgentResult:
        self.calls.append("agent")
        self.agent_requests.append(request)
        if self.agent_blocks:
            try:
                while True:
                    activity.heartbeat("working")
                    await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                self.agent_cancelled.set()
                raise
        if self.agent_blocks_once and len(self.agent_requests) == 1:
            await self.release_agent.wait()
        if self.agent_error:
            if self.spent_before_error is not None:
                await signal_progress("Bash: pytest", self.spent_before_error)
            raise ApplicationError(self.agent_error, type="AgentFailed", non_retryable=True)
        result = self.agent_results.pop(0)
        return result.model_copy(update={"session_id": request.session_id})

    @activity.defn(name=contracts.COLLECT_CHANGES.name)
    async def collect(self, request: CollectRequest) -> ChangeSet:
        self.calls.append("collect")
        return ChangeSet(repositories=self.changed(request.task))

    @activity.defn(name=contracts.OPEN_PULL_REQUESTS.name)
    async def publish(self, request: PublishRequest) -> PublishResult:
        self.calls.append("publish")
        self.published.append(request)
        return PublishResult(
            pull_requests=[
                PullRequestRef(
                    repository=c.repository.name,
                    branch=f"fixbot/{request.task.task_id}",
                    url=f"https://github.com/acme/{c.repository.name}/pull/{i + 1}",
                    number=i + 1,
                )
                for i, c in enumerate(request.changes.repositories)
            ]
        )

    @activity.defn(name=contracts.NOTIFY.name)
    async def notify(self, delivery: EventDelivery) -> DeliveryReceipt:
        if self.notify_fails:
            raise ApplicationError("channel_not_found", non_retryable=True)
        self.notices.append(delivery)
        ts = f"1700000000.{len(self.notices):06d}"
        channel = delivery.thread.channel if delivery.thread else "C1"
        return DeliveryReceipt(channel=channel, message=ts)

    @activity.defn(name=contracts.DESTROY_SANDBOX.name)
    async def destroy(self, request: DestroyRequest) -> None:
        self.calls.append("destroy")
        self.destroyed.append(request.task_id)


def stub_worker(client: Client, stubs: Stubs, task_queue: str) -> Worker:
    """A worker whose workflow bugs fail fast instead of retrying forever."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BugFixWorkflow],
        activities=stubs.activities(),
        workflow_failure_exception_types=[Exception],
        max_heartbeat_throttle_interval=timedelta(milliseconds=500),
        default_heartbeat_throttle_interval=timedelta(milliseconds=500),
    )
