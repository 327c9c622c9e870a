"""The worker's store of set-up environments, as the settings configure it (the worker
and `fixbot env` open the same one)."""

from __future__ import annotations

from orchestration.environment.snapshot_store import SnapshotLimits, SnapshotStore
from orchestration.runtime.settings import Settings


def snapshot_store(settings: Settings) -> SnapshotStore:
    e = settings.environment
    limits = SnapshotLimits(
        max_snapshot_bytes=e.max_snapshot_mb << 20,
        max_total_bytes=e.max_snapshots_mb << 20,
        max_age_seconds=e.snapshot_max_age_days * 86400,
    )
    return SnapshotStore(settings.data_dir / "environments", limits)
