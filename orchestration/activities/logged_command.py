"""One command line of a repository's own (setup or verify) run in a sandbox, its output
kept in a log there and only the log's end read back."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.interface import Sandbox

TIMEOUT_EXIT_CODES = frozenset({124, 137})
GUARD_SECONDS = 30  # the exec's own deadline, beyond the command's `timeout`
LOG_PATH = "/tmp/fixbot-command.log"  # noqa: S108 - the sandbox's own tmpfs
# A constant script; the repository's command line arrives as $1 and runs under its own sh.
SCRIPT = 'timeout -k 5 "$2" sh -c "$1" >"$3" 2>&1; status=$?; tail -c "$4" "$3"; exit $status'
# escape sequences and other control characters (not newline or tab) are dropped from output
_CONTROLS = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class CommandOutcome:
    exit_code: int  # -1: the exec's own deadline passed
    output: str  # the end of the output, control characters removed
    timed_out: bool


async def run_logged(
    backend: Sandbox,
    sandbox_id: str,
    command: str,
    *,
    workdir: str,
    env: Mapping[str, str],
    seconds: int,
    tail_bytes: int,
) -> CommandOutcome:
    """Run `command` (a line of the repository's spec) under sh with a deadline."""
    started = time.monotonic()
    done = await asyncio.to_thread(
        backend.exec,
        sandbox_id,
        ["sh", "-c", SCRIPT, "fixbot", command, str(seconds), LOG_PATH, str(tail_bytes)],
        workdir=workdir,
        env=dict(env),
        timeout_seconds=seconds + GUARD_SECONDS,
        output_limit=tail_bytes,
    )
    exit_code = -1 if done.timed_out else done.exit_code
    deadline_passed = time.monotonic() - started >= seconds
    timed_out = done.timed_out or (deadline_passed and exit_code in TIMEOUT_EXIT_CODES)
    output = _CONTROLS.sub("", done.stdout.decode(errors="replace"))
    return CommandOutcome(exit_code=exit_code, output=output, timed_out=timed_out)


def last_lines(text: str, count: int) -> str:
    """The last `count` lines, each at most 300 characters."""
    lines = text.rstrip("\n").split("\n")[-count:]
    return "\n".join(line[:300] for line in lines)
