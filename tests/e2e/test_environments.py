"""Repository environments: setup runs once with registry access (a registry on loopback,
reached only through the egress proxy), is kept as a snapshot and restored for later tasks,
and the agent and fixbot's own checks run offline in it.

Real worker, Docker, `claude`, git, npm and node; the scripted model plays the agent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from orchestration.models import Step, TaskStatus
from orchestration.models.environment import VerifyStatus
from orchestration.runtime.settings import EnvironmentSettings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.e2e.conftest import Loop, shop_task
from tests.fakes.github import FakeGitHub
from tests.support.npm_registry import NpmRegistry

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

StartLoop = Callable[..., Coroutine[Any, Any, Loop]]
BUGGY = "exports.discounted = (price, percent) => round((price * (100 + percent)) / 100);\n"
FIXED = "exports.discounted = (price, percent) => round((price * (100 - percent)) / 100);\n"
PACKAGES = {"cents": {"1.0.0": {"index.js": "exports.round = (x) => Math.round(x);\n"}}}
INTERNAL_OK = EnvironmentSettings(allow_internal_registries=True)


def node_shop(registry: NpmRegistry, dependency: str = "cents") -> dict[str, str]:
    """A Node repository whose test needs a package only setup can install."""
    spec = (
        '[setup]\nrun = ["npm install --no-audit --no-fund --no-package-lock"]\n'
        f'egress = ["127.0.0.1:{registry.port}"]\n'
        '[verify]\nrun = ["node --test"]\ntimeout = "2m"\n'
    )
    package = {"name": "shop", "version": "1.0.0", "dependencies": {dependency: "1.0.0"}}
    return {
        "package.json": json.dumps(package, indent=2) + "\n",
        ".npmrc": f"registry={registry.url}\n",
        ".gitignore": "node_modules/\n",
        "price.js": "const { round } = require('cents');\n" + BUGGY,
        "price.test.js": (
            "const test = require('node:test');\nconst assert = require('node:assert');\n"
            "const { discounted } = require('./price');\n"
            "test('a discount lowers the price', () => "
            "assert.strictEqual(discounted(1000, 25), 750));\n"
        ),
        ".fixbot/environment.toml": spec,
    }


def fix_script() -> ModelScript:
    return ModelScript(
        steps=[
            ScriptStep(
                tool="Edit",
                input={
                    "file_path": "/workspace/shop/price.js",
                    "old_string": BUGGY,
                    "new_string": FIXED,
                },
            ),
            ScriptStep(tool="StructuredOutput", input={"outcome": "fixed", "summary": "fixed"}),
        ]
    )


def commit_to(fake: FakeGitHub, path: str, text: str, scratch: Path) -> None:
    """Push a commit changing one file to the fake repository's main branch."""
    clone = scratch / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(fake.repo_path("acme", "shop")), str(clone)], check=True
    )
    (clone / path).write_text(text)
    commit = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*commit, "commit", "-qam", f"change {path}"], check=True)
    subprocess.run(["git", "-C", str(clone), "push", "-q", "origin", "HEAD:main"], check=True)


async def test_setup_runs_once_and_later_tasks_reuse_its_snapshot_until_a_lockfile_changes(
    start_loop: StartLoop, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """The first task installs the dependency through the proxy; the baseline fails the bug's
    test and the fix passes it, offline, with the installed package; a second task fetches
    nothing (the snapshot is restored); a changed package.json builds a new environment."""
    with NpmRegistry(PACKAGES) as registry:
        url = fake_github.create_repo("acme", "shop", node_shop(registry))
        with ScriptedModelServer(fix_script()) as model:
            loop = await start_loop(model.url, environment=INTERNAL_OK)
            first = shop_task(loop, url)
            await loop.gateway.start(first)
            result = await loop.result(first.task_id)
            assert result.status is TaskStatus.COMPLETED, result.error
            fetched_by_setup = list(registry.requests)
            second = shop_task(loop, url)
            await loop.gateway.start(second)
            again = await loop.result(second.task_id)
            fetched_by_second = registry.requests[len(fetched_by_setup) :]
            commit_to(
                fake_github, "package.json", node_shop(registry)["package.json"] + "\n", tmp_path
            )
            third = shop_task(loop, url)
            await loop.gateway.start(third)
            rebuilt = await loop.result(third.task_id)
    assert "/cents" in fetched_by_setup and "/cents/-/cents-1.0.0.tgz" in fetched_by_setup
    [verification] = result.verifications
    assert verification.baseline is not None and verification.after is not None
    assert verification.baseline.status is VerifyStatus.FAILED
    assert verification.after.status is VerifyStatus.PASSED
    assert (verification.after.counts.passed, verification.after.counts.failed) == (1, 0)
    assert Step.SETUP.value in result.step_seconds
    assert again.status is TaskStatus.COMPLETED, again.error
    assert fetched_by_second == []  # restored from the snapshot: setup did not run again
    assert again.verifications[0].after is not None
    assert again.verifications[0].after.status is VerifyStatus.PASSED
    assert rebuilt.status is TaskStatus.COMPLETED, rebuilt.error
    assert "/cents/-/cents-1.0.0.tgz" in registry.requests[len(fetched_by_setup) :]
    for task in (first, second, third):
        for helper in ("setup", "baseline", "after-fix"):
            assert loop.backend.find(f"{task.task_id}.{helper}") is None


async def test_a_failing_setup_stops_the_task_before_any_model_request(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """A dependency the registry does not have: the task fails naming the command and how
    its output ended, and the model was never asked anything."""
    with NpmRegistry(PACKAGES) as registry:
        url = fake_github.create_repo("acme", "shop", node_shop(registry, dependency="nope"))
        with ScriptedModelServer(fix_script()) as model:
            loop = await start_loop(model.url, environment=INTERNAL_OK)
            task = shop_task(loop, url)
            await loop.gateway.start(task)
            result = await loop.result(task.task_id)
            agent_requests = model.agent_requests()
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert result.error.startswith(
        "shop: setup command `npm install --no-audit --no-fund --no-package-lock` failed (exit "
    )
    assert "404" in result.error  # the end of npm's own output
    assert agent_requests == []
    assert result.cost_usd == 0


async def test_setup_may_not_reach_an_internal_address_unless_the_operator_allows_it(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The repository's spec names a loopback registry: without the operator's setting the
    egress proxy refuses it, and the task says why."""
    with NpmRegistry(PACKAGES) as registry:
        url = fake_github.create_repo("acme", "shop", node_shop(registry))
        with ScriptedModelServer(fix_script()) as model:
            loop = await start_loop(model.url)
            task = shop_task(loop, url)
            await loop.gateway.start(task)
            result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "setup command" in result.error
    assert registry.requests == []  # never reached


async def test_env_build_makes_the_snapshot_the_first_task_then_restores(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """`fixbot env build` runs setup ahead of any task; the first task fetches nothing, and
    a second build finds the snapshot there."""
    with NpmRegistry(PACKAGES) as registry:
        url = fake_github.create_repo("acme", "shop", node_shop(registry))
        with ScriptedModelServer(fix_script()) as model:
            loop = await start_loop(model.url, environment=INTERNAL_OK)
            env = {
                **loop.cli_env,
                "FIXBOT_DATA_DIR": str(loop.settings.data_dir),
                "FIXBOT_SANDBOX__IMAGE": loop.settings.sandbox.image,
                "FIXBOT_SANDBOX__SERVICES_ROOT": str(loop.settings.sandbox.services_root),
                "FIXBOT_ENVIRONMENT__ALLOW_INTERNAL_REGISTRIES": "true",
                "GITHUB_TOKEN": fake_github.token,
            }
            built = await run_fixbot(env, "env", "build", "--repo", url)
            fetched_by_build = list(registry.requests)
            task = shop_task(loop, url)
            await loop.gateway.start(task)
            result = await loop.result(task.task_id)
            again = await run_fixbot(env, "env", "build", "--repo", url)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "environment of shop built: snapshot" in built.stdout
    assert "/cents/-/cents-1.0.0.tgz" in fetched_by_build
    assert result.status is TaskStatus.COMPLETED, result.error
    assert registry.requests == fetched_by_build  # the task restored the build's snapshot
    assert again.returncode == 0 and "environment of shop already built" in again.stdout


async def run_fixbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    fixbot = str(Path(sys.executable).with_name("fixbot"))
    return await asyncio.to_thread(
        subprocess.run,
        [fixbot, *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_two_tasks_that_need_the_same_environment_build_it_once(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """Started together on a repository with no snapshot yet: one setup fetches, the other
    task waits for it and restores the same snapshot."""
    with NpmRegistry(PACKAGES) as registry:
        url = fake_github.create_repo("acme", "shop", node_shop(registry))
        with ScriptedModelServer(fix_script()) as model:
            loop = await start_loop(model.url, environment=INTERNAL_OK)
            tasks = [shop_task(loop, url), shop_task(loop, url)]
            for task in tasks:
                await loop.gateway.start(task)
            results = await asyncio.gather(*(loop.result(t.task_id) for t in tasks))
    assert [r.status for r in results] == [TaskStatus.COMPLETED] * 2, [r.error for r in results]
    assert registry.requests.count("/cents/-/cents-1.0.0.tgz") == 1
    passed = [r.verifications[0].after.status for r in results if r.verifications[0].after]
    assert passed == [VerifyStatus.PASSED] * 2
