"""Activity names: the workflow calls activities by these names, workers register them.

Calling by name keeps I/O libraries (docker, PyGithub) out of the workflow sandbox, and lets
tests replace any activity with a stub registered under the same name.
"""

VALIDATE_TASK = "validate_task"
PROVISION_SANDBOX = "provision_sandbox"
PREPARE_WORKSPACE = "prepare_workspace"
RUN_AGENT = "run_agent"
COLLECT_CHANGES = "collect_changes"
OPEN_PULL_REQUESTS = "open_pull_requests"
DESTROY_SANDBOX = "destroy_sandbox"
NOTIFY = "notify"
