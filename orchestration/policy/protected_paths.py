"""Which entries of the tree a change would push touch protected paths, and why.

The check runs on what the push would write (each changed entry's mode, and a symlink's
target), not on the agent's claim of what it changed: a symlink is a way to write under
`.github/workflows` without naming it, a submodule entry pulls in code nobody reviewed, and
`.GitHub/Workflows` is the same directory on the case-insensitive checkouts of many users.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"


@dataclass(frozen=True)
class TreeEntry:
    """One changed entry of the resulting tree: its path, new mode (empty when deleted), and
    for a symlink the target it points at."""

    path: str
    mode: str
    link_target: str | None = None


def _under(path: str, prefixes: list[str]) -> bool:
    """Whether path falls under a protected prefix, ignoring case."""
    folded = path.casefold()
    return any(folded.startswith(prefix.casefold()) for prefix in prefixes)


def _resolved(entry: TreeEntry) -> str | None:
    """The repository path a symlink points at; None when it leaves the repository."""
    target = entry.link_target or ""
    if target.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), target))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def violations(entries: list[TreeEntry], prefixes: list[str]) -> list[str]:
    """Each refused entry as `path (why)`; a plain path when it lies under a protected path
    as written."""
    found: list[str] = []
    for entry in entries:
        reason = _reason(entry, prefixes)
        if reason is not None:
            found.append(entry.path if reason == "" else f"{entry.path} ({reason})")
    return found


def _reason(entry: TreeEntry, prefixes: list[str]) -> str | None:
    """Why an entry is refused ("" when its path is protected as written), or None."""
    if any(entry.path.startswith(prefix) for prefix in prefixes):
        return ""
    if _under(entry.path, prefixes):
        return "a case variant of a protected path"
    if entry.mode == SUBMODULE_MODE:
        return "a submodule entry"
    if entry.mode != SYMLINK_MODE:
        return None
    target = _resolved(entry)
    if target is None:
        return f"a symlink to {entry.link_target!r}, outside the repository"
    if _under(target + "/", prefixes) or _contains_protected(target, prefixes):
        return f"a symlink into a protected path ({target})"
    return None


def _contains_protected(directory: str, prefixes: list[str]) -> bool:
    """Whether a protected path lies inside directory ("." is the repository's root)."""
    if directory == ".":
        return bool(prefixes)
    inside = directory.casefold().rstrip("/") + "/"
    return any(prefix.casefold().startswith(inside) for prefix in prefixes)
