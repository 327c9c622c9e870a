"""Names and labels of a task's sandbox and workspace, the same in every backend (and in the
worker's per-task socket directories): one rule for what a task id may be."""

from __future__ import annotations

import re

from sandbox.interface import LABEL_MANAGED, LABEL_OWNER, LABEL_TASK, LABEL_WORKFLOW, SandboxError

CONTAINER_PREFIX = "fixbot-"
VOLUME_PREFIX = "fixbot-ws-"
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_task_id(task_id: str) -> str:
    """Return task_id if it can name a container and a volume, else raise SandboxError."""
    if not TASK_ID.fullmatch(task_id):
        raise SandboxError(
            f"task id {task_id!r} cannot name a sandbox: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return task_id


def container_name(task_id: str) -> str:
    """The container's name for a task."""
    return CONTAINER_PREFIX + check_task_id(task_id)


def volume_name(task_id: str) -> str:
    """The workspace volume's name for a task."""
    return VOLUME_PREFIX + check_task_id(task_id)


def task_id_from_container_name(name: str) -> str | None:
    """The task id encoded in a container name, or None if it is not one of ours."""
    bare = name.lstrip("/")
    if not bare.startswith(CONTAINER_PREFIX):
        return None
    task_id = bare[len(CONTAINER_PREFIX) :]
    return task_id if TASK_ID.fullmatch(task_id) else None


def labels(task_id: str, workflow_id: str, owner: str) -> dict[str, str]:
    """The labels that mark a task's container and volume as fixbot's, and whose."""
    return {
        LABEL_MANAGED: "true",
        LABEL_TASK: task_id,
        LABEL_WORKFLOW: workflow_id,
        LABEL_OWNER: owner,
    }


def is_managed(object_labels: dict[str, str] | None) -> bool:
    """Whether a container's or volume's labels mark it as fixbot's."""
    return (object_labels or {}).get(LABEL_MANAGED) == "true"
