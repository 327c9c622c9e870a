"""Running the coding agent in the sandbox: stream its output, heartbeat, report progress.

The agent CLI is whatever AgentRunner the worker was built with; this module knows only the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.agent_spend import RunSpend
from orchestration.activities.errors import permanent
from orchestration.activities.output_lines import stdout_lines
from orchestration.activities.progress import signal_progress
from orchestration.activities.sandbox_activities import (
    EgressPolicy,
    egress_environment,
    sandbox_model_url,
)
from orchestration.activities.transcripts import MAX_TRANSCRIPT_BYTES, TranscriptStore
from orchestration.agents.port import (
    AgentCommand,
    AgentInvocation,
    AgentRunError,
    AgentRunner,
    AgentStreamParser,
    SandboxQuery,
)
from orchestration.agents.prompt import agent_prompt
from orchestration.environment.env_dirs import tool_environment
from orchestration.models import AgentMode, AgentRequest, AgentResult
from orchestration.proxies.egress.proxy import EgressProxy
from orchestration.proxies.model.proxy import ModelProxy
from sandbox.interface import WORKSPACE_PATH, ExecResult, ExecStream, Sandbox

SIGNAL_INTERVAL_SECONDS = 2.0
IDLE_HEARTBEAT_SECONDS = 1.0  # a silent command (a long test run) still heartbeats every second
STOPPED_BEFORE_RUN = (
    "the sandbox is no longer running (the Docker engine restarted, or the container was "
    "stopped); the task cannot continue in it"
)
SANDBOX_SETTLE_SECONDS = 3.0
STOPPED_DURING_RUN = (
    "the sandbox stopped during the agent run (killed, or out of memory at the container's limit)"
)
# under gVisor the whole sandbox dies at its memory limit, not only the process that grew
KILLED_OUT_OF_MEMORY = (
    "the sandbox was killed (out of memory at its limit): raise FIXBOT_SANDBOX__MEMORY_MB"
)


class AgentActivities:
    """Holds the sandbox backend, the agent runner and the model endpoint the agent talks to."""

    def __init__(
        self,
        backend: Sandbox,
        proxy: ModelProxy,
        runner: AgentRunner,
        *,
        default_model: str | None,
        egress_policy: EgressPolicy,
        redact: Callable[[str], str] = lambda text: text,
        egress: EgressProxy | None = None,
        transcripts: TranscriptStore | None = None,
    ) -> None:
        self._transcripts = transcripts
        self._runner = runner
        self._egress = egress
        self._redact = redact
        self._egress_policy = egress_policy
        self._backend = backend
        self._proxy = proxy
        self._default_model = default_model

    @activity.defn(name=contracts.RUN_AGENT.name)
    async def run(self, request: AgentRequest) -> AgentResult:
        """One headless run (or resumed run) of the agent, until its structured outcome."""
        await self._require_running_sandbox(request, STOPPED_BEFORE_RUN)
        if activity.info().attempt > 1:
            request = await self._take_over(request)
        # the task's own token for the proxy: the real API key stays in this process (opened
        # here too, not only at provisioning: this may be a new worker process)
        spend, route = await RunSpend.open(self._proxy, request.task.task_id, request.budget_usd)
        hosts = self._egress_policy.hosts_for(request.task.allow_egress)
        if hosts and self._egress is not None:
            await self._egress.open_route(request.task.task_id, allowed_hosts=hosts)
        command = self._command(request, route.token)
        stream = await asyncio.to_thread(
            self._backend.exec_stream,
            request.sandbox.sandbox_id,
            command.argv,
            env=command.env,
            workdir=WORKSPACE_PATH,
            timeout_seconds=request.task.agent_timeout_seconds,
        )
        parser = self._runner.new_stream_parser()
        try:
            await self._follow(stream, parser, spend)
        except asyncio.CancelledError:
            await self._stop_agent(request.sandbox.sandbox_id)
            raise
        result = self._redacted(await self._finish(request, parser, stream.result()))
        # the proxy's meter, never the agent's own report of its cost
        result = result.model_copy(update={"cost_usd": spend.usd()})
        return await self._keep_transcript(request, result)

    async def _finish(
        self, request: AgentRequest, parser: AgentStreamParser, outcome: ExecResult
    ) -> AgentResult:
        """The runner's result; a run without one in a sandbox that stopped says so. Both
        failures are raised outside the `except`, so the unredacted AgentRunError never rides
        along as their cause into history."""
        try:
            result = parser.finish(outcome.exit_code, outcome.timed_out)
        except AgentRunError as exc:
            reason = self._redact(str(exc))
        else:
            if outcome.exit_code == 0:
                return result
            # whatever it printed, a run that did not end cleanly has not delivered
            reason = f"the agent exited with code {outcome.exit_code} after printing a result"
        if not outcome.timed_out:
            # a command killed by a signal may have died with its sandbox, which the engine
            # reports stopped a moment later (gVisor's kernel ends its execs first)
            settle = SANDBOX_SETTLE_SECONDS if outcome.exit_code >= 128 else 0.0
            await self._require_running_sandbox(request, STOPPED_DURING_RUN, settle)
        raise permanent(reason, "AgentFailed")

    async def _keep_transcript(self, request: AgentRequest, result: AgentResult) -> AgentResult:
        """Copy the session's transcript out of the sandbox; a failure is logged, since the
        run itself succeeded."""
        argv = self._runner.transcript_argv(result.session_id, MAX_TRANSCRIPT_BYTES)
        if self._transcripts is None or argv is None:
            return result
        try:
            found = await asyncio.to_thread(
                self._backend.exec,
                request.sandbox.sandbox_id,
                argv,
                timeout_seconds=60,
                output_limit=MAX_TRANSCRIPT_BYTES,
            )
            if found.exit_code != 0 or not found.stdout:
                raise ValueError(f"no transcript (exit {found.exit_code})")
            path = await asyncio.to_thread(
                self._transcripts.save, request.task.task_id, result.session_id, found.stdout
            )
        except Exception as exc:  # the transcript is for inspection; the fix does not need it
            activity.logger.warning("transcript of %s not kept: %s", result.session_id, exc)
            return result
        return result.model_copy(update={"transcript": str(path)})

    def _redacted(self, result: AgentResult) -> AgentResult:
        """What the agent wrote goes into history, Slack and PRs: no token it came across."""
        return result.model_copy(
            update={
                "summary": self._redact(result.summary),
                "question": self._redact(result.question) if result.question else None,
            }
        )

    async def _take_over(self, request: AgentRequest) -> AgentRequest:
        """A retry after a lost attempt: stop the agent it left running in the sandbox, and
        continue its session when it got far enough to have one."""
        sandbox_id = request.sandbox.sandbox_id
        await self._stop_agent(sandbox_id)
        query = self._runner.session_query(request.session_id)
        if query is None or request.mode is not AgentMode.START:
            # an answer or feedback run resumes anyway: deliver its message again, not
            # "continue"; a runner that cannot find its sessions starts over
            return request
        if await self._ask(sandbox_id, query):
            activity.logger.info("resuming session %s after a lost attempt", request.session_id)
            return request.model_copy(update={"mode": AgentMode.CONTINUE, "message": ""})
        return request

    async def _ask(self, sandbox_id: str, query: SandboxQuery) -> bool:
        found = await asyncio.to_thread(
            self._backend.exec, sandbox_id, query.argv, timeout_seconds=query.timeout_seconds
        )
        return query.answered_yes(found.exit_code, found.stdout.decode(errors="replace"))

    async def _require_running_sandbox(
        self, request: AgentRequest, reason: str, settle_seconds: float = 0.0
    ) -> None:
        """A sandbox that stopped (a Docker restart, a kill, the OOM killer) cannot carry on
        the run: say so plainly instead of reporting whatever the broken exec left behind.
        With settle_seconds, a sandbox still running is looked at again until then."""
        deadline = time.monotonic() + settle_seconds
        info = await asyncio.to_thread(self._backend.find, request.task.task_id)
        while info is not None and info.running and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            info = await asyncio.to_thread(self._backend.find, request.task.task_id)
        if info is None or not info.running:
            if info is not None and info.out_of_memory:
                raise permanent(KILLED_OUT_OF_MEMORY, "SandboxOutOfMemory")
            raise permanent(reason, "SandboxStopped")

    def _command(self, request: AgentRequest, token: str) -> AgentCommand:
        """The runner's command for this request, plus the egress proxy's variables when the
        task may reach the network through it."""
        command = self._runner.run_command(
            AgentInvocation(
                prompt=agent_prompt(request.task, request.mode, request.message),
                session_id=request.session_id,
                mode=request.mode,
                budget_usd=request.budget_usd,
                model_url=sandbox_model_url(),
                model_token=token,
                model=request.task.model or self._default_model,
            )
        )
        tools = tool_environment(request.environment_of) if request.environment_of else {}
        if not self._egress_policy.hosts_for(request.task.allow_egress):
            return AgentCommand(command.argv, {**tools, **command.env})
        return AgentCommand(command.argv, {**tools, **command.env, **egress_environment()})

    async def _follow(self, stream: ExecStream, parser: AgentStreamParser, spend: RunSpend) -> None:
        reporter = _ProgressReporter(spend)
        try:
            await self._relay(stream, parser, reporter, spend)
        finally:
            await reporter.close()

    async def _relay(
        self,
        stream: ExecStream,
        parser: AgentStreamParser,
        reporter: _ProgressReporter,
        spend: RunSpend,
    ) -> None:
        def beat() -> None:
            spend.heartbeat(self._redact(parser.progress or ""))

        async for line in stdout_lines(stream, idle_seconds=IDLE_HEARTBEAT_SECONDS, on_idle=beat):
            progress = parser.feed(line)
            if progress:
                progress = self._redact(progress)
                spend.heartbeat(progress)
                await reporter.report(progress)
            else:
                beat()
        if parser.progress:
            await reporter.report(self._redact(parser.progress), force=True)

    async def _stop_agent(self, sandbox_id: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(
                self._backend.exec,
                sandbox_id,
                self._runner.stop_argv(),
                timeout_seconds=10,
            )


class _ProgressReporter:
    """Signals the workflow with the latest progress, at most every few seconds; a line held
    back by the throttle is sent when the interval is over, even if no newer line comes (a
    long command must not leave the status showing the action before it)."""

    def __init__(self, spend: RunSpend) -> None:
        self._spend = spend
        self._last = 0.0
        self._pending: str | None = None
        self._trailing: asyncio.Task[None] | None = None

    async def report(self, text: str, *, force: bool = False) -> None:
        wait = SIGNAL_INTERVAL_SECONDS - (time.monotonic() - self._last)
        if force or wait <= 0:
            self._pending = None
            await self._send(text)
            return
        self._pending = text
        if self._trailing is None or self._trailing.done():
            self._trailing = asyncio.create_task(self._send_later(wait))

    async def close(self) -> None:
        if self._trailing is not None:
            self._trailing.cancel()
            await asyncio.gather(self._trailing, return_exceptions=True)

    async def _send_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        if self._pending is not None:
            text, self._pending = self._pending, None
            await self._send(text)

    async def _send(self, text: str) -> None:
        self._last = time.monotonic()
        await signal_progress(text, self._spend.usd())
