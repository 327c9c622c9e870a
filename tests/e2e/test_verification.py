"""fixbot runs the repository's own checks itself: a baseline on the untouched tree, the fix
in a fresh sandbox, repair rounds for a fix that fails, and the verdict where people read it.

Real worker, Docker, `claude` and git; the scripted model plays the agent; the shop's tests
are real unittest runs inside verify sandboxes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bot.cli.demo_repo import BUGGY_LINE, ENVIRONMENT, FIXED_LINE, PRICING, README, TESTS
from orchestration.models import CancelRequest, TaskStatus
from orchestration.models.environment import VerifyStatus, verification_lines
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.e2e.conftest import Loop, shop_task
from tests.fakes.github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

StartLoop = Callable[[str], Coroutine[Any, Any, Loop]]
ROOT = "/workspace/shop"
WRONG_LINE = "    return round(price_cents * (100 - percent) / 100) + 1"
SHOP_WITH_CHECKS = {
    "pricing.py": PRICING,
    "test_pricing.py": TESTS,
    "README.md": README,
    ".fixbot/environment.toml": ENVIRONMENT,
}


def shown(markdown: str | None) -> str:
    """The body's text as a reader sees it (fixbot escapes markdown characters)."""
    return (markdown or "").replace("\\", "")


def edit(old: str, new: str) -> ScriptStep:
    return ScriptStep(
        tool="Edit",
        input={"file_path": f"{ROOT}/pricing.py", "old_string": old, "new_string": new},
    )


def report_fixed(summary: str) -> ScriptStep:
    return ScriptStep(tool="StructuredOutput", input={"outcome": "fixed", "summary": summary})


def wrong_then_right() -> ModelScript:
    """A first fix that breaks every test, then (on the repair round) the right one."""
    return ModelScript(
        steps=[
            edit(BUGGY_LINE, WRONG_LINE),
            report_fixed("fixed, all tests pass"),  # a claim fixbot does not believe
            edit(WRONG_LINE, FIXED_LINE),
            report_fixed("repaired the off-by-one"),
        ]
    )


async def test_a_fix_is_verified_against_a_baseline_in_fresh_sandboxes(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The baseline fails the bug's two tests; the fix passes all three; both ran in sandboxes
    of their own that are gone afterwards; the result and its text say so."""
    url = fake_github.create_repo("acme", "shop", SHOP_WITH_CHECKS)
    script = ModelScript(steps=[edit(BUGGY_LINE, FIXED_LINE), report_fixed("fixed")])
    with ScriptedModelServer(script) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    [verification] = result.verifications
    assert verification.baseline is not None and verification.after is not None
    assert verification.baseline.status is VerifyStatus.FAILED
    assert (verification.baseline.counts.passed, verification.baseline.counts.failed) == (1, 2)
    assert verification.after.status is VerifyStatus.PASSED
    assert (verification.after.counts.passed, verification.after.counts.failed) == (3, 0)
    assert verification.after.command == "python3 -m unittest"
    assert not verification.regressed and verification.repairs == 0
    assert verification_lines(result.verifications, multi=False) == [
        "tests: 3 passed (before: 1 passed, 2 failed)"
    ]
    assert "verify" in result.step_seconds
    for phase in ("baseline", "after-fix"):
        assert loop.backend.find(f"{task.task_id}.{phase}") is None
    [pr] = fake_github.pulls("acme", "shop")
    assert "tests: 3 passed (before: 1 passed, 2 failed)" in shown(pr.body)


async def test_a_fix_that_fails_verification_goes_back_to_the_agent_and_is_repaired(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The first fix breaks all tests although the agent says they pass; the agent's session
    gets the failing output and repairs it; the pushed fix is the repaired one."""
    url = fake_github.create_repo("acme", "shop", SHOP_WITH_CHECKS)
    with ScriptedModelServer(wrong_then_right()) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
        repair_prompts = [
            body for body in model.agent_requests() if "fails worse than on the tree" in str(body)
        ]
    assert result.status is TaskStatus.COMPLETED, result.error
    [verification] = result.verifications
    assert verification.repairs == 1
    assert verification.after is not None and verification.after.status is VerifyStatus.PASSED
    assert repair_prompts, "the repair round never reached the model"
    [pr] = fake_github.pulls("acme", "shop")
    assert "tests: 3 passed (before: 1 passed, 2 failed) after 1 repair round" in shown(pr.body)
    pricing = fake_github.read_file("acme", "shop", pr.head, "pricing.py")
    assert FIXED_LINE in pricing and WRONG_LINE not in pricing


async def test_a_fix_still_failing_after_its_repairs_is_not_pushed_without_a_person(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """With no repair rounds left, a task that needs no approval stops, names the command and
    the counts, and pushes nothing."""
    url = fake_github.create_repo("acme", "shop", SHOP_WITH_CHECKS)
    script = ModelScript(steps=[edit(BUGGY_LINE, WRONG_LINE), report_fixed("fixed")])
    with ScriptedModelServer(script) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url, max_repairs=0)
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.FAILED
    assert result.error == ("tests failed after the fix: shop: `python3 -m unittest`: 3 failed")
    assert fake_github.pulls("acme", "shop") == []


async def test_a_fix_still_failing_reaches_the_approver_saying_so(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """With approval required and no repair rounds left, the failing fix waits for a
    person: the card event and `fixbot status` say the tests fail after the fix."""
    url = fake_github.create_repo("acme", "shop", SHOP_WITH_CHECKS)
    script = ModelScript(steps=[edit(BUGGY_LINE, WRONG_LINE), report_fixed("fixed")])
    with ScriptedModelServer(script) as model:
        loop = await start_loop(model.url)
        task = shop_task(loop, url, max_repairs=0, require_approval=True)
        await loop.gateway.start(task)
        view = await loop.wait_for(task, TaskStatus.AWAITING_APPROVAL)
        code, out = await loop.cli("status", task.task_id)
        await loop.gateway.cancel(task.task_id, CancelRequest(by="rita"))
        await loop.result(task.task_id)
    [verification] = view.verifications
    assert verification.regressed
    lines = verification_lines(view.verifications, multi=False)
    assert lines == ["tests failed after the fix: 3 failed (before: 1 passed, 2 failed)"]
    assert code == 0, out
    assert "tests failed after the fix: 3 failed" in " ".join(out.split())
