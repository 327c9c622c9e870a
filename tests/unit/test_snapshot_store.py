"""The snapshot store: complete snapshots only, size limits while writing, age and
least-recently-used eviction, one builder per key."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from orchestration.environment.snapshot_store import (
    SnapshotInfo,
    SnapshotLimits,
    SnapshotStore,
    SnapshotTooLarge,
)

KEY_A, KEY_B, KEY_C = "a" * 64, "b" * 64, "c" * 64


def info(key: str, used: float = 0.0) -> SnapshotInfo:
    return SnapshotInfo(key=key, repository="u", size_bytes=0, created_at=used, last_used_at=used)


def test_a_saved_snapshot_streams_back_whole_and_records_its_size(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    saved = store.save(info(KEY_A), iter([b"x" * 3_000_000, b"y"]))
    assert saved.size_bytes == 3_000_001
    assert b"".join(store.chunks(KEY_A)) == b"x" * 3_000_000 + b"y"
    found = store.find(KEY_A)
    assert found is not None and found.size_bytes == 3_000_001
    assert found.last_used_at > 0  # reading it marked it used


def test_a_snapshot_over_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, SnapshotLimits(max_snapshot_bytes=1000))
    with pytest.raises(SnapshotTooLarge, match="over 1,000 bytes"):
        store.save(info(KEY_A), iter([b"x" * 600, b"x" * 600]))
    assert store.find(KEY_A) is None
    assert list(tmp_path.iterdir()) == []


def test_a_half_written_record_is_no_snapshot(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save(info(KEY_A), iter([b"tar"]))
    (tmp_path / f"{KEY_A}.json").write_text('{"key": "aaa')  # a crash mid-write
    assert store.find(KEY_A) is None


def test_prune_removes_the_old_then_the_least_recently_used(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, SnapshotLimits(max_total_bytes=250, max_age_seconds=3600))
    now = time.time()
    for key, used in ((KEY_A, now - 7200), (KEY_B, now - 60), (KEY_C, now - 10)):
        store.save(info(key, used), iter([b"z" * 100]))
    removed = store.prune(now=now)
    assert [s.key for s in removed] == [KEY_A]  # too old; B and C fit in 250 bytes
    store.save(info(KEY_A, now), iter([b"z" * 100]))
    removed = store.prune(now=now)
    assert [s.key for s in removed] == [KEY_B]  # the least recently used of the three
    assert [s.key for s in store.snapshots()] == [KEY_A, KEY_C]


def test_keys_that_are_not_digests_cannot_name_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a snapshot key"):
        SnapshotStore(tmp_path).tar_path("../../etc/passwd")


def test_a_second_builder_waits_for_the_first(tmp_path: Path) -> None:
    """Two builders of one key: the second gets the lock only after the first saved, and
    finds the snapshot made."""
    store = SnapshotStore(tmp_path)
    order: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with store.building(KEY_A):
            first_holds.set()
            time.sleep(0.3)
            store.save(info(KEY_A), iter([b"built once"]))
            order.append("first saved")

    def second() -> None:
        first_holds.wait(5)
        with store.building(KEY_A):
            order.append("second found" if store.find(KEY_A) else "second builds again")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first saved", "second found"]
