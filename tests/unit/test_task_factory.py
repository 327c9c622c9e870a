"""orchestration.client.task_factory: tasks get the deployment's defaults and valid ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from orchestration.client.task_factory import make_task, new_task_id
from orchestration.models import RepositorySpec
from orchestration.policy.validation import RepositoryRules, validate_task
from orchestration.runtime.settings import (
    AgentSettings,
    ApprovalSettings,
    GitSettings,
    Settings,
)

REPOS = [RepositorySpec(url="https://github.com/acme/calc", branch="main", name="calc")]


def settings() -> Settings:
    """Settings built directly (no environment, no .env) with non-default values."""
    return Settings.model_construct(
        agent=AgentSettings(model="claude-opus-5-5", budget_usd=2.5, timeout_seconds=900),
        approval=ApprovalSettings(
            approvers=["bob"], allow_self_approval=True, timeout_seconds=7200
        ),
        git=GitSettings(draft_pull_requests=True),
    )


def test_make_task_applies_settings_defaults() -> None:
    """Budget, model, timeouts, approval policy and draft come from settings."""
    task = make_task(settings(), title="  add() subtracts  ", repositories=REPOS, requester="alice")
    assert task.title == "add() subtracts"
    assert task.budget_usd == 2.5
    assert task.model == "claude-opus-5-5"
    assert task.agent_timeout_seconds == 900
    assert task.approval_timeout_seconds == 7200
    assert task.policy.approvers == ["bob"]
    assert task.policy.allow_self_approval is True
    assert task.draft is True
    assert task.require_approval is True


def test_explicit_choices_win_over_settings() -> None:
    """A budget, model or task id the person chose is kept."""
    task = make_task(
        settings(),
        title="t",
        repositories=REPOS,
        requester="alice",
        budget_usd=0.5,
        model="claude-haiku",
        task_id="my-task.1",
    )
    assert (task.budget_usd, task.model, task.task_id) == (0.5, "claude-haiku", "my-task.1")


def test_policy_is_a_copy_of_the_settings_list() -> None:
    """Changing the task's approver list does not change the settings it came from."""
    source = settings()
    task = make_task(source, title="t", repositories=REPOS, requester="alice")
    task.policy.approvers.append("mallory")
    assert source.approval.approvers == ["bob"]


def test_created_at_is_utc_to_the_second() -> None:
    """created_at is an aware UTC time without microseconds."""
    before = datetime.now(UTC).replace(microsecond=0)
    task = make_task(settings(), title="t", repositories=REPOS, requester="alice")
    assert task.created_at.tzinfo is UTC
    assert task.created_at.microsecond == 0
    assert task.created_at >= before


def test_generated_id_passes_validation() -> None:
    """A generated task id satisfies validation's id rule, so a default task validates."""
    for _ in range(20):
        task = make_task(settings(), title="t", repositories=REPOS, requester="alice")
        validate_task(task, RepositoryRules())


def test_new_task_id_is_date_then_random_hex() -> None:
    """Ids look like `20261124-3fa9c2`: the UTC date, then 6 random hex digits."""
    task_id = new_task_id(datetime(2026, 11, 24, 23, 59, tzinfo=UTC))
    assert re.fullmatch(r"20261124-[0-9a-f]{6}", task_id)


def test_new_task_ids_differ() -> None:
    """Ids made at the same moment are (almost always) different."""
    moment = datetime(2026, 11, 24, tzinfo=UTC)
    assert len({new_task_id(moment) for _ in range(50)}) >= 49
