"""What a repository environment costs: cold setup beside its commands' own time, a warm
task's start to first model request beside a repository with no environment, the snapshot.

Two kinds of environment, each on a real project with an environment spec added on top:

- node (default): pallets/flask's tree (from /work/.mirror or --repo); setup installs a
  package of many files (like a node_modules) with npm from a registry served on loopback;
  verify runs `node --test`.
- python (--python): pytest-dev/pluggy (from /work/.mirror); setup makes a virtualenv and
  pip-installs pytest and its dependencies from a package index served on loopback (wheels
  rebuilt from this virtualenv's packages: this machine has no PyPI); verify runs pluggy's
  own test suite. The scripted agent makes a harmless edit, so fixbot's verification runs
  the suite on it, and the counts are printed.

Both reach their registry only through the egress proxy. Each task measures the way to its
first model request.

    uv run python bench/environments.py [--runs 3] [--files 3000] [--repo PATH --branch B]
    uv run python bench/environments.py --python [--runs 3]

Targets (the issue's): snapshot overhead (setup step minus the commands' own time) ≤ 3 s;
a warm task ≤ 0.5 s slower to its first model request than with no environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench.core_loop import NO_FIX, first_request_after
from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskResult, TaskStatus
from orchestration.models.environment import verification_line
from orchestration.runtime.backend import docker_backend, running_backend
from orchestration.runtime.settings import (
    ApprovalSettings,
    EnvironmentSettings,
    GitSettings,
    SandboxSettings,
    Settings,
)
from orchestration.runtime.snapshots import snapshot_store
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.support.images import TEST_IMAGE, ensure_test_image
from tests.support.npm_registry import NpmRegistry
from tests.support.python_index import PythonIndex

FLASK = Path("/work/.mirror/pallets+flask/repo")
PLUGGY = Path("/work/.mirror/pytest-dev+pluggy/repo")
PYTEST_AND_DEPENDENCIES = ["pytest", "pluggy", "iniconfig", "packaging", "pygments"]
TOUCH_README = ModelScript(
    steps=[
        ScriptStep(
            tool="Bash",
            input={"command": "cd /workspace/repo && echo >> README.rst", "description": "edit"},
        ),
        ScriptStep(tool="StructuredOutput", input={"outcome": "fixed", "summary": "bench"}),
    ]
)


def heavy_package(files: int) -> dict[str, dict[str, dict[str, str]]]:
    """One package of `files` modules of about 8 KB each, as a big dependency tree has."""
    body = "// generated\n" + "module.exports.value = 1;\n" * 300
    modules = {f"lib/m{index:05d}.js": body for index in range(files)}
    return {"heavy": {"1.0.0": {"index.js": "module.exports = 1;\n", **modules}}}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def bare_copy(source: Path, branch: str, target: Path, extra: dict[str, str]) -> Path:
    """A bare repository of source's branch, with `extra` files committed on top."""
    work = target.with_suffix(".work")
    git("clone", "-q", "--branch", branch, "--single-branch", str(source), str(work))
    for path, text in extra.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    if extra:
        git("add", "--all", cwd=work)
        git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "environment", cwd=work)
    git("clone", "-q", "--bare", str(work), str(target))
    return target


def python_files(index: PythonIndex) -> dict[str, str]:
    spec = (
        '[setup]\nrun = ["python3 -m venv .venv", '
        f'".venv/bin/pip install --no-cache-dir --index-url {index.url} pytest"]\n'
        f'egress = ["127.0.0.1:{index.port}"]\n'
        '[verify]\nrun = ["PYTHONPATH=src .venv/bin/python -m pytest -q -p no:cacheprovider '
        '--ignore=testing/benchmark.py"]\ntimeout = "10m"\n'
    )
    gitignore = subprocess.run(
        ["git", "--git-dir", str(PLUGGY), "show", "HEAD:.gitignore"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {".fixbot/environment.toml": spec, ".gitignore": gitignore + ".venv/\n"}


def environment_files(registry: NpmRegistry) -> dict[str, str]:
    spec = (
        '[setup]\nrun = ["npm install --no-audit --no-fund --no-package-lock"]\n'
        f'egress = ["127.0.0.1:{registry.port}"]\n'
        '[verify]\nrun = ["node --test"]\ntimeout = "5m"\n'
    )
    package = {"name": "bench", "version": "1.0.0", "dependencies": {"heavy": "1.0.0"}}
    return {
        "package.json": json.dumps(package) + "\n",
        ".npmrc": f"registry={registry.url}\n",
        ".gitignore": "node_modules/\n",
        "bench.test.js": "require('node:test')('loads', () => require('heavy'));\n",
        ".fixbot/environment.toml": spec,
    }


async def run_tasks(
    settings: Settings, repos: dict[str, Path], branch: str, runs: int, model: ScriptedModelServer
) -> dict[str, list[tuple[TaskResult, float]]]:
    """`runs + 1` tasks per repository, in turn; the first of each builds or warms."""
    measured: dict[str, list[tuple[TaskResult, float]]] = {name: [] for name in repos}
    async with running_backend(settings, docker_backend(), fixed_ports=False) as runtime:
        for _ in range(runs + 1):
            for name, bare in repos.items():
                spec = RepositorySpec(url=bare.as_uri(), branch=branch, name="repo")
                task = make_task(
                    settings,
                    title="bench",
                    requester="bench",
                    require_approval=False,
                    repositories=[spec],
                )
                started = time.time()
                await runtime.gateway.start(task)
                result = await runtime.gateway.result(task.task_id)
                if result.status not in (TaskStatus.NO_CHANGE, TaskStatus.COMPLETED):
                    raise SystemExit(f"{name}: the task ended {result.status}: {result.error}")
                measured[name].append((result, first_request_after(model, started)))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--repo", type=Path, default=FLASK)
    parser.add_argument("--branch", default="main")
    parser.add_argument("--python", action="store_true", help="pluggy with a pip setup")
    args = parser.parse_args()
    ensure_test_image()
    if args.python:
        args.repo = PLUGGY
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fixbot-bench-env-")))
        if args.python:
            index = stack.enter_context(PythonIndex(PYTEST_AND_DEPENDENCIES))
            files, script = python_files(index), TOUCH_README
        else:
            registry = stack.enter_context(NpmRegistry(heavy_package(args.files)))
            files, script = environment_files(registry), NO_FIX
        model = stack.enter_context(ScriptedModelServer(script))
        repos = {
            "with environment": bare_copy(args.repo, args.branch, root / "env.git", files),
            "no environment": bare_copy(args.repo, args.branch, root / "plain.git", {}),
        }
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=root / "state",
            anthropic_base_url=model.url,
            anthropic_api_key=SecretStr("scripted"),
            sandbox=SandboxSettings(image=TEST_IMAGE),
            git=GitSettings(allow_local_repositories=True),
            approval=ApprovalSettings(allow_skip=True),
            environment=EnvironmentSettings(allow_internal_registries=True),
        )
        measured = asyncio.run(run_tasks(settings, repos, args.branch, args.runs, model))
        [snapshot] = snapshot_store(settings).snapshots()
    report(measured, snapshot.setup_seconds, snapshot.size_bytes, args)


def report(
    measured: dict[str, list[tuple[TaskResult, float]]],
    own_seconds: float,
    size: int,
    args: argparse.Namespace,
) -> None:
    cold, *warm = measured["with environment"]
    setup_step = cold[0].step_seconds.get("setup", 0.0)
    what = "pytest and its dependencies" if args.python else f"{args.files:,} files"
    print(f"repository: {args.repo} ({args.branch}); setup installs {what}")
    for item in cold[0].verifications:
        print(f"fixbot's verification of the first task: {verification_line(item)}")
    print(f"cold setup step:                {setup_step:.2f} s")
    print(f"  the setup commands' own time: {own_seconds:.2f} s")
    print(f"  snapshot overhead:            {setup_step - own_seconds:.2f} s  (target ≤ 3 s)")
    print(f"snapshot size:                  {size / (1 << 20):.1f} MB")
    restore = statistics.median(r.step_seconds.get("setup", 0.0) for r, _ in warm)
    print(f"warm setup step (restore):      {restore:.2f} s  (median of {len(warm)})")
    with_env = statistics.median(first for _, first in warm)
    plain = statistics.median(first for _, first in measured["no environment"][1:])
    print(f"start → first model request, no environment:   {plain:.3f} s")
    print(f"start → first model request, with environment: {with_env:.3f} s")
    print(f"  difference: {with_env - plain:+.3f} s  (target ≤ 0.5 s)")


if __name__ == "__main__":
    main()
