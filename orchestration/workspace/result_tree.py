"""The entries a change would write: its patch applied to its base commit, on the worker.

The tree is built exactly as the push builds it (`git apply --cached` onto the base commit's
tree in a scratch repository sharing the mirror's objects), so what is checked is what would
be pushed, whatever the sandbox reported. Nothing is checked out; symlink targets are read
from their blobs, with a cap.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from orchestration.policy.protected_paths import SYMLINK_MODE, TreeEntry
from orchestration.workspace.git import run_git

MAX_LINK_TARGET_BYTES = 4096  # Linux's PATH_MAX; a longer "target" is no working symlink


def changed_entries(mirror: Path, base_commit: str, patch: bytes) -> list[TreeEntry]:
    """Every entry the patch adds, changes or deletes, with its new mode and link target."""
    with tempfile.TemporaryDirectory(prefix="fixbot-tree-", dir=mirror.parent) as scratch:
        repo = Path(scratch) / "repo.git"
        run_git(
            ["clone", "--bare", "--shared", "--no-tags", "--quiet", "--", str(mirror), str(repo)]
        )
        run_git(["read-tree", base_commit], cwd=repo)
        run_git(["apply", "--cached", "--whitespace=nowarn", "-"], cwd=repo, stdin=patch)
        tree = run_git(["write-tree"], cwd=repo).decode().strip()
        raw = run_git(
            ["diff-tree", "-r", "-z", "--no-renames", f"{base_commit}^{{tree}}", tree], cwd=repo
        )
        return [_with_target(repo, entry) for entry in _parse_raw(raw)]


def _parse_raw(raw: bytes) -> list[tuple[str, str, str]]:
    """(path, new mode, new blob) from `diff-tree -r -z` output; linear in its length."""
    fields = raw.split(b"\0")
    entries = []
    for index in range(0, len(fields) - 1, 2):
        meta, path = fields[index], fields[index + 1]
        parts = meta.lstrip(b":").split(b" ")
        if len(parts) < 5:
            continue
        new_mode, new_blob = parts[1].decode(), parts[3].decode()
        mode = "" if new_mode == "000000" else new_mode
        entries.append((path.decode(errors="surrogateescape"), mode, new_blob))
    return entries


def _with_target(repo: Path, entry: tuple[str, str, str]) -> TreeEntry:
    path, mode, blob = entry
    if mode != SYMLINK_MODE:
        return TreeEntry(path=path, mode=mode)
    size = int(run_git(["cat-file", "-s", blob], cwd=repo))
    if size > MAX_LINK_TARGET_BYTES:
        return TreeEntry(path=path, mode=mode, link_target="/(a target too long to be real)")
    target = run_git(["cat-file", "blob", blob], cwd=repo).decode(errors="surrogateescape")
    return TreeEntry(path=path, mode=mode, link_target=target)
