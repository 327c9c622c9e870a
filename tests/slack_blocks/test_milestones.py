"""Thread replies for each milestone, with meaningful fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import milestone_message
from orchestration.models import NoticeKind, TaskStatus
from tests.slack_blocks import factories as f
from tests.slack_blocks.slack_rules import message_problems, mrkdwn_texts


def body(message: dict[str, Any]) -> str:
    return "\n".join(mrkdwn_texts(message))


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_kind_builds_a_valid_message(kind: NoticeKind) -> None:
    """Each notice kind's event gives a message within Slack's limits with a non-empty fallback."""
    message = milestone_message(f.delivery(kind))
    assert message_problems(message) == []
    assert message["text"]
    assert not any(b["type"] == "actions" for b in message["blocks"])


def test_sandbox_ready() -> None:
    """Sandbox ready says how many repositories are being prepared."""
    message = milestone_message(f.delivery(NoticeKind.SANDBOX_READY))
    assert "Sandbox ready — preparing 1 repository" in body(message)


def test_agent_working_shows_the_latest_action_escaped() -> None:
    """The agent's latest action is shown, escaped."""
    delivery = f.delivery(NoticeKind.AGENT_WORKING, text="Edit <b>.py")
    assert "Latest: Edit &lt;b&gt;.py" in body(milestone_message(delivery))


def test_question_mentions_the_requester_and_says_how_to_answer() -> None:
    """The question mentions the requester, quotes the question, asks for a thread reply."""
    view = f.view(TaskStatus.RUNNING, question="Which rounding mode?\n<!channel>")
    message = milestone_message(f.delivery(NoticeKind.QUESTION, view))
    text = body(message)
    assert "<@U012ABCDEF>" in text
    assert ">Which rounding mode?\n>&lt;!channel&gt;" in text
    assert "reply in this thread to answer" in text.lower()
    assert "Which rounding mode?" in message["text"]


def test_pr_opened_links_each_pull_request() -> None:
    """Each pull request is linked by repository and number."""
    view = f.view(pull_requests=[f.pull_request("calc", 7), f.pull_request("web", 9)])
    message = milestone_message(f.delivery(NoticeKind.PR_OPENED, view))
    text = body(message)
    assert "<https://github.com/acme/calc/pull/7|acme/calc#7>" in text
    assert "<https://github.com/acme/web/pull/9|acme/web#9>" in text
    assert "https://github.com/acme/web/pull/9" in message["text"]


def test_no_change_gives_the_explanation() -> None:
    """No change shows the agent's explanation."""
    view = f.view(TaskStatus.NO_CHANGE, summary="add() is already correct")
    message = milestone_message(f.delivery(NoticeKind.NO_CHANGE, view))
    assert "add() is already correct" in body(message)


def test_failed_one_line_reason_is_escaped() -> None:
    """A one-line failure reason is shown escaped, not in a code block."""
    delivery = f.delivery(NoticeKind.FAILED, text="clone failed <!channel>")
    message = milestone_message(delivery)
    assert "clone failed &lt;!channel&gt;" in body(message)
    assert "```" not in body(message)
    assert message["text"] == "The task failed: clone failed &lt;!channel&gt;"


def test_failed_multi_line_reason_is_a_code_block() -> None:
    """A multi-line reason is in a code block, fences balanced even when cut."""
    delivery = f.delivery(NoticeKind.FAILED, text="Traceback:\n" + "  frame\n" * 2000)
    text = body(milestone_message(delivery))
    assert "```\nTraceback:" in text
    assert text.count("```") % 2 == 0


def test_rejected_names_who_and_why() -> None:
    """A rejection reply names the person and the reason."""
    view = f.view(TaskStatus.REJECTED, decision=f.record(False, "U0BOSS", "not this way"))
    message = milestone_message(f.delivery(NoticeKind.REJECTED, view))
    assert "Rejected by <@U0BOSS>" in body(message)
    assert "not this way" in body(message)


def test_completed_links_prs_and_shows_cost_tokens_duration() -> None:
    """Completion lists the PRs and the cost, tokens and total duration."""
    view = f.view(TaskStatus.COMPLETED, current_step=None, result=f.result())
    message = milestone_message(f.delivery(NoticeKind.COMPLETED, view))
    text = body(message)
    assert "<https://github.com/acme/calc/pull/7|acme/calc#7>" in text
    assert "$0.31" in text and "15.4k tokens" in text and "3m 25s" in text


@pytest.mark.parametrize("kind", [NoticeKind.CANCELLED, NoticeKind.EXPIRED])
def test_ending_kinds_read_as_endings(kind: NoticeKind) -> None:
    """Cancelled and expired say so."""
    message = milestone_message(f.delivery(kind, text="by <@U1>"))
    assert kind.value[:6] in message["text"].lower()
    assert "by &lt;@U1&gt;" in body(message)
