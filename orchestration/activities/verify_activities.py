"""fixbot's own verification: the repository's verify commands in a fresh sandbox.

The agent's sandbox is the agent's: anything it left there (a patched test runner under
~/.local, a process still running) could decide a verification run inside it. So each run
gets a sandbox of its own, hardened like the agent's but with no model route and no network,
filled from the mirror at the task's commits, with the collected patch applied. The result
is read from the runner's own summary lines, never from the agent.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.heartbeat import heartbeating
from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.environment.runner_counts import runner_counts
from orchestration.models.environment import (
    VerifyReport,
    VerifyRequest,
    VerifyRun,
    VerifyStatus,
    VerifyTarget,
)
from sandbox.interface import WORKSPACE_PATH, Sandbox, SandboxSpec

OUTPUT_TAIL_BYTES = 64 * 1024  # the runner's summary is at the end; the rest stays in the log
TIMEOUT_EXIT_CODES = frozenset({124, 137})
GUARD_SECONDS = 30  # the exec's own deadline, beyond the command's `timeout`
LOG_PATH = "/tmp/fixbot-verify.log"  # noqa: S108 - the verify sandbox's own tmpfs
# A constant script; the repository's command line arrives as $1 and runs under its own sh.
# Its whole output goes to a log in the sandbox, and only the log's tail comes back.
VERIFY_SCRIPT = (
    'timeout -k 5 "$2" sh -c "$1" >"$3" 2>&1; status=$?; tail -c "$4" "$3"; exit $status'
)

SpecFor = Callable[[str, str], SandboxSpec]
# escape sequences and other control characters (not newline or tab) are dropped from the tail
_CONTROLS = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sandbox_task_id(task_id: str, phase: str) -> str:
    """The verify sandbox's own id: one per task and phase, never the agent's."""
    return f"{task_id}.{phase.replace('_', '-')}"


class VerifyActivities:
    """Holds the backend, how to fill a workspace, and how a verify sandbox is specified."""

    def __init__(
        self,
        backend: Sandbox,
        workspace: WorkspaceActivities,
        spec_for: SpecFor,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._backend = backend
        self._workspace = workspace
        self._spec_for = spec_for
        self._redact = redact

    @activity.defn(name=contracts.VERIFY_CHANGE.name)
    async def verify(self, request: VerifyRequest) -> VerifyReport:
        """Run each target's verify commands on its commit (with its patch) and report."""
        doing = ["starting"]
        async with heartbeating(lambda: doing[-1]):
            spec = self._spec_for(
                sandbox_task_id(request.task.task_id, request.phase.value), request.workflow_id
            )
            # a retried attempt starts over in a new sandbox: a half-applied patch or a
            # half-run suite must not carry into the result
            await asyncio.to_thread(self._remove, spec.task_id)
            info = await asyncio.to_thread(self._backend.create, spec)
            try:
                return await self._run_all(info.sandbox_id, request, doing.append)
            finally:
                await asyncio.to_thread(self._backend.destroy, info.sandbox_id)

    async def _run_all(
        self, sandbox_id: str, request: VerifyRequest, say: Callable[[str], None]
    ) -> VerifyReport:
        await self._workspace.fill(
            sandbox_id, request.task, say, threading.Event(), pinned=request.commits
        )
        report = VerifyReport()
        for target in request.targets:
            if target.patch:
                say(f"applying the fix to {target.repository}")
                await self._apply(sandbox_id, target)
            report.runs.append(await self._run(sandbox_id, target, say))
        return report

    async def _apply(self, sandbox_id: str, target: VerifyTarget) -> None:
        applied = await asyncio.to_thread(
            self._backend.exec,
            sandbox_id,
            ["git", "apply", "--whitespace=nowarn", "-"],
            workdir=f"{WORKSPACE_PATH}/{target.repository}",
            stdin=target.patch.encode(),
            timeout_seconds=120,
        )
        if applied.exit_code != 0:
            stderr = applied.stderr.decode(errors="replace")[-500:]
            raise RuntimeError(f"the fix does not apply to {target.repository}: {stderr}")

    async def _run(
        self, sandbox_id: str, target: VerifyTarget, say: Callable[[str], None]
    ) -> VerifyRun:
        """The commands in order, stopping at the first that fails, within one deadline."""
        started = time.monotonic()
        deadline = started + target.verify.timeout_seconds
        tail, exit_code, command = "", 0, ""
        for command in target.verify.run:
            left = max(int(deadline - time.monotonic()), 1)
            say(f"verifying {target.repository}: {command[:200]}")
            done = await asyncio.to_thread(
                self._backend.exec,
                sandbox_id,
                ["sh", "-c", VERIFY_SCRIPT, "verify", command, str(left), LOG_PATH,
                 str(OUTPUT_TAIL_BYTES)],
                workdir=f"{WORKSPACE_PATH}/{target.repository}",
                timeout_seconds=left + GUARD_SECONDS,
                output_limit=OUTPUT_TAIL_BYTES,
            )  # fmt: skip
            tail = self._redact(done.stdout.decode(errors="replace"))
            exit_code = -1 if done.timed_out else done.exit_code
            if exit_code != 0:
                break
        return VerifyRun(
            repository=target.repository,
            status=_status(exit_code, time.monotonic() >= deadline),
            command=command,
            exit_code=exit_code,
            counts=runner_counts(tail),
            output_tail=_without_controls(_last_lines(tail, 40)),
            seconds=round(time.monotonic() - started, 3),
        )

    def _remove(self, task_id: str) -> None:
        found = self._backend.find(task_id)
        if found is not None:
            self._backend.destroy(found.sandbox_id)


def _status(exit_code: int, deadline_passed: bool) -> VerifyStatus:
    if exit_code == 0:
        return VerifyStatus.PASSED
    if exit_code == -1 or (deadline_passed and exit_code in TIMEOUT_EXIT_CODES):
        return VerifyStatus.TIMED_OUT
    return VerifyStatus.FAILED


def _last_lines(text: str, count: int) -> str:
    """The last `count` lines, each at most 300 characters."""
    lines = text.rstrip("\n").split("\n")[-count:]
    return "\n".join(line[:300] for line in lines)


def _without_controls(text: str) -> str:
    return _CONTROLS.sub("", text)
