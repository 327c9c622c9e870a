"""How big a commit's tree is once checked out, read from the mirror before anything is written.

A repository of a few megabytes can unpack to gigabytes (one large blob under many names
compresses to almost nothing), hold millions of files, or nest paths deep enough to trouble
tools. `git ls-tree -r -l` gives every blob's size without unpacking one; it is read as a
stream, one entry at a time, so the worker's memory does not depend on the tree.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestration.workspace.git import GIT_ENV, GitError

_READ_SIZE = 1 << 16
_MAX_RECORD = 1 << 20
MB = 1024 * 1024


@dataclass(frozen=True)
class TreeLimits:
    """What a repository's checkout may take, and the settings that say so."""

    max_unpacked_mb: int
    max_files: int
    max_path_depth: int


@dataclass
class TreeFigures:
    """What the tree would take: bytes of files, number of files, deepest path."""

    unpacked_bytes: int = 0
    files: int = 0
    depth: int = 0


def tree_entries(mirror: Path, commit: str) -> Iterator[tuple[int, bytes]]:
    """(size, path) of every blob in the commit's tree; gitlinks and the like are skipped."""
    process = subprocess.Popen(
        ["git", "ls-tree", "-r", "-l", "-z", "--full-tree", commit],
        cwd=mirror,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout = process.stdout
    if stdout is None:  # never: stdout=PIPE above
        raise RuntimeError("git ls-tree has no output pipe")
    try:
        for record in _records(stdout):
            meta, _, path = record.partition(b"\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == b"blob" and fields[3].isdigit():
                yield int(fields[3]), path
        # read to the end: a git that failed (a missing commit, a broken mirror) must not
        # pass for an empty or small tree
        if process.wait() != 0:
            stderr = process.stderr.read(4096) if process.stderr else b""
            raise GitError(
                f"git ls-tree failed ({process.returncode}): {stderr.decode(errors='replace')}"
            )
    finally:
        process.kill()
        process.wait()


def _records(stream: IO[bytes]) -> Iterator[bytes]:
    """NUL-terminated records from a binary stream, read in chunks (linear in its length;
    no record of git's is near the cap, which keeps a runaway one from growing)."""
    pending = b""
    while chunk := stream.read(_READ_SIZE):
        pending += chunk
        *complete, pending = pending.split(b"\0")
        yield from complete
        if len(pending) > _MAX_RECORD:
            raise ValueError("git ls-tree printed a record longer than any path")


def measure(mirror: Path, commit: str, limits: TreeLimits) -> TreeFigures:
    """The tree's figures, reading until the end or until one exceeds its limit by far (the
    exact figure past ten times a limit changes nothing for the refusal)."""
    figures = TreeFigures()
    for size, path in tree_entries(mirror, commit):
        figures.unpacked_bytes += size
        figures.files += 1
        figures.depth = max(figures.depth, path.count(b"/") + 1)
        if _far_past(figures, limits):
            break
    return figures


def _far_past(figures: TreeFigures, limits: TreeLimits) -> bool:
    return (
        figures.unpacked_bytes > 10 * limits.max_unpacked_mb * MB
        or figures.files > 10 * limits.max_files
        or figures.depth > 10 * limits.max_path_depth
    )


def refusal(name: str, figures: TreeFigures, limits: TreeLimits) -> str | None:
    """Why the repository cannot be put in the workspace, naming the limit, the figure and the
    setting to raise; None when it fits."""
    if figures.unpacked_bytes > limits.max_unpacked_mb * MB:
        return (
            f"{name} unpacks to {figures.unpacked_bytes / MB:,.0f} MB, more than the "
            f"{limits.max_unpacked_mb:,} MB a workspace may hold "
            "(FIXBOT_SANDBOX__MAX_UNPACKED_MB)"
        )
    if figures.files > limits.max_files:
        return (
            f"{name} has {figures.files:,} files, more than the {limits.max_files:,} a "
            "workspace may hold (FIXBOT_SANDBOX__MAX_FILES)"
        )
    if figures.depth > limits.max_path_depth:
        return (
            f"{name} nests paths {figures.depth} levels deep, more than the "
            f"{limits.max_path_depth} allowed (FIXBOT_SANDBOX__MAX_PATH_DEPTH)"
        )
    return None
