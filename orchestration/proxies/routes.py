"""Per-task unix sockets the worker serves to sandboxes (model proxy, egress proxy).

Each task has one directory under the socket root, bind-mounted into its sandbox; each proxy
puts its own socket there and removes only that socket, and the directory once it is empty.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

SOCKET_DIR_MODE = 0o755
SOCKET_MODE = 0o666  # uid 1000 in the container must be able to connect
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the trailing NUL on Linux
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# headers that belong to one connection, not to the message: neither proxy forwards them
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def check_task_id(task_id: str) -> None:
    """Refuse a task id that is not a safe single path component."""
    if not TASK_ID.fullmatch(task_id) or task_id in {".", ".."}:
        raise ValueError(f"task id {task_id!r} is not usable as a directory name")


def prepare_dir(socket_dir: Path, socket_path: Path) -> None:
    """Create the task's directory (0755) and clear a stale socket left by a crash."""
    socket_dir.mkdir(parents=True, exist_ok=True)
    socket_dir.chmod(SOCKET_DIR_MODE)
    socket_path.unlink(missing_ok=True)


def remove_socket(socket_path: Path) -> None:
    """Remove one socket, and its directory only when nothing else is left in it."""
    socket_path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: another proxy's socket is still there
        socket_path.parent.rmdir()


def socket_path_for(socket_root: Path, task_id: str, name: str) -> Path:
    """`<root>/<task id>/<name>`, refused when too long for a unix socket address."""
    path = socket_root / task_id / name
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise ValueError(f"socket path {path} is too long for a unix socket")
    return path
