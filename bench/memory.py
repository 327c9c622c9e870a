"""Worker memory over many tasks: RSS after the first few tasks and after many, same process.

Runs tasks one after another on one worker (real Temporal dev server, Docker sandboxes, the
real `claude`, git; scripted model that answers "no fix" at once, so the workspace and the
sandbox are what each task costs), on the demo repository or on a repository you give:

    uv run python bench/memory.py [--tasks 50] [--repo /path/to/bare.git --branch devel]

A real repository: `git clone --bare https://github.com/ansible/ansible` (or flask), then
`--repo` its path. Printed: RSS after the warm-up task, after 5 tasks and after all, the
peak, and glibc's arena setting, so a growth can be told from a leak.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
from pathlib import Path

from pydantic import SecretStr

from bot.cli.demo_repo import create_demo_repository
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskStatus
from orchestration.runtime.backend import docker_backend, running_backend
from orchestration.runtime.settings import ApprovalSettings, GitSettings, SandboxSettings, Settings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.support.images import TEST_IMAGE, ensure_test_image

NO_FIX = ModelScript(
    steps=[
        ScriptStep(tool="StructuredOutput", input={"outcome": "no_fix", "summary": "memory bench"})
    ]
)


def rss_mb() -> float:
    """This process's resident set now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(workdir: Path, repo: str, branch: str, tasks: int) -> list[tuple[int, float]]:
    samples: list[tuple[int, float]] = []
    with ScriptedModelServer(NO_FIX) as model:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=workdir / "state",
            anthropic_base_url=model.url,
            anthropic_api_key=SecretStr("scripted"),
            sandbox=SandboxSettings(image=TEST_IMAGE),
            git=GitSettings(allow_local_repositories=True),
            approval=ApprovalSettings(allow_skip=True),
        )
        name = Path(repo).name.removesuffix(".git") or "repo"
        async with running_backend(settings, docker_backend(), fixed_ports=False) as runtime:
            for number in range(tasks + 1):  # the first warms the mirror cache
                task = make_task(
                    settings,
                    title=f"memory {number}",
                    requester="bench",
                    require_approval=False,
                    repositories=[RepositorySpec(url=repo, branch=branch, name=name)],
                )
                await runtime.gateway.start(task)
                result = await runtime.gateway.result(task.task_id)
                assert result.status is TaskStatus.NO_CHANGE, result.error
                samples.append((number, rss_mb()))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--repo", type=Path, help="a local bare repository (default: the demo's)")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args()
    ensure_test_image()
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-") as tmp:
        repo = args.repo.resolve() if args.repo else create_demo_repository(Path(tmp))
        samples = asyncio.run(run(Path(tmp), repo.as_uri(), args.branch, args.tasks))
    by_number = dict(samples)
    five, last = by_number[min(5, args.tasks)], by_number[args.tasks]
    arenas = os.environ.get("MALLOC_ARENA_MAX", "unset")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"repository {repo} ({args.branch}), {args.tasks} tasks after a warm-up task")
    print(f"RSS after warm-up: {by_number[0]:.0f} MB")
    print(f"RSS after 5 tasks: {five:.0f} MB")
    print(f"RSS after {args.tasks} tasks: {last:.0f} MB")
    print(f"growth 5 → {args.tasks}: {last - five:+.0f} MB")
    print(f"peak RSS: {peak:.0f} MB; MALLOC_ARENA_MAX={arenas}")


if __name__ == "__main__":
    main()
