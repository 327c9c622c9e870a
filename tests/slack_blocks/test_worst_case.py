"""Every builder stays within Slack's limits with absurdly large input."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import (
    approval_card,
    decided_card,
    milestone_message,
    new_task_modal,
    task_root_message,
)
from orchestration.models import (
    ChangeSet,
    FileChange,
    NoticeKind,
    RepositoryChange,
    TaskStatus,
)
from orchestration.models.events import EventDelivery
from tests.slack_blocks import factories as f
from tests.slack_blocks.slack_rules import message_problems, modal_problems, mrkdwn_texts

HUGE = ("<!channel> <https://evil|click> ```\n" + "x" * 97 + "\n```\n") * 1000  # ~140 KB
REPOSITORIES = 30
FILES = 500


def huge_changes() -> ChangeSet:
    """30 repositories, 500 files in all, with long paths."""
    per_repo = [FILES // REPOSITORIES + (1 if i < FILES % REPOSITORIES else 0) for i in range(30)]
    return ChangeSet(
        repositories=[
            RepositoryChange(
                repository=f.repo(f"repository-with-a-long-name-{r}", "fix/" + "b" * 200),
                base_commit="0" * 40,
                files=[
                    FileChange(path=f"src/{'deep/' * 60}file_{i}.py", additions=i, deletions=i)
                    for i in range(count)
                ],
                patch="",
                patch_sha256="",
            )
            for r, count in enumerate(per_repo)
        ]
    )


def huge_notice(kind: NoticeKind) -> EventDelivery:
    """A delivery where every free-text field is enormous."""
    task = f.task(
        title=HUGE[:10_000],
        description=HUGE,
        repositories=[f.repo(f"repository-with-a-long-name-{r}") for r in range(REPOSITORIES)],
        requester="U012ABCDEF",
    )
    view = f.view(
        TaskStatus.AWAITING_APPROVAL,
        summary=HUGE,
        question=HUGE,
        last_progress=HUGE,
        error=HUGE,
        changes=huge_changes(),
        pull_requests=[f.pull_request(f"r{i}", i) for i in range(REPOSITORIES)],
        decision=f.record(False, "U0BOSS", HUGE),
        result=f.result(),
    )
    return f.delivery(kind, view, the_task=task, text=HUGE, run_url=f.RUN_URL + "?" + "q" * 1500)


def messages() -> list[tuple[str, dict[str, Any]]]:
    """Every message builder on the huge notice."""
    notice = huge_notice(NoticeKind.CHANGES_READY)
    built = [
        ("root", task_root_message(notice)),
        ("card", approval_card(notice, 3)),
        ("decided", decided_card(notice, f.record(True, "U0BOSS", HUGE))),
        ("changes", decided_card(notice, f.record(False, comment=HUGE), changes_requested=True)),
    ]
    built += [(k.value, milestone_message(huge_notice(k))) for k in NoticeKind]
    return built


@pytest.mark.parametrize(
    ("name", "message"), messages(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_huge_input_stays_within_limits(name: str, message: dict[str, Any]) -> None:
    """No block, text, element or count exceeds Slack's limits."""
    assert message_problems(message) == []
    assert len(message["text"]) <= 1000


@pytest.mark.parametrize(
    ("name", "message"), messages(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_huge_input_cannot_inject(name: str, message: dict[str, Any]) -> None:
    """However big, user text never becomes a broadcast or a link."""
    for text in mrkdwn_texts(message):
        assert "<!channel>" not in text
        assert "<https://evil" not in text
    for text in mrkdwn_texts(message["blocks"]):
        assert text.count("```") % 2 == 0, "a cut left a code fence open"


def test_approval_card_block_count_in_the_worst_case() -> None:
    """30 repositories and 500 files: the card keeps its buttons well under 50 blocks."""
    card = approval_card(huge_notice(NoticeKind.CHANGES_READY), 1)
    assert len(card["blocks"]) <= 20
    assert card["blocks"][-1]["type"] == "actions"
    text = "\n".join(mrkdwn_texts(card))
    assert "…and 20 more repositories" in text
    assert "more files" in text


def test_truncated_summary_ends_with_the_run_link() -> None:
    """The cut summary points to the run."""
    notice = huge_notice(NoticeKind.CHANGES_READY)
    summary = approval_card(notice, 1)["blocks"][2]["text"]["text"]
    assert summary.endswith("|in the run>)")


def test_new_task_modal_with_huge_prefill() -> None:
    """The modal stays valid with a 140 KB description and a 10 KB title."""
    view = new_task_modal(
        title=HUGE[:10_000],
        description=HUGE,
        repository_options=[f"https://github.com/acme/r{i}" for i in range(500)],
        preselected=[f"https://github.com/acme/x{i}#{'b' * 100}" for i in range(100)],
        source_link="https://acme.slack.com/archives/C1/p1",
        private_metadata="{}",
    )
    assert modal_problems(view) == []
