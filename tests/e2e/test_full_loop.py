"""The whole loop on real parts: CLI → Temporal → Docker sandbox → real `claude` (scripted model)
→ approval → branch pushed over git HTTP → pull request through PyGithub → sandbox gone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.cli.demo_repo import BUGGY_LINE, FIXED_LINE, PRICING, README, TESTS, scripted_fix
from orchestration.client.gateway import workflow_id
from orchestration.client.task_factory import make_task, new_task_id
from orchestration.models import RepositorySpec, TaskStatus
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from orchestration.workflows.bugfix import BugFixWorkflow
from tests.e2e.conftest import Loop
from tests.fakes.github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

StartLoop = Callable[[str], Coroutine[Any, Any, Loop]]
SHOP_FILES = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}


def assert_no_sandbox_left(loop: Loop, task_id: str) -> None:
    assert loop.backend.find(task_id) is None
    assert not [v for v in loop.backend.list_orphan_volumes() if task_id in v]


async def test_cli_task_is_fixed_approved_and_opened_as_one_pull_request(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """The scripted model runs the failing test, edits, re-runs it and reports `fixed`;
    `fixbot approve` opens exactly one PR whose diff is the fix; nothing is left behind."""
    url = fake_github.create_repo("acme", "shop", SHOP_FILES)
    with ScriptedModelServer(scripted_fix()) as model:
        loop = await start_loop(model.url)
        task_id = new_task_id()
        code, out = await loop.cli(
            "start",
            "--title",
            "Discounts raise prices",
            "--repo",
            url,
            "--task-id",
            task_id,
            "--description",
            "25% coupon charged more",
            "--as",
            "rita",
        )
        assert code == 0, out
        view = await loop.wait_for(task_id, TaskStatus.AWAITING_APPROVAL)
        assert view.changes is not None
        assert view.last_progress == "reporting outcome: fixed"  # signalled by the agent activity
        assert [f.path for f in view.changes.repositories[0].files] == ["pricing.py"]
        code, out = await loop.cli("status", task_id, "--patch")
        assert code == 0 and "patch of shop" in out, out
        assert f"+{FIXED_LINE}" in out and f"-{BUGGY_LINE}" in out
        code, out = await loop.cli("approve", task_id, "--as", "rita")
        assert code == 1 and "may not approve their own fix" in out
        code, out = await loop.cli("approve", task_id, "--comment", "looks right")
        assert code == 0, out
        result = await loop.result(task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    pulls = fake_github.pulls("acme", "shop")
    assert len(pulls) == 1
    assert (pulls[0].head, pulls[0].base) == (f"fixbot/{task_id}", "main")
    diff = fake_github.diff("acme", "shop", "main", f"fixbot/{task_id}")
    assert f"-{BUGGY_LINE}" in diff and f"+{FIXED_LINE}" in diff
    assert "(100 + percent)" not in fake_github.read_file(
        "acme", "shop", f"fixbot/{task_id}", "pricing.py"
    )
    assert "apply_discount added the percentage" in (pulls[0].body or "")
    assert result.pull_requests[0].url.endswith("/acme/shop/pull/1")
    assert result.cost_usd > 0 and result.usage.total > 0 and result.num_turns > 0
    assert result.decision is not None and result.decision.decision.comment == "looks right"
    assert_no_sandbox_left(loop, task_id)
    handle = loop.gateway.client.get_workflow_handle(workflow_id(task_id))
    agent = await handle.query(BugFixWorkflow.agent_result)
    assert agent is not None and agent.transcript is not None  # kept after the sandbox is gone
    transcript = await asyncio.to_thread(Path(agent.transcript).read_text)
    assert agent.session_id in transcript and FIXED_LINE.strip() in transcript


def two_repo_script() -> ModelScript:
    return ModelScript(
        steps=[
            ScriptStep(
                tool="Write", input={"file_path": "/workspace/api/FIX.md", "content": "api side\n"}
            ),
            ScriptStep(
                tool="Write", input={"file_path": "/workspace/web/FIX.md", "content": "web side\n"}
            ),
            ScriptStep(
                tool="StructuredOutput", input={"outcome": "fixed", "summary": "both sides"}
            ),
        ]
    )


async def test_two_changed_repositories_get_two_pull_requests_that_link_each_other(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """One PR per changed repository, each body linking the other."""
    urls = [
        fake_github.create_repo("acme", name, {"README.md": f"# {name}\n"})
        for name in ("api", "web")
    ]
    with ScriptedModelServer(two_repo_script()) as model:
        loop = await start_loop(model.url)
        task = make_task(
            loop.settings,
            title="Fix across services",
            requester="rita",
            require_approval=False,
            repositories=[
                RepositorySpec(url=u, name=n) for u, n in zip(urls, ("api", "web"), strict=True)
            ],
        )
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    api_pr, web_pr = fake_github.pulls("acme", "api"), fake_github.pulls("acme", "web")
    assert len(api_pr) == 1 and len(web_pr) == 1
    urls_by_repo = {pr.repository: pr.url for pr in result.pull_requests}
    assert urls_by_repo["web"] in (api_pr[0].body or "")
    assert urls_by_repo["api"] in (web_pr[0].body or "")
    assert result.files_changed == {"api": ["FIX.md"], "web": ["FIX.md"]}
    assert_no_sandbox_left(loop, task.task_id)


async def test_retried_pull_request_step_still_opens_one_pull_request(
    start_loop: StartLoop, fake_github: FakeGitHub
) -> None:
    """Auto-merge fails once after the PR exists; the retried step reuses the PR."""
    url = fake_github.create_repo("acme", "shop", SHOP_FILES)
    fake_github.fail_next("POST", r"/graphql", 502)
    with ScriptedModelServer(scripted_fix()) as model:
        loop = await start_loop(model.url)
        task = make_task(
            loop.settings,
            title="Discounts raise prices",
            requester="rita",
            require_approval=False,
            auto_merge=True,
            repositories=[RepositorySpec(url=url, name="shop")],
        )
        await loop.gateway.start(task)
        result = await loop.result(task.task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    pulls = fake_github.pulls("acme", "shop")
    assert len(pulls) == 1
    assert pulls[0].auto_merge is not None
    assert result.pull_requests[0].created is False  # the retry found the PR the first try opened
    creates = [r for r in fake_github.requests if r[0] == "POST" and r[1].endswith("/pulls")]
    assert len(creates) == 1
