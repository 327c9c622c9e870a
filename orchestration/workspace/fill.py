"""Filling in the objects a partial mirror lacks, in batches that each keep their progress.

A branch fetched without its files (`--filter=blob:none`) has every commit and tree but no
file contents. The missing ones are asked for by id, a batch at a time: each batch that
completes stays in the mirror, so a fetch interrupted by a slow network, a cancel or a
worker crash resumes where it stopped instead of starting over. Batches grow while the
network keeps up and shrink when it does not.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestration.workspace.git import GitError, run_git
from orchestration.workspace.watched import ProgressSink, run_watched

PARTIAL_FILTER_KEY = "remote.origin.partialclonefilter"
FIRST_BATCH = 2000
MIN_BATCH = 50
MAX_BATCH = 50_000
_GROW_BELOW_SECONDS = 15.0
_SHRINK_ABOVE_SECONDS = 90.0
# Only the fetches that leave files out treat origin as a promisor remote. The mirror's own
# config never does (git writes a filter there after such a fetch; `forget_filter` removes
# it), so other fetches bring whole objects and commands that read the mirror never go to the
# network for what is missing: they fail instead.
PROMISOR = ("-c", "remote.origin.promisor=true")


def missing_objects(mirror: Path, revisions: Sequence[str]) -> list[str]:
    """Ids of objects reachable from revisions (within the shallow boundary) not in the mirror."""
    out = run_git(
        [
            "--git-dir",
            str(mirror),
            "rev-list",
            "--objects",
            "--missing=print",
            *revisions,
            "--",
        ]
    )
    return [line[1:].decode() for line in out.splitlines() if line.startswith(b"?")]


def fill_missing(
    mirror: Path,
    revisions: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    on_line: ProgressSink,
    cancel: threading.Event | None = None,
) -> int:
    """Fetch what revisions need and the mirror lacks; return how many objects came."""
    missing = missing_objects(mirror, revisions)
    done, batch = 0, FIRST_BATCH
    try:
        while done < len(missing):
            chunk = missing[done : done + batch]
            started = time.monotonic()
            run_watched(
                ["--git-dir", str(mirror), *PROMISOR, *_fetch_by_id()],
                on_line=_prefixed(
                    on_line, f"files {done:,}-{done + len(chunk):,} of {len(missing):,}"
                ),
                env=env,
                stdin="".join(f"{oid}\n" for oid in chunk).encode(),
                cancel=cancel,
            )
            done += len(chunk)
            batch = _next_batch(batch, time.monotonic() - started)
    finally:
        forget_filter(mirror)
    return len(missing)


def forget_filter(mirror: Path) -> None:
    """Remove the filter git records after a filtered fetch, so the next fetch is whole."""
    with contextlib.suppress(GitError):  # exit 5: there was none
        run_git(["--git-dir", str(mirror), "config", "--unset-all", PARTIAL_FILTER_KEY])


def _prefixed(on_line: ProgressSink, prefix: str) -> ProgressSink:
    return lambda line: on_line(f"{prefix}: {line}")


def _fetch_by_id() -> list[str]:
    """Fetch the object ids on stdin, as git's own lazy fetch of a partial clone does."""
    return [
        "-c",
        "fetch.negotiationAlgorithm=noop",
        "fetch",
        "--progress",
        "--no-tags",
        "--no-write-fetch-head",
        "--recurse-submodules=no",
        "--filter=blob:none",
        "--stdin",
        "origin",
    ]


def _next_batch(batch: int, seconds: float) -> int:
    """A bigger batch while batches are quick, a smaller one when they are slow."""
    if seconds < _GROW_BELOW_SECONDS:
        return min(batch * 2, MAX_BATCH)
    if seconds > _SHRINK_ABOVE_SECONDS:
        return max(batch // 2, MIN_BATCH)
    return batch
