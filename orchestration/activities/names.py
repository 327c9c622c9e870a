"""Activity names, as the workers register them (declared with their types in contracts.py)."""

from orchestration.activities import contracts

VALIDATE_TASK = contracts.VALIDATE_TASK.name
PROVISION_SANDBOX = contracts.PROVISION_SANDBOX.name
PREPARE_WORKSPACE = contracts.PREPARE_WORKSPACE.name
RUN_AGENT = contracts.RUN_AGENT.name
COLLECT_CHANGES = contracts.COLLECT_CHANGES.name
OPEN_PULL_REQUESTS = contracts.OPEN_PULL_REQUESTS.name
DESTROY_SANDBOX = contracts.DESTROY_SANDBOX.name
NOTIFY = "notify"
