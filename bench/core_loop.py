"""Orchestration overhead of one task, next to a bare `docker run --rm <image> true`.

Runs the demo's task (real Temporal dev server, Docker sandbox, `claude`, git; scripted model)
N times on a warm image and a warm mirror cache, and prints each step's median beside the
median of a bare container run measured in the same process.

    uv run python bench/core_loop.py [--runs 5]
    uv run python bench/core_loop.py --repo /path/to/ansible.git --branch devel

With --repo, each task runs on that local bare repository (see bench/workspace.py for how
to get flask and ansible) and its agent answers "no fix" at once: the figures are then what
a big repository costs up to the first model request and around it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bot.cli.demo_repo import create_demo_repository, scripted_fix
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskResult, TaskStatus
from orchestration.runtime.backend import docker_backend, running_backend
from orchestration.runtime.settings import ApprovalSettings, GitSettings, SandboxSettings, Settings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from sandbox.interface import AGENT_UID
from tests.support.images import TEST_IMAGE, ensure_test_image


def bare_docker_run(image: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"], check=True)
        times.append(time.perf_counter() - started)
    return times


def first_request_after(model: ScriptedModelServer, since: float) -> float:
    """Seconds from `since` to the model's first agent request after it."""
    times = [e["received_at"] for e in model.request_log if e["kind"] == "agent"]
    return min(t for t in times if t >= since) - since


def bare_agent_first_request(image: str, runs: int, repo: Path | None) -> list[float]:
    """`docker run` of claude in the image to its first model request, as fixbot's own floor:
    in an empty directory, or on a copy of a repository mounted as its working directory."""
    empty_dir = ["--workdir", "/tmp"]  # noqa: S108
    mount = ["-v", f"{repo}:/work/repo", "--workdir", "/work/repo"] if repo else empty_dir
    measured = []
    with ScriptedModelServer(scripted_fix()) as model:
        for _ in range(runs):
            started = time.time()
            subprocess.run(
                [
                    "docker", "run", "--rm", "--network", "host",
                    "-e", f"ANTHROPIC_BASE_URL={model.url}", "-e", "ANTHROPIC_API_KEY=bench",
                    "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "-e", "HOME=/tmp",
                    *mount, image,
                    "claude", "-p", "fix it", "--dangerously-skip-permissions", "--max-turns", "1",
                ],
                check=False,
                capture_output=True,
            )  # fmt: skip
            measured.append(first_request_after(model, started))
    return measured


def toy_checkout(workdir: Path) -> Path:
    """A working copy of the demo repository, owned by the sandbox's agent user."""
    clone = workdir / "toy-checkout"
    subprocess.run(
        ["git", "clone", "-q", create_demo_repository(workdir / "toy").as_uri(), str(clone)],
        check=True,
    )
    subprocess.run(["chown", "-R", f"{AGENT_UID}:{AGENT_UID}", str(clone)], check=True)
    return clone


NO_FIX = ModelScript(
    steps=[ScriptStep(tool="StructuredOutput", input={"outcome": "no_fix", "summary": "bench"})]
)


async def run_tasks(
    workdir: Path, runs: int, bare_repo: Path | None, branch: str, runtime: str
) -> list[tuple[float, TaskResult, float]]:
    """The demo's fix on the demo repository, or "no fix" at once on the bare repository."""
    if bare_repo is None:
        demo = create_demo_repository(workdir)
        repo = RepositorySpec(url=demo.as_uri(), name=demo.name)
        script, expected = scripted_fix(), TaskStatus.COMPLETED
    else:
        repo = RepositorySpec(url=bare_repo.as_uri(), branch=branch, name="repo")
        script, expected = NO_FIX, TaskStatus.NO_CHANGE
    measured: list[tuple[float, TaskResult, float]] = []
    with ScriptedModelServer(script) as model:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "state",
            anthropic_base_url=model.url,
            anthropic_api_key=SecretStr("scripted"),
            sandbox=SandboxSettings(image=TEST_IMAGE, runtime=runtime),
            git=GitSettings(allow_local_repositories=True),
            approval=ApprovalSettings(allow_skip=True),
        )
        async with running_backend(settings, docker_backend(), fixed_ports=False) as runtime:
            for _ in range(runs + 1):  # the first run warms the mirror cache; not counted
                task = make_task(
                    settings,
                    title="Discounts raise prices",
                    requester="bench",
                    require_approval=False,
                    repositories=[repo],
                )
                started, started_at = time.perf_counter(), time.time()
                await runtime.gateway.start(task)
                result = await runtime.gateway.result(task.task_id)
                assert result.status is expected, result.error
                first = first_request_after(model, started_at)
                measured.append((time.perf_counter() - started, result, first))
    return measured[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", type=Path, help="a local bare repository (default: the demo's)")
    parser.add_argument("--branch", default="main")
    # the tasks' sandboxes only: the bare `docker run` baselines stay on the engine's default
    parser.add_argument("--runtime", default="runc", help="runc, runsc or auto")
    args = parser.parse_args()

    image = ensure_test_image()
    baseline = bare_docker_run(image, args.runs)
    bare_first = bare_agent_first_request(image, args.runs, None)
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-") as tmp:
        bare_on_repo = bare_agent_first_request(image, args.runs, toy_checkout(Path(tmp)))
        bare_repo = args.repo.resolve() if args.repo else None
        results = asyncio.run(run_tasks(Path(tmp), args.runs, bare_repo, args.branch, args.runtime))
    print(f"runs: {args.runs} (median seconds), tasks under {args.runtime}")
    print(f"baseline  docker run --rm {image} true: {statistics.median(baseline):.3f}")
    wall = statistics.median(w for w, _, _ in results)
    print(f"task      start → result (wall):          {wall:.3f}")
    fixbot_first = statistics.median(f for _, _, f in results)
    print(f"baseline  docker run claude → first model request: {statistics.median(bare_first):.3f}")
    print(f"baseline  the same on the toy repository:        {statistics.median(bare_on_repo):.3f}")
    print(f"task      start → first model request:      {fixbot_first:.3f}")
    steps = sorted({k for _, r, _ in results for k in r.step_seconds})
    for step in steps:
        values = [r.step_seconds.get(step, 0.0) for _, r, _ in results]
        print(f"  step    {step:<30} {statistics.median(values):.3f}")


if __name__ == "__main__":
    main()
