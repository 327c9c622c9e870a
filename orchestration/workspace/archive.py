"""The tar stream that becomes /workspace in the sandbox, produced as it is sent.

Per repository it holds a ready `.git`: a few small files written here (HEAD, config, the
branch, the shallow boundary, info/exclude) and the history pack with its index, read from
disk in chunks. The sandbox then checks the tree out of that pack itself (`checkout_argv`),
so the worker neither parses the repository nor holds it in memory: its memory stays the
same for a repository of any size. Every entry is owned by the sandbox's agent user, because
nobody in the sandbox can chown.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestration.workspace.history import History
from sandbox.interface import AGENT_UID

CHUNK_BYTES = 1024 * 1024
# Artefacts of building and testing that must never end up in a fix, even in a repository
# whose .gitignore forgets them; written to .git/info/exclude, which git reads like .gitignore.
BUILD_ARTEFACTS = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".tox/",
    ".venv/",
    "node_modules/",
    ".coverage",
    "*.egg-info/",
    ".DS_Store",
)
_CONFIG = (
    "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
    "\tlogallrefupdates = true\n"
)
_GIT_DIRECTORIES = ("", "info", "objects", "objects/info", "objects/pack", "refs", "refs/heads")
_BLOCK = 512


@dataclass(frozen=True)
class RepositoryEntry:
    """One repository of the workspace: its directory name and the history to put there."""

    name: str
    history: History


def workspace_tar(
    repositories: Iterable[RepositoryEntry], files: Mapping[str, str]
) -> Iterator[bytes]:
    """The workspace as tar pieces: each repository's `.git`, then files at the top."""
    for repository in repositories:
        yield from _repository(repository)
    for path, text in files.items():
        yield from _file(path, text.encode())
    yield b"\0" * (2 * _BLOCK)


# A prepare attempt that Temporal has given up on can still be running its last command
# after its retry finished and the agent began to edit; a reset then would silently undo
# the agent's work (a lost fix). git writes the index last, by renaming it into place, so an
# index means a checkout already completed and this one must leave the tree alone. Test and
# checkout run in one process, so nothing can slip in between. The script is constant; the
# path is its argument, never part of the script.
_CHECKOUT_ONCE = 'test -e "$1/.git/index" || exec git -C "$1" read-tree --reset -u HEAD'


def checkout_argv(repo_path: str) -> list[str]:
    """Check the branch's tree out of the history pack (files and a fresh index), unless a
    checkout of it already completed."""
    return ["sh", "-c", _CHECKOUT_ONCE, "checkout-once", repo_path]


def _repository(repository: RepositoryEntry) -> Iterator[bytes]:
    history = repository.history
    git = f"{repository.name}/.git"
    yield _header(repository.name, tarfile.DIRTYPE, 0o755)
    for directory in _GIT_DIRECTORIES:
        yield _header(f"{git}/{directory}".rstrip("/"), tarfile.DIRTYPE, 0o755)
    small = {
        "HEAD": f"ref: refs/heads/{history.branch}\n",
        "config": _CONFIG,
        "packed-refs": f"{history.commit} refs/heads/{history.branch}\n",
        "info/exclude": "\n".join(BUILD_ARTEFACTS) + "\n",
    }
    if history.shallow:
        small["shallow"] = "".join(f"{oid}\n" for oid in history.shallow)
    for path, text in small.items():
        yield from _file(f"{git}/{path}", text.encode())
    for source in (history.pack, history.index):
        yield from _disk_file(f"{git}/objects/pack/{_pack_name(source)}", source)


def _pack_name(source: Path) -> str:
    """`pack-<hash>.<ext>`, the name git looks for, from pack-objects' `history-<hash>`."""
    return "pack-" + source.name.removeprefix("history-")


def _file(path: str, data: bytes) -> Iterator[bytes]:
    yield _header(path, tarfile.REGTYPE, 0o644, len(data))
    yield data + _padding(len(data))


def _disk_file(path: str, source: Path) -> Iterator[bytes]:
    """A file's entry read in chunks; the file is our own pack, written before this runs."""
    size = source.stat().st_size
    yield _header(path, tarfile.REGTYPE, 0o444, size)
    sent = 0
    with source.open("rb") as data:
        while sent < size:
            chunk = data.read(min(CHUNK_BYTES, size - sent))
            if not chunk:
                raise OSError(f"{source} shrank while being sent")
            sent += len(chunk)
            yield chunk
    yield _padding(size)


def _header(path: str, kind: bytes, mode: int, size: int = 0) -> bytes:
    info = tarfile.TarInfo(path)
    info.type, info.mode, info.size = kind, mode, size
    info.uid = info.gid = AGENT_UID
    info.uname = info.gname = "agent"
    info.mtime = int(time.time())
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)
