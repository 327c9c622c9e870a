"""`fixbot env`: check a spec file as fixbot reads it, list and prune the worker's snapshots."""

from __future__ import annotations

import time
from pathlib import Path

from orchestration.environment.snapshot_store import SnapshotInfo, SnapshotStore
from tests.cli.test_cli_errors import fixbot


def test_check_says_what_a_spec_asks_for(tmp_path: Path) -> None:
    spec = tmp_path / "environment.toml"
    spec.write_text(
        '[setup]\nrun = ["npm ci"]\negress = ["registry.npmjs.org"]\n[verify]\nrun = ["npm test"]\n'
    )
    done = fixbot("env", "check", str(spec))
    assert done.returncode == 0, done.stderr
    assert "setup:  npm ci" in done.stdout
    assert "egress: registry.npmjs.org" in done.stdout
    assert "verify: npm test" in done.stdout


def test_check_names_the_key_and_the_problem(tmp_path: Path) -> None:
    spec = tmp_path / "environment.toml"
    spec.write_text('[verify]\nrun = ["npm test"]\ntimeout = "forever"\n')
    done = fixbot("env", "check", str(spec))
    assert done.returncode == 2
    output = " ".join((done.stdout + done.stderr).split())
    assert f"{spec}: verify.timeout must be a duration" in output


def test_list_and_prune_the_snapshots(tmp_path: Path) -> None:
    """Two snapshots listed most recently used first; prune --all removes both."""
    store = SnapshotStore(tmp_path / "data" / "environments")
    now = time.time()
    for key, repo, used in (
        ("a" * 64, "https://x/old", now - 3600),
        ("b" * 64, "https://x/new", now),
    ):
        info = SnapshotInfo(
            key=key, repository=repo, size_bytes=0, created_at=used, last_used_at=used
        )
        store.save(info, iter([b"z" * (2 << 20)]))
    env = {"FIXBOT_DATA_DIR": str(tmp_path / "data")}
    listed = fixbot("env", "list", **env)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "https://x/" in line]
    assert [row.split()[0] for row in rows] == ["b" * 12, "a" * 12]
    assert "2 snapshot(s), 4.0 MB" in listed.stdout
    pruned = fixbot("env", "prune", "--all", **env)
    assert pruned.returncode == 0 and "2 snapshot(s) removed" in pruned.stdout
    assert store.snapshots() == []
