"""`fixbot env`: the worker's snapshots of set-up environments, and checking a spec file."""

from __future__ import annotations

import time
from pathlib import Path

from bot.cli.terminal import console, inert, line
from orchestration.environment.snapshot_store import SnapshotInfo, SnapshotStore
from orchestration.environment.spec_file import parse_environment
from orchestration.models.environment import EnvironmentReady, EnvironmentSpec


def print_snapshots(store: SnapshotStore) -> None:
    """One line per snapshot, most recently used first, and the total."""
    snapshots = store.snapshots()
    if not snapshots:
        console.print(f"no environment snapshots in {store.root}")
        return
    now = time.time()
    for snapshot in snapshots:
        console.print(_row(snapshot, now))
    total = sum(s.size_bytes for s in snapshots)
    console.print(f"{len(snapshots)} snapshot(s), {_size(total)} in {store.root}")


def print_pruned(removed: list[SnapshotInfo]) -> None:
    for snapshot in removed:
        line(
            "removed ", f"{snapshot.key[:12]} {snapshot.repository} ({_size(snapshot.size_bytes)})"
        )
    console.print(f"{len(removed)} snapshot(s) removed")


def print_built(ready: EnvironmentReady) -> None:
    how = "built" if ready.built else "already built"
    console.print(
        f"environment of {ready.repository} {how}: snapshot {ready.snapshot[:12]}, "
        f"{_size(ready.size_bytes)}, setup {ready.setup_seconds:.1f}s"
    )


def check_spec_file(path: Path) -> EnvironmentSpec:
    """The spec in path (raises EnvironmentSpecError naming the key and the problem)."""
    spec = parse_environment(path.read_bytes(), str(path))
    for command in spec.setup.run:
        line("setup:  ", command)
    for host in spec.setup.egress:
        line("egress: ", host)
    if spec.verify is not None:
        for command in spec.verify.run:
            line("verify: ", command)
        console.print(f"verify timeout: {spec.verify.timeout_seconds}s")
    else:
        console.print("no [verify]: tasks on this repository are not verified")
    return spec


def _row(snapshot: SnapshotInfo, now: float) -> object:
    used = _age(now - snapshot.last_used_at)
    text = (
        f"{snapshot.key[:12]}  {_size(snapshot.size_bytes):>9}  used {used} ago  "
        f"setup {snapshot.setup_seconds:.1f}s  {snapshot.repository}"
    )
    return inert(text)


def _size(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MB"


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
