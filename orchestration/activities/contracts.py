"""What each activity takes and returns, declared once for the workflow and the workers.

The workflow calls activities through these typed stubs, by name: a name keeps I/O libraries
(docker, PyGithub) out of the workflow sandbox and lets tests register a stand-in under the
same name, while the argument and result types stay checked (mypy at the call site, and
tests/unit/test_activity_contracts.py against every registered implementation). This module
imports only models, so the workflow sandbox can load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio import workflow

from orchestration.models import (
    AgentRequest,
    AgentResult,
    ChangeSet,
    CollectRequest,
    DestroyRequest,
    ProvisionRequest,
    PublishRequest,
    PublishResult,
    SandboxRef,
    SandboxTarget,
    SetupRequest,
    TaskInput,
    WorkspaceReport,
)
from orchestration.models.environment import SetupReport, VerifyReport, VerifyRequest
from orchestration.models.events import DeliveryReceipt, EventDelivery

ArgumentT = TypeVar("ArgumentT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class ActivityContract(Generic[ArgumentT, ResultT]):
    """One activity: its registered name, its single argument's type and its result's type."""

    name: str
    argument: type[ArgumentT]
    result: type[ResultT]


class Nothing:
    """The result type of activities that return None."""


VALIDATE_TASK = ActivityContract("validate_task", TaskInput, Nothing)
PROVISION_SANDBOX = ActivityContract("provision_sandbox", ProvisionRequest, SandboxRef)
PREPARE_WORKSPACE = ActivityContract("prepare_workspace", SandboxTarget, WorkspaceReport)
RUN_AGENT = ActivityContract("run_agent", AgentRequest, AgentResult)
COLLECT_CHANGES = ActivityContract("collect_changes", CollectRequest, ChangeSet)
OPEN_PULL_REQUESTS = ActivityContract("open_pull_requests", PublishRequest, PublishResult)
DESTROY_SANDBOX = ActivityContract("destroy_sandbox", DestroyRequest, Nothing)
NOTIFY = ActivityContract("notify", EventDelivery, DeliveryReceipt)
VERIFY_CHANGE = ActivityContract("verify_change", VerifyRequest, VerifyReport)
PREPARE_ENVIRONMENT = ActivityContract("prepare_environment", SetupRequest, SetupReport)


def start(
    contract: ActivityContract[ArgumentT, ResultT], argument: ArgumentT, **options: Any
) -> workflow.ActivityHandle[ResultT]:
    """Start the contract's activity from a workflow; `options` are start_activity's."""
    result_type = None if contract.result is Nothing else contract.result
    return workflow.start_activity(contract.name, argument, result_type=result_type, **options)
