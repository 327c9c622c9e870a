"""The pure pull request title and body builders."""

from __future__ import annotations

from orchestration.forge.pr_body import (
    BODY_LIMIT,
    TITLE_LIMIT,
    pull_request_body,
    pull_request_title,
)
from orchestration.models import FileChange, PullRequestRef, RepositoryChange, RepositorySpec
from tests.forge.gitrepo import task_input

CHANGE = RepositoryChange(
    repository=RepositorySpec(url="https://github.com/acme/shop", name="shop"),
    base_commit="0" * 40,
    files=[
        FileChange(path="shop/cart.py", additions=3, deletions=1),
        FileChange(path="a|b.py", additions=1, deletions=0),
    ],
    patch="",
    patch_sha256="",
)
RELATED = [
    PullRequestRef(
        repository="api",
        branch="fixbot/task-123",
        url="https://github.com/acme/api/pull/7",
        number=7,
    )
]


def test_title_is_prefixed_single_line_and_capped() -> None:
    """The title is `fixbot: <title>` on one line, at most 256 characters."""
    assert pull_request_title(task_input(title="Crash\n when  empty")) == "fixbot: Crash when empty"
    long = pull_request_title(task_input(title="x" * 1000))
    assert len(long) == TITLE_LIMIT and long.endswith("…")


def test_body_has_every_part() -> None:
    """Description, summary, file table, diffstat, cost, ticket, run and related links are there."""
    task = task_input(ticket_url="https://tickets.example.com/BUG-1")
    body = pull_request_body(
        task, CHANGE, "Guarded the division.", 0.4213, "https://t.example/run/1", RELATED
    )
    assert "> Opening an empty cart raises ZeroDivisionError." in body
    assert "Guarded the division." in body
    assert "| `shop/cart.py` | +3 | -1 |" in body
    assert "| `a\\|b.py` | +1 | -0 |" in body
    assert "2 file(s) changed, +4 -1" in body
    assert "agent cost $0.42" in body
    assert "[https://tickets.example.com/BUG-1](<https://tickets.example.com/BUG-1>)" in body
    assert "[Temporal run](<https://t.example/run/1>)" in body
    assert "## Related pull requests" in body
    assert "- [api](<https://github.com/acme/api/pull/7>) (#7)" in body
    assert "`task-123`" in body


def test_single_repository_body_has_no_related_section_or_ticket() -> None:
    """Without related pull requests, ticket or run URL those parts are left out."""
    body = pull_request_body(task_input(), CHANGE, "", 0.0, None, [])
    assert "Related pull requests" not in body
    assert "Ticket" not in body
    assert "Temporal run" not in body
    assert "_The agent gave no summary._" in body


def test_body_is_capped_and_keeps_its_links() -> None:
    """Huge description and summary are cut so the body fits GitHub's limit, links intact."""
    task = task_input(description="d" * 100_000, ticket_url="https://tickets.example.com/BUG-1")
    body = pull_request_body(task, CHANGE, "s" * 100_000, 1.0, "https://t.example/run/1", RELATED)
    assert len(body) <= BODY_LIMIT
    assert body.count("*…truncated*") == 2
    assert "(<https://github.com/acme/api/pull/7>)" in body
    assert "[Temporal run](<https://t.example/run/1>)" in body


def test_long_file_list_is_shortened() -> None:
    """Only the first 200 files are listed; the rest are counted."""
    files = [FileChange(path=f"f{i}.py", additions=1, deletions=1) for i in range(250)]
    body = pull_request_body(
        task_input(), CHANGE.model_copy(update={"files": files}), "x", 0, None, []
    )
    assert "`f199.py`" in body and "`f200.py`" not in body
    assert "…and 50 more" in body
