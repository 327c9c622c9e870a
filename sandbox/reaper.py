"""Removing sandboxes whose workflow has ended, and workspace volumes nothing uses."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel, Field

from sandbox.interface import Sandbox, SandboxInfo

_log = logging.getLogger(__name__)


class ReapReport(BaseModel):
    """What one reaper pass removed, kept and failed on (names, not counts, for logs)."""

    removed_sandboxes: list[str] = Field(default_factory=list)
    kept_sandboxes: list[str] = Field(default_factory=list)
    removed_volumes: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def removed_count(self) -> int:
        """Sandboxes and volumes removed."""
        return len(self.removed_sandboxes) + len(self.removed_volumes)


def reap(
    backend: Sandbox, is_active: Callable[[str], bool], owner: str | None = None
) -> ReapReport:
    """Remove sandboxes whose workflow is not active, then orphan volumes; never stop early.

    With an owner, only that deployment's sandboxes and volumes are judged: another
    deployment's workflows are unknown to this one's Temporal server, not ended."""
    report = ReapReport()
    for info in backend.list_sandboxes():
        if owner is None or info.owner == owner:
            _reap_sandbox(backend, info, is_active, report)
    for volume in backend.list_orphan_volumes(owner):
        _reap_volume(backend, volume, report)
    return report


def _reap_sandbox(
    backend: Sandbox, info: SandboxInfo, is_active: Callable[[str], bool], report: ReapReport
) -> None:
    """Destroy one sandbox unless its workflow runs; an unsure answer keeps it."""
    try:
        if is_active(info.workflow_id):
            report.kept_sandboxes.append(info.name)
            return
        backend.destroy(info.sandbox_id)
    except Exception as exc:  # one bad item must not stop the pass
        _record(report, f"sandbox {info.name} (workflow {info.workflow_id})", exc)
        return
    _log.info("reaped sandbox %s of ended workflow %s", info.name, info.workflow_id)
    report.removed_sandboxes.append(info.name)


def _reap_volume(backend: Sandbox, volume: str, report: ReapReport) -> None:
    """Remove one orphan volume."""
    try:
        backend.remove_volume(volume)
    except Exception as exc:  # one bad item must not stop the pass
        _record(report, f"volume {volume}", exc)
        return
    _log.info("reaped orphan volume %s", volume)
    report.removed_volumes.append(volume)


def _record(report: ReapReport, item: str, exc: Exception) -> None:
    """Log and keep one item's failure."""
    message = f"{item}: {exc}"
    _log.warning("reaper could not handle %s", message)
    report.errors.append(message)
