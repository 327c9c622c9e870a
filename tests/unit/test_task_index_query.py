"""The task index's pure parts: queries from filters, labels, repository keys, the command."""

from __future__ import annotations

import pytest

from orchestration.client.registration import registration_command
from orchestration.client.task_index import (
    InvalidFilter,
    TaskFilter,
    build_query,
    quote,
    repository_filter,
)
from orchestration.models import TaskStatus
from orchestration.models.index import (
    REPOSITORIES,
    STATE,
    Outcome,
    outcome_of,
    repository_key,
    status_label,
)


def test_no_filter_selects_only_fixbot_tasks() -> None:
    """The bare query names the workflow type and leaves out runs that continued as new."""
    assert build_query(TaskFilter()) == (
        "WorkflowType = 'BugFixWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"
    )


def test_single_quotes_are_doubled_inside_one_literal() -> None:
    """A quote in a value stays inside the string literal."""
    assert quote("x' OR 'a'='a", "requester") == "'x'' OR ''a''=''a'"


@pytest.mark.parametrize("value", ["a\\b", 'a"b', "a\nb", "a\x00b", ""])
def test_values_the_server_misreads_are_refused(value: str) -> None:
    """Backslashes, double quotes, control characters and empty values never reach a query."""
    with pytest.raises(InvalidFilter, match="requester"):
        build_query(TaskFilter(requester=value))


def test_filters_combine_with_and() -> None:
    """State, requester and repository each add one clause."""
    query = build_query(
        TaskFilter(state="rejected", requester="cli:ann", repository="https://h/a/b.git")
    )
    assert query == (
        "WorkflowType = 'BugFixWorkflow' AND ExecutionStatus != 'ContinuedAsNew' "
        "AND FixbotState = 'rejected' "
        "AND FixbotRequester = 'cli:ann' AND FixbotRepositories = 'https://h/a/b'"
    )


@pytest.mark.parametrize(
    ("state", "clause"),
    [
        ("awaiting_approval", "FixbotState = 'awaiting_approval'"),
        ("Awaiting approval", "FixbotState = 'awaiting_approval'"),
        ("pr_opened", "FixbotOutcome = 'pr_opened'"),
        ("pull-request-opened", "FixbotOutcome = 'pr_opened'"),
        ("no change needed", "FixbotOutcome = 'no_change'"),
        ("in progress", "FixbotOutcome = 'in_progress'"),
        ("creating_prs", "FixbotState = 'creating_prs'"),
    ],
)
def test_state_accepts_statuses_outcomes_and_labels(state: str, clause: str) -> None:
    """People type what they read in the listing; it maps onto one attribute."""
    assert build_query(TaskFilter(state=state)).endswith(" AND " + clause)


def test_state_groups_list_their_statuses() -> None:
    """`ended` is every terminal status, `active` every other one."""
    ended = build_query(TaskFilter(state="ended"))
    assert all(f"'{s.value}'" in ended for s in TaskStatus if s.is_terminal)
    assert "'running'" not in ended
    assert "FixbotState IN ('pending', 'provisioning'" in build_query(TaskFilter(state="active"))


def test_unknown_state_lists_the_choices() -> None:
    """A typo is refused with every accepted value named."""
    with pytest.raises(InvalidFilter, match=r"pr_opened.*running.*ended"):
        build_query(TaskFilter(state="done"))


def test_outcome_labels_never_say_completed() -> None:
    """A completed task reads as its pull request; working steps read as in progress."""
    assert status_label(TaskStatus.COMPLETED) == "pull request opened"
    assert status_label(TaskStatus.REJECTED) == "rejected"
    assert status_label(TaskStatus.NO_CHANGE) == "no change needed"
    assert status_label(TaskStatus.CREATING_PRS) == "in progress (creating prs)"
    assert outcome_of(TaskStatus.PREPARING) is Outcome.IN_PROGRESS
    assert {outcome_of(s) for s in TaskStatus} == set(Outcome)


@pytest.mark.parametrize(
    "spelling",
    [
        "https://github.com/Acme/shop",
        "https://GitHub.com/Acme/shop/",
        "https://github.com/Acme/shop.git",
        "HTTPS://github.com/Acme/shop#main",
    ],
)
def test_repository_spellings_share_one_key(spelling: str) -> None:
    """Host and scheme case, a trailing slash, `.git` and a branch do not matter; the path
    keeps its case."""
    assert repository_key(spelling) == "https://github.com/Acme/shop"


def test_owner_and_name_expand_to_the_forge_host() -> None:
    """`--repo acme/shop` means the repository on the configured web host."""
    assert repository_filter("acme/shop", "ghe.example.com") == "https://ghe.example.com/acme/shop"
    assert repository_filter("https://h/a/b", "github.com") == "https://h/a/b"


def test_registration_command_has_one_line_per_attribute() -> None:
    """The CLI registers only the first of several --name flags, so each gets its own line."""
    command = registration_command([STATE, REPOSITORIES], "prod", "temporal:7233")
    assert command.splitlines() == [
        "temporal operator search-attribute create --address temporal:7233 --namespace prod "
        "--name FixbotState --type Keyword",
        "temporal operator search-attribute create --address temporal:7233 --namespace prod "
        "--name FixbotRepositories --type KeywordList",
    ]
