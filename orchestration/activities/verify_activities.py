"""fixbot's own verification: the repository's verify commands in a fresh sandbox.

The agent's sandbox is the agent's: anything it left there (a patched test runner under
~/.local, a process still running) could decide a verification run inside it. So each run
gets a sandbox of its own, hardened like the agent's but with no model route and no network,
filled from the mirror at the task's commits, with the collected patch applied. The result
is read from the runner's own summary lines, never from the agent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.heartbeat import heartbeating
from orchestration.activities.helper_sandboxes import fresh_sandbox
from orchestration.activities.logged_command import last_lines, run_logged
from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.environment.env_dirs import tool_environment
from orchestration.environment.runner_counts import runner_counts
from orchestration.environment.snapshot_store import SnapshotStore
from orchestration.models.environment import (
    VerifyReport,
    VerifyRequest,
    VerifyRun,
    VerifyStatus,
    VerifyTarget,
)
from sandbox.interface import WORKSPACE_PATH, Sandbox, SandboxSpec

OUTPUT_TAIL_BYTES = 64 * 1024  # the runner's summary is at the end; the rest stays in the log
SpecFor = Callable[[str, str], SandboxSpec]


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
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self._snapshots = snapshots
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
            async with fresh_sandbox(self._backend, spec) as info:
                return await self._run_all(info.sandbox_id, request, doing.append)

    async def _run_all(
        self, sandbox_id: str, request: VerifyRequest, say: Callable[[str], None]
    ) -> VerifyReport:
        await self._workspace.fill(
            sandbox_id, request.task, say, threading.Event(), pinned=request.commits
        )
        report = VerifyReport()
        for target in request.targets:
            if target.snapshot and self._snapshots is not None:
                say(f"restoring the environment of {target.repository}")
                chunks = self._snapshots.chunks(target.snapshot)
                await asyncio.to_thread(
                    self._backend.put_archive, sandbox_id, WORKSPACE_PATH, chunks
                )
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
        outcome, command = None, ""
        for command in target.verify.run:
            say(f"verifying {target.repository}: {command[:200]}")
            outcome = await run_logged(
                self._backend,
                sandbox_id,
                command,
                workdir=f"{WORKSPACE_PATH}/{target.repository}",
                env=tool_environment(target.repository) if target.snapshot else {},
                seconds=max(int(deadline - time.monotonic()), 1),
                tail_bytes=OUTPUT_TAIL_BYTES,
            )
            if outcome.exit_code != 0:
                break
        exit_code = outcome.exit_code if outcome else 0
        tail = self._redact(outcome.output if outcome else "")
        return VerifyRun(
            repository=target.repository,
            status=_status(exit_code, outcome.timed_out if outcome else False),
            command=command,
            exit_code=exit_code,
            counts=runner_counts(tail),
            output_tail=last_lines(tail, 40),
            seconds=round(time.monotonic() - started, 3),
        )


def _status(exit_code: int, timed_out: bool) -> VerifyStatus:
    if exit_code == 0:
        return VerifyStatus.PASSED
    return VerifyStatus.TIMED_OUT if timed_out else VerifyStatus.FAILED
