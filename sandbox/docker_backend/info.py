"""SandboxInfo from the engine's container descriptions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from sandbox.interface import LABEL_OWNER, LABEL_TASK, LABEL_WORKFLOW, SandboxInfo
from sandbox.naming import volume_name


def info_from_inspect(attrs: dict[str, Any]) -> SandboxInfo:
    """SandboxInfo from `inspect_container` data."""
    labels: dict[str, str] = attrs["Config"].get("Labels") or {}
    return _info(
        container_id=str(attrs["Id"]),
        name=str(attrs["Name"]),
        labels=labels,
        running=bool(attrs["State"].get("Running")),
        created_at=_parse_time(str(attrs["Created"])),
        image_id=str(attrs.get("Image") or ""),
    ).model_copy(update={"out_of_memory": bool(attrs["State"].get("OOMKilled"))})


def info_from_summary(summary: dict[str, Any]) -> SandboxInfo:
    """SandboxInfo from one item of the container list."""
    names: list[str] = summary.get("Names") or [""]
    return _info(
        container_id=str(summary["Id"]),
        name=names[0],
        labels=summary.get("Labels") or {},
        running=summary.get("State") == "running",
        created_at=datetime.fromtimestamp(int(summary["Created"]), tz=UTC),
        image_id=str(summary.get("ImageID") or ""),
    )


def _info(
    *,
    container_id: str,
    name: str,
    labels: dict[str, str],
    running: bool,
    created_at: datetime,
    image_id: str,
) -> SandboxInfo:
    """SandboxInfo from the parts both descriptions share."""
    task_id = labels.get(LABEL_TASK, "")
    return SandboxInfo(
        sandbox_id=container_id,
        name=name.lstrip("/"),
        task_id=task_id,
        workflow_id=labels.get(LABEL_WORKFLOW, ""),
        owner=labels.get(LABEL_OWNER, ""),
        volume=volume_name(task_id) if task_id else "",
        running=running,
        created_at=created_at,
        image_id=image_id,
    )


def _parse_time(timestamp: str) -> datetime:
    """An RFC 3339 timestamp with nanoseconds, as the engine writes them."""
    return TypeAdapter(datetime).validate_python(timestamp)
