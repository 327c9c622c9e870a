"""The task's root message: header, requester, repositories, status line, buttons."""

from __future__ import annotations

import pytest

from bot.slack import ids
from bot.slack.blocks import status_line, task_root_message
from orchestration.models import Step, TaskStatus
from tests.slack_blocks import factories as f
from tests.slack_blocks.slack_rules import buttons, message_problems, mrkdwn_texts


def test_root_message_shows_title_requester_repositories_and_status() -> None:
    """The message names the title, mentions the requester, links the repo, shows the status."""
    message = task_root_message(f.root(f.task(), f.view(), f.RUN_URL))
    assert message_problems(message) == []
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":beetle: add() subtracts", "emoji": True},
    }
    texts = "\n".join(mrkdwn_texts(message))
    assert "<@U012ABCDEF>" in texts
    assert "<https://github.com/acme/calc|calc>* on `main`" in texts
    assert ":hourglass_flowing_sand: Running — agent: Edit pricing.py — $0.12" in texts
    assert "add() subtracts" in message["text"]


def test_status_line_reads_like_the_example() -> None:
    """Emoji, status words, step and progress, cost so far."""
    assert status_line(f.root(None, f.view())) == (
        ":hourglass_flowing_sand: Running — agent: Edit pricing.py — $0.12"
    )


def test_status_line_escapes_progress_and_drops_it_when_ended() -> None:
    """Progress is escaped; an ended task shows no step."""
    running = f.view(last_progress="<!channel> ran `rm`", current_step=Step.AGENT)
    assert "&lt;!channel&gt;" in status_line(f.root(None, running))
    done = f.view(TaskStatus.COMPLETED, current_step=None, cost_usd=0.31)
    assert status_line(f.root(None, done)) == ":white_check_mark: Completed — $0.31"


def test_requester_that_is_not_a_slack_id_is_plain_text() -> None:
    """A CLI requester name is shown, not turned into a mention."""
    message = task_root_message(f.root(f.task(requester="alice"), f.view(), None))
    texts = "\n".join(mrkdwn_texts(message))
    assert "Requested by alice" in texts
    assert "<@" not in texts


def test_buttons_carry_the_ids_and_the_task_id() -> None:
    """View run links to the run; Cancel is red, confirmed and carries the task id."""
    view_run, cancel = buttons(task_root_message(f.root(f.task(), f.view(), f.RUN_URL)))
    assert view_run["action_id"] == ids.OPEN_RUN
    assert view_run["url"] == f.RUN_URL
    assert cancel["action_id"] == ids.CANCEL
    assert cancel["value"] == f.TASK_ID
    assert cancel["style"] == "danger"
    assert cancel["confirm"]["title"]["text"]


@pytest.mark.parametrize("status", [s for s in TaskStatus if s.is_terminal])
def test_no_cancel_once_the_task_has_ended(status: TaskStatus) -> None:
    """A finished task offers no Cancel button."""
    message = task_root_message(f.root(f.task(), f.view(status, current_step=None), f.RUN_URL))
    assert [b["action_id"] for b in buttons(message)] == [ids.OPEN_RUN]


@pytest.mark.parametrize("status", [s for s in TaskStatus if not s.is_terminal])
def test_cancel_while_the_task_runs(status: TaskStatus) -> None:
    """Every non-terminal status offers Cancel."""
    message = task_root_message(f.root(f.task(), f.view(status), None))
    assert [b["action_id"] for b in buttons(message)] == [ids.CANCEL]


def test_no_actions_block_when_there_is_nothing_to_press() -> None:
    """Ended and without a run URL: no empty actions block."""
    message = task_root_message(f.root(f.task(), f.view(TaskStatus.FAILED), None))
    assert all(b["type"] != "actions" for b in message["blocks"])


def test_title_and_description_cannot_inject_mentions_or_links() -> None:
    """`<!channel>` and `<https://evil|click>` in the title/description stay text."""
    evil = "<!channel> see <https://evil|click>"
    message = task_root_message(f.root(f.task(title=evil, description=evil), f.view(), f.RUN_URL))
    for text in mrkdwn_texts(message):
        assert "<!channel>" not in text
        assert "<https://evil" not in text
    assert "&lt;!channel&gt;" in message["text"]


def test_status_line_while_waiting_for_approval_has_no_stale_progress() -> None:
    """At the approval gate the agent's last action is no longer shown."""
    waiting = f.view(TaskStatus.AWAITING_APPROVAL, current_step=Step.APPROVAL, cost_usd=0.28)
    assert status_line(f.root(None, waiting)) == ":eyes: Waiting for approval — $0.28"
