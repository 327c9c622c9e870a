"""Faults on real parts: the sandbox dies, the model is overloaded, the budget runs out,
GitHub answers 502 or a secondary rate limit, a person cancels. Every task reaches a clear
end, opens each pull request at most once, and leaves no sandbox behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bot.cli.demo_repo import PRICING, README, TESTS, scripted_fix
from orchestration.models import CancelRequest, TaskInput, TaskStatus
from orchestration.runtime.settings import SandboxSettings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.e2e.conftest import Loop, shop_task
from tests.fakes.github import FakeGitHub
from tests.support.images import TEST_IMAGE
from tests.support.settings import services_root_for_tests

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
StartLoop = Callable[..., Coroutine[Any, Any, Loop]]
SHOP = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
# (Claude Code treats a bare `sleep` specially; a program that takes long is what agents run)
LONG_BASH = ScriptStep(
    tool="Bash",
    input={"command": "python3 -c 'import time; time.sleep(120)'", "timeout": 600000},
)


async def until_agent_busy(loop: Loop, task: TaskInput) -> None:
    """Wait until the agent is inside its long command."""
    await loop.wait_for(task, TaskStatus.RUNNING)
    for _ in range(300):
        view = await loop.gateway.status(task.task_id)
        if view.last_progress and "time.sleep(120)" in view.last_progress:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the agent never started its long command")


async def test_a_killed_sandbox_fails_the_task_with_a_clear_reason(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """Killing the container mid-run ends the task as failed, saying the sandbox stopped."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    with ScriptedModelServer(ModelScript(steps=[LONG_BASH])) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        await until_agent_busy(loop, task)
        loop.backend.client.api.kill(f"fixbot-{task.task_id}")
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "sandbox stopped during the agent run" in result.error
    assert loop.backend.find(task.task_id) is None


async def test_cancel_reaches_a_running_agent_and_removes_the_sandbox_quickly(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """A cancel while the agent runs a 120 s command ends the task in seconds, sandbox gone."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    with ScriptedModelServer(ModelScript(steps=[LONG_BASH])) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        await until_agent_busy(loop, task)
        asked = time.monotonic()
        await loop.gateway.cancel(task.task_id, CancelRequest(by="rita", reason="wrong repo"))
        result = await loop.result(task.task_id)
        ended = time.monotonic() - asked
    print(f"cancel → task ended with its sandbox removed: {ended:.2f} s")
    assert result.status is TaskStatus.CANCELLED
    assert loop.backend.find(task.task_id) is None
    assert ended < 60  # far less than the 120 s command: the cancel interrupted it


async def test_an_overloaded_model_ends_in_a_clear_failure(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The model answers 529 every time: Claude Code retries (a few times), then the task
    fails naming the overload."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    overloaded = ScriptStep(http_status=529, fault_attempts=100)
    with ScriptedModelServer(ModelScript(steps=[overloaded])) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
        attempts = len(model.agent_requests())
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "529" in result.error
    assert 2 <= attempts <= 6  # CLAUDE_CODE_MAX_RETRIES bounds the CLI's own retries
    assert not fake_github.pulls("acme", "shop")


async def test_a_spent_budget_ends_in_a_clear_failure(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """A task whose model budget is spent stops, saying so (the proxy or the CLI refuses)."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    with ScriptedModelServer(scripted_fix()) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url, budget_usd=0.01)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "budget" in result.error.lower()
    assert not fake_github.pulls("acme", "shop")


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (502, None, None),
        (
            403,
            {"Retry-After": "1"},
            {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
        ),
    ],
    ids=["bad_gateway", "secondary_rate_limit"],
)
async def test_github_faults_are_retried_and_open_one_pull_request(
    start_loop: StartLoop,
    fake_github: FakeGitHub,
    status: int,
    headers: dict[str, str] | None,
    body: dict[str, str] | None,
) -> None:
    """Opening the PR fails once (502, or 403 secondary rate limit with Retry-After): the step
    is retried and exactly one PR exists."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    fake_github.fail_next("POST", r"/repos/acme/shop/pulls$", status, headers=headers, body=body)
    with ScriptedModelServer(scripted_fix()) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    assert len(fake_github.pulls("acme", "shop")) == 1
    failed = [r for r in fake_github.requests if r[0] == "POST" and r[2] == status]
    assert len(failed) == 1


async def test_a_model_server_error_ends_in_a_clear_failure(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The model answers 500 every time: after the CLI's retries the task fails naming it."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    broken = ScriptStep(http_status=500, fault_attempts=100)
    with ScriptedModelServer(ModelScript(steps=[broken])) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "500" in result.error


async def test_a_stream_dropped_mid_answer_is_retried_and_the_task_completes(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The model's connection drops in the middle of its first answer: Claude Code retries
    that request and the fix goes on to its one PR."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    steps = list(scripted_fix().steps)
    steps[0] = steps[0].model_copy(update={"drop_connection": True, "fault_attempts": 1})
    with ScriptedModelServer(ModelScript(steps=steps)) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
        first_turn_requests = sum(
            1
            for r in model.agent_requests()
            if sum(1 for m in r["messages"] if m.get("role") == "assistant") == 0
        )
    assert result.status is TaskStatus.COMPLETED, result.error
    assert first_turn_requests >= 2  # the dropped one and its retry
    assert len(fake_github.pulls("acme", "shop")) == 1


async def test_out_of_memory_fails_the_task_with_a_clear_reason(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """A sandbox too small for the agent itself: the kernel kills it at the memory limit; the
    task fails saying so (not an obscure exit code), and the sandbox is removed."""
    url = fake_github.create_repo("acme", "shop", SHOP)
    with ScriptedModelServer(scripted_fix()) as model:
        tiny = SandboxSettings(
            image=TEST_IMAGE, memory_mb=48, services_root=services_root_for_tests()
        )
        loop = await start_loop(model.url, tiny)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "out of memory" in result.error
    assert loop.backend.find(task.task_id) is None
