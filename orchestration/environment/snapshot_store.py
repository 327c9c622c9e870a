"""Set-up environments kept on the worker's disk, one tar per key, evicted by age and size.

A snapshot is what a repository's setup commands left in the workspace: the repository's
untracked and ignored files (node_modules, .venv, build outputs) and the environment
directory the setup's HOME pointed to. Restoring it is one tar stream into the workspace
volume, so a later task's sandbox looks as if setup had just run in it.

Two tasks needing the same snapshot build it once: building holds a lock file per key
(flock, so several worker processes on one host agree), and the second builder finds the
snapshot made when it gets the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

CHUNK_BYTES = 1 << 20


class SnapshotTooLarge(RuntimeError):
    """A snapshot grew past the store's per-snapshot limit while it was written."""


class SnapshotInfo(BaseModel):
    key: str
    repository: str  # the repository's URL
    size_bytes: int
    created_at: float
    last_used_at: float
    setup_seconds: float = 0.0  # how long its setup commands ran


@dataclass(frozen=True)
class SnapshotLimits:
    max_snapshot_bytes: int = 4 << 30
    max_total_bytes: int = 20 << 30
    max_age_seconds: float = 7 * 24 * 3600


class SnapshotStore:
    """Snapshots under root: `<key>.tar` with `<key>.json` beside it."""

    def __init__(self, root: Path, limits: SnapshotLimits | None = None) -> None:
        self.root = root
        self.limits = limits or SnapshotLimits()

    def find(self, key: str) -> SnapshotInfo | None:
        """The snapshot's record, when its tar is complete on disk."""
        meta, tar = self._meta_path(key), self.tar_path(key)
        if not (meta.is_file() and tar.is_file()):
            return None
        try:
            return SnapshotInfo.model_validate_json(meta.read_text())
        except ValueError:
            return None  # a record cut short by a crash: rebuilt

    def tar_path(self, key: str) -> Path:
        return self.root / f"{_checked(key)}.tar"

    def chunks(self, key: str) -> Iterator[bytes]:
        """The snapshot's tar as chunks (never all of it in memory); marks it used."""
        self._touch(key)
        with self.tar_path(key).open("rb") as tar:
            while chunk := tar.read(CHUNK_BYTES):
                yield chunk

    def save(self, info: SnapshotInfo, chunks: Iterable[bytes]) -> SnapshotInfo:
        """Write the tar from chunks, then its record: a reader never sees half a snapshot."""
        self.root.mkdir(parents=True, exist_ok=True)
        size = 0
        with tempfile.NamedTemporaryFile(dir=self.root, suffix=".part", delete=False) as part:
            try:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.limits.max_snapshot_bytes:
                        raise SnapshotTooLarge(
                            f"the environment is over {self.limits.max_snapshot_bytes:,} bytes"
                        )
                    part.write(chunk)
            except BaseException:
                Path(part.name).unlink(missing_ok=True)
                raise
        Path(part.name).replace(self.tar_path(info.key))
        saved = info.model_copy(update={"size_bytes": size})
        self._write_meta(saved)
        return saved

    def snapshots(self) -> list[SnapshotInfo]:
        """Every complete snapshot, most recently used first."""
        if not self.root.is_dir():
            return []
        found = (self.find(p.stem) for p in self.root.glob("*.json"))
        return sorted((s for s in found if s), key=lambda s: s.last_used_at, reverse=True)

    def remove(self, key: str) -> None:
        for path in (self._meta_path(key), self.tar_path(key)):
            path.unlink(missing_ok=True)

    def prune(self, now: float | None = None) -> list[SnapshotInfo]:
        """Remove snapshots older than the age limit, then the least recently used ones
        until the rest fit the total size; the removed ones."""
        now = time.time() if now is None else now
        removed, kept_bytes = [], 0
        for snapshot in self.snapshots():
            too_old = now - snapshot.last_used_at > self.limits.max_age_seconds
            too_much = kept_bytes + snapshot.size_bytes > self.limits.max_total_bytes
            if too_old or too_much:
                self.remove(snapshot.key)
                removed.append(snapshot)
            else:
                kept_bytes += snapshot.size_bytes
        return removed

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[None]:
        """Hold the key's build lock (blocking: call from a thread)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{_checked(key)}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _touch(self, key: str) -> None:
        info = self.find(key)
        if info is not None:
            self._write_meta(info.model_copy(update={"last_used_at": time.time()}))

    def _write_meta(self, info: SnapshotInfo) -> None:
        part = self._meta_path(info.key).with_suffix(".json.part")
        part.write_text(json.dumps(info.model_dump()))
        part.replace(self._meta_path(info.key))

    def _meta_path(self, key: str) -> Path:
        return self.root / f"{_checked(key)}.json"


def _checked(key: str) -> str:
    """Keys are hex digests: nothing else may name a file here."""
    if not key or len(key) > 128 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"not a snapshot key: {key!r:.80}")
    return key
