"""What every sandbox backend accepts as a command: an argv list, an environment, a deadline.

The rules live once so a test double cannot drift from the Docker backend it stands in for."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sandbox.interface import SandboxError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def checked_argv(argv: Sequence[str]) -> list[str]:
    """argv as a list, refusing a bare string, an empty list and NUL bytes."""
    if isinstance(argv, str | bytes) or not argv:
        raise SandboxError("argv must be a non-empty list of strings, never a shell string")
    if not all(isinstance(arg, str) and "\0" not in arg for arg in argv):
        raise SandboxError("every argv item must be a string without NUL bytes")
    return list(argv)


def checked_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """env as a dict, refusing names a shell could not hold and NUL bytes."""
    for name, value in (env or {}).items():
        if not _ENV_NAME.fullmatch(name) or "\0" in value:
            raise SandboxError(f"invalid environment variable {name!r}")
    return dict(env or {})


def checked_timeout(timeout_seconds: float | None) -> None:
    """Refuse a deadline that is already over."""
    if timeout_seconds is not None and timeout_seconds <= 0:
        raise SandboxError(f"timeout_seconds must be positive, got {timeout_seconds}")
