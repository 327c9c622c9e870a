"""Running git on the worker: argv lists only, no prompts, errors that say which command failed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}


class GitError(RuntimeError):
    """A git command failed; the message names the command (without secrets) and its stderr."""


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    scrub: Sequence[str] = (),
    stdin: bytes | None = None,
) -> bytes:
    """Run `git <args>` and return stdout; raise GitError with stderr on failure."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            timeout=timeout,
            check=False,
            input=stdin,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        for secret in scrub:
            stderr = stderr.replace(secret, "[redacted]")
        raise GitError(f"git {args[0]} failed ({done.returncode}): {stderr[-2000:]}")
    return done.stdout
