"""Every activity the worker registers matches the contract the workflow calls it by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.agent_activities import AgentActivities
from orchestration.activities.notify_activities import NotifyActivities
from orchestration.activities.publish_activities import PublishActivities
from orchestration.activities.sandbox_activities import SandboxActivities
from orchestration.activities.setup_activities import SetupActivities
from orchestration.activities.validation_activities import ValidationActivities
from orchestration.activities.verify_activities import VerifyActivities
from orchestration.activities.workspace_activities import WorkspaceActivities

IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    contracts.VALIDATE_TASK.name: ValidationActivities.validate,
    contracts.PROVISION_SANDBOX.name: SandboxActivities.provision,
    contracts.PREPARE_WORKSPACE.name: WorkspaceActivities.prepare,
    contracts.RUN_AGENT.name: AgentActivities.run,
    contracts.COLLECT_CHANGES.name: WorkspaceActivities.collect,
    contracts.OPEN_PULL_REQUESTS.name: PublishActivities.publish,
    contracts.DESTROY_SANDBOX.name: SandboxActivities.destroy,
    contracts.NOTIFY.name: NotifyActivities.notify,
    contracts.VERIFY_CHANGE.name: VerifyActivities.verify,
    contracts.PREPARE_ENVIRONMENT.name: SetupActivities.prepare,
}
CONTRACTS = [
    value for value in vars(contracts).values() if isinstance(value, contracts.ActivityContract)
]


def test_every_contract_has_one_implementation() -> None:
    """No contract is left without an activity, and no two contracts share a name."""
    names = [c.name for c in CONTRACTS]
    assert sorted(names) == sorted(IMPLEMENTATIONS) and len(set(names)) == len(names)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_the_implementation_takes_and_returns_the_contracts_types(
    contract: contracts.ActivityContract[Any, Any],
) -> None:
    """Registered name, argument type and result type are the ones the workflow uses."""
    definition = activity._Definition.from_callable(IMPLEMENTATIONS[contract.name])
    assert definition is not None and definition.name == contract.name
    assert definition.arg_types == [contract.argument]
    expected = type(None) if contract.result is contracts.Nothing else contract.result
    assert definition.ret_type in {expected, None if expected is type(None) else expected}
