"""The push step pushes only what was approved, never protected paths unless allowed, and
never a secret in a PR body: checked against the GitHub fake through real git and PyGithub."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from orchestration.activities.publish_activities import PublishActivities
from orchestration.models import (
    ChangeSet,
    FileChange,
    PublishRequest,
    RepositoryChange,
    RepositorySpec,
    TaskInput,
)
from orchestration.runtime.forges import forge_router
from orchestration.runtime.logs import Redactor
from orchestration.runtime.settings import GitSettings, Settings
from orchestration.workspace.mirror import MirrorCache
from tests.fakes.github import FakeGitHub


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def change_in(github: FakeGitHub, tmp: Path, path: str, text: str) -> RepositoryChange:
    """A real patch against the fake repository's main branch."""
    url = github.create_repo("acme", "shop", {"README.md": "# shop\n"})
    work = tmp / "work"
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True)
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    patch = subprocess.run(
        ["git", "-C", str(work), "diff", "--cached", "--binary"], check=True, capture_output=True
    ).stdout
    base = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return RepositoryChange(
        repository=RepositorySpec(url=url, name="shop"),
        base_commit=base,
        files=[FileChange(path=path, additions=1, deletions=0)],
        patch=patch.decode(),
        patch_sha256=hashlib.sha256(patch).hexdigest(),
        protected_files=[path] if path.startswith(".github/workflows/") else [],
    )


def publisher(github: FakeGitHub, tmp: Path, *, allow_protected: bool = False) -> PublishActivities:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp / "data",
        github_token=github.token,  # type: ignore[arg-type]
        github_api_url=github.api_url,
        github_web_host=github.web_host,
        github_request_retries=0,
        github_throttle=False,
        git=GitSettings(allowed_hosts=[github.web_host], allowed_schemes=["http"]),
    )
    return PublishActivities(
        MirrorCache(settings.mirror_dir),
        forge_router(settings),
        author_name="fixbot",
        author_email="fixbot@example.invalid",
        run_url=lambda w, r: None,
        allow_protected=allow_protected,
        redact=Redactor(settings.secret_values()).text,
    )


def request(
    change: RepositoryChange, approved: str | None, summary: str = "fixed"
) -> PublishRequest:
    task = TaskInput(
        task_id="guard-1",
        title="Fix",
        repositories=[change.repository],
        requester="rita",
        created_at=datetime(2026, 11, 24, tzinfo=UTC),
    )
    return PublishRequest(
        task=task,
        changes=ChangeSet(repositories=[change]),
        summary=summary,
        cost_usd=0.1,
        approved_digest=approved,
    )


async def test_a_change_other_than_the_approved_one_is_not_pushed(
    github: FakeGitHub, tmp_path: Path
) -> None:
    """The diff was altered after approval (its digest differs): refused, nothing pushed."""
    change = change_in(github, tmp_path, "pricing.py", "fixed = True\n")
    approved = ChangeSet(repositories=[change]).digest
    altered = change.model_copy(update={"patch_sha256": "f" * 64})
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            publisher(github, tmp_path).publish, request(altered, approved)
        )
    assert caught.value.type == "ChangeNotApproved" and caught.value.non_retryable
    assert github.branch_sha("acme", "shop", "fixbot/guard-1") is None
    assert github.pulls("acme", "shop") == []


async def test_protected_paths_are_not_pushed_unless_allowed(
    github: FakeGitHub, tmp_path: Path
) -> None:
    """A workflow file is refused by default and pushed when the deployment allows it."""
    change = change_in(github, tmp_path, ".github/workflows/ci.yml", "on: push\n")
    approved = ChangeSet(repositories=[change]).digest
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            publisher(github, tmp_path).publish, request(change, approved)
        )
    assert caught.value.type == "ProtectedPath"
    assert github.branch_sha("acme", "shop", "fixbot/guard-1") is None
    allowing = publisher(github, tmp_path, allow_protected=True)
    await ActivityEnvironment().run(allowing.publish, request(change, approved))
    assert len(github.pulls("acme", "shop")) == 1


async def test_a_secret_in_the_summary_never_reaches_the_pull_request(
    github: FakeGitHub, tmp_path: Path
) -> None:
    """The agent's summary quoting the worker's token is redacted in the PR body."""
    change = change_in(github, tmp_path, "pricing.py", "fixed = True\n")
    approved = ChangeSet(repositories=[change]).digest
    leaky = f"fixed; by the way the token is {github.token} and ghp_{'x' * 36}"
    await ActivityEnvironment().run(
        publisher(github, tmp_path).publish, request(change, approved, leaky)
    )
    body = github.pulls("acme", "shop")[0].body or ""
    assert github.token not in body and "ghp_xxxx" not in body
    assert "[redacted]" in body.replace("\\", "")  # redacted before it is escaped as markdown
