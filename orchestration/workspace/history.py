"""The history the agent gets: one pack of a branch's recent commits, made from the mirror.

The sandbox needs the commit's tree (to work on), about HISTORY_DEPTH commits behind it (for
`git log` and `git blame`) and the commit itself as the baseline the change is diffed
against. All of it is one pack that `git pack-objects` writes next to its index, reusing the
mirror's compressed objects; the sandbox checks the tree out from it. Nothing is unpacked or
parsed on the worker, and git never runs the repository's filters or hooks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.workspace.git import GitError, run_git
from orchestration.workspace.mirror import shallow_commits

BIG_FILE_BYTES = 4 << 20
WINDOW_MEMORY_BYTES = 64 << 20


@dataclass(frozen=True)
class History:
    """A branch's recent history as files ready to become a repository's object store."""

    branch: str
    commit: str
    shallow: tuple[str, ...]  # commits shown without parents: where the history stops
    pack: Path
    index: Path


def history_pack(mirror: Path, branch: str, commit: str, depth: int, scratch: Path) -> History:
    """Write the pack of commit's last `depth` commits under scratch (a directory)."""
    boundary = _boundary(mirror, commit, depth)
    wanted = commit + "\n" + "".join(f"--shallow {oid}\n" for oid in boundary)
    out = run_git(
        [
            # large blobs (generated files, a planted bomb) are never searched for deltas, and
            # the delta window has a memory cap: git's memory stays flat whatever the files
            "-c",
            f"core.bigFileThreshold={BIG_FILE_BYTES}",
            "--git-dir",
            str(mirror),
            "pack-objects",
            f"--window-memory={WINDOW_MEMORY_BYTES}",
            "--revs",
            "--quiet",
            "--delta-base-offset",
            str(scratch / "history"),
        ],
        stdin=wanted.encode(),
    )
    name = out.decode().strip()
    pack, index = scratch / f"history-{name}.pack", scratch / f"history-{name}.idx"
    if not (pack.is_file() and index.is_file()):
        raise GitError(f"git pack-objects wrote no pack for {commit}")
    return History(branch=branch, commit=commit, shallow=boundary, pack=pack, index=index)


def _boundary(mirror: Path, commit: str, depth: int) -> tuple[str, ...]:
    """The window's commits that must look parentless: a parent outside the window, or no
    parents in the mirror either because the mirror is itself shallow there."""
    out = run_git(
        [
            "--git-dir",
            str(mirror),
            "rev-list",
            "--parents",
            f"--max-count={depth}",
            commit,
            "--",
        ]
    )
    rows = [line.split() for line in out.decode().splitlines()]
    window = {row[0] for row in rows}
    mirror_shallow = shallow_commits(mirror)
    return tuple(
        row[0]
        for row in rows
        if row[0] in mirror_shallow or any(parent not in window for parent in row[1:])
    )
