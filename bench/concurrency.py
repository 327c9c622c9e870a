"""Many long agent runs at once on one worker, next to the same agents run as bare containers.

fixbot side: N tasks start together on one worker (real Temporal dev server, Docker sandboxes,
the real `claude`, git; scripted model); each agent first runs a command that takes S seconds,
then fixes the demo's bug. Printed: wall time to the last result, activity retries and
heartbeat timeouts found in the histories, each task's start to first model request, and the
worker's peak RSS.

Baseline, same run: N bare `docker run`s of the same image running `claude` with the same
script on its own copy of the same repository, against the same scripted model.

    uv run python bench/concurrency.py [--tasks 20] [--seconds 75] [--max-sandboxes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bot.cli.demo_repo import create_demo_repository, scripted_fix
from orchestration.agents.claude.command import OUTCOME_SCHEMA
from orchestration.client.gateway import workflow_id
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskInput, TaskResult, TaskStatus
from orchestration.runtime.backend import docker_backend, running_backend
from orchestration.runtime.settings import (
    ApprovalSettings,
    GitSettings,
    SandboxSettings,
    Settings,
    WorkerSettings,
)
from orchestration.testing.scripted_model import (
    ModelScript,
    ScriptedModelServer,
    ScriptStep,
    assistant_turns,
)
from sandbox.interface import AGENT_UID
from tests.support.images import TEST_IMAGE, ensure_test_image

SCRATCH = "/tmp"  # noqa: S108 -- inside the bare container, its own /tmp


def busy_command(seconds: int) -> str:
    """A command that keeps the agent busy (Claude Code refuses a standalone long `sleep`)."""
    return f"python3 -c 'import time; time.sleep({seconds})'"


def busy_step(seconds: int) -> ScriptStep:
    return ScriptStep(tool="Bash", input={"command": busy_command(seconds), "description": "Wait"})


def agent_script(seconds: int) -> ModelScript:
    """What every agent does, bare or in fixbot: stay busy, then fix the demo's bug."""
    return ModelScript(steps=[busy_step(seconds), *scripted_fix().steps])


async def bare_agents(
    image: str, workdir: Path, count: int, seconds: int
) -> tuple[float, list[float]]:
    """Wall time of `count` bare containers, each running claude through the same script on
    its own copy of the demo repository (mounted where fixbot puts it)."""
    source = create_demo_repository(workdir / "source")
    copies = []
    for number in range(count):
        copy = workdir / f"bare-{number}" / source.name
        shutil.copytree(source, copy)
        for path in [copy, *copy.rglob("*")]:
            os.chown(path, AGENT_UID, AGENT_UID)
        copies.append(copy)
    schema = json.dumps(OUTCOME_SCHEMA)
    with ScriptedModelServer(agent_script(seconds)) as model:
        started, started_at = time.perf_counter(), time.time()
        processes = [
            await asyncio.create_subprocess_exec(
                *bare_argv(image, model.url, copy, schema),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for copy in copies
        ]
        await asyncio.gather(*(p.wait() for p in processes))
        return time.perf_counter() - started, first_requests(model, started_at)


def bare_argv(image: str, model_url: str, repo: Path, schema: str) -> list[str]:
    return [
        "docker", "run", "--rm", "--network", "host",
        "-v", f"{repo}:/workspace/{repo.name}",
        "-e", f"ANTHROPIC_BASE_URL={model_url}", "-e", "ANTHROPIC_API_KEY=bench",
        "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "-e", f"HOME={SCRATCH}",
        "--workdir", "/workspace", image,
        "claude", "-p", "fix the bug", "--dangerously-skip-permissions",
        "--output-format", "json", "--json-schema", schema,
    ]  # fmt: skip


async def retries_and_timeouts(runtime_client: object, task: TaskInput) -> tuple[int, int]:
    handle = runtime_client.get_workflow_handle(workflow_id(task.task_id))  # type: ignore[attr-defined]
    history = await handle.fetch_history()
    retries = timeouts = 0
    for event in history.events:
        if event.HasField("activity_task_started_event_attributes"):
            retries += event.activity_task_started_event_attributes.attempt > 1
        timeouts += event.HasField("activity_task_timed_out_event_attributes")
    return retries, timeouts


async def fixbot_tasks(
    workdir: Path, count: int, seconds: int, max_sandboxes: int
) -> tuple[float, list[TaskResult], list[float], int, int]:
    repo = create_demo_repository(workdir)
    with ScriptedModelServer(agent_script(seconds)) as model:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "state",
            anthropic_base_url=model.url,
            anthropic_api_key=SecretStr("scripted"),
            sandbox=SandboxSettings(image=TEST_IMAGE, memory_mb=1024),
            git=GitSettings(allow_local_repositories=True),
            approval=ApprovalSettings(allow_skip=True),
            worker=WorkerSettings(max_sandboxes=max_sandboxes),
        )
        async with running_backend(settings, docker_backend(), fixed_ports=False) as runtime:
            tasks = [
                make_task(
                    settings,
                    title=f"Discounts raise prices ({n})",
                    requester="bench",
                    require_approval=False,
                    repositories=[RepositorySpec(url=repo.as_uri(), name=repo.name)],
                )
                for n in range(count)
            ]
            started = time.perf_counter()
            started_at = time.time()
            await asyncio.gather(*(runtime.gateway.start(t) for t in tasks))
            results = await asyncio.gather(*(runtime.gateway.result(t.task_id) for t in tasks))
            wall = time.perf_counter() - started
            counts = [await retries_and_timeouts(runtime.client, t) for t in tasks]
        firsts = first_requests(model, started_at)
    return wall, results, firsts, sum(r for r, _ in counts), sum(t for _, t in counts)


def first_requests(model: ScriptedModelServer, since: float) -> list[float]:
    """Seconds from the burst's start to each conversation's first agent request."""
    firsts = [
        e["received_at"] - since
        for e in model.request_log
        if e["kind"] == "agent" and assistant_turns(e["body"]) == 0
    ]
    return sorted(firsts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=75)
    parser.add_argument("--max-sandboxes", type=int, default=20)
    args = parser.parse_args()
    image = ensure_test_image()
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-") as tmp:
        bare, bare_firsts = asyncio.run(bare_agents(image, Path(tmp), args.tasks, args.seconds))
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-") as tmp:
        wall, results, firsts, retries, timeouts = asyncio.run(
            fixbot_tasks(Path(tmp), args.tasks, args.seconds, args.max_sandboxes)
        )
    completed = sum(r.status is TaskStatus.COMPLETED for r in results)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.tasks} tasks, agent runs of {args.seconds} s + the fix, 2-core machine")
    print(f"baseline  {args.tasks} bare `docker run` claude agents: {bare:.1f} s wall")
    print(f"fixbot    {args.tasks} whole tasks:                  {wall:.1f} s wall")
    print(f"ratio     {wall / bare:.2f}x")
    print(f"completed {completed}/{args.tasks}; activity retries {retries}; timeouts {timeouts}")
    for who, values in (("bare", bare_firsts), ("fixbot", firsts)):
        if values:
            print(
                f"first model request after the burst ({who}): min {values[0]:.1f} s, "
                f"median {statistics.median(values):.1f} s, max {values[-1]:.1f} s"
            )
    print(f"worker process peak RSS: {peak_mb:.0f} MB")
    for step in sorted({k for r in results for k in r.step_seconds}):
        values = [r.step_seconds.get(step, 0.0) for r in results]
        print(
            f"  step {step:<14} median {statistics.median(values):6.2f} s, max {max(values):6.2f} s"
        )


if __name__ == "__main__":
    main()
