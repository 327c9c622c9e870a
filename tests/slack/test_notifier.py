"""The Slack notifier against the Slack fake: Slack's errors never fail a task."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.notifier import SlackNotifier
from orchestration.models import (
    Notice,
    NoticeKind,
    RepositorySpec,
    SlackOrigin,
    SlackThread,
    TaskInput,
    TaskStatus,
    TaskView,
)
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


def notifier(fake: FakeSlack) -> SlackNotifier:
    from bot.slack.app import slack_client
    from orchestration.runtime.settings import Settings

    settings = Settings(_env_file=None, slack_bot_token="xoxb-test", slack_api_url=fake.api_url)  # type: ignore[call-arg, arg-type]
    return SlackNotifier(slack_client(settings), lambda w, r: None, edit_interval_seconds=60)


def notice(kind: NoticeKind, thread: SlackThread | None = None, channel: str = "C0BUGS") -> Notice:
    task = TaskInput(
        task_id="slack-abc",
        title="Totals wrong",
        requester="U0REPORTER",
        repositories=[RepositorySpec(url="https://github.com/acme/shop", name="shop")],
        slack=SlackOrigin(channel_id=channel),
        created_at=datetime(2026, 11, 24, tzinfo=UTC),
    )
    view = TaskView(task_id=task.task_id, title=task.title, status=TaskStatus.RUNNING)
    return Notice(kind=kind, task=task, view=view, thread=thread, text="Edit pricing.py")


async def test_root_message_carries_the_task_id_in_its_metadata(fake: FakeSlack) -> None:
    """The root message is findable from any reply in its thread."""
    receipt = await notifier(fake).notify(notice(NoticeKind.STARTED))
    assert receipt.ts is not None
    message = fake.message("C0BUGS", receipt.ts)
    assert message["metadata"]["event_payload"]["task_id"] == "slack-abc"


async def test_rate_limited_post_waits_retry_after_and_is_delivered(fake: FakeSlack) -> None:
    """Slack answering 429 rate_limited is waited out (Retry-After) and the post goes through."""
    fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=1)
    started = time.monotonic()
    receipt = await notifier(fake).notify(notice(NoticeKind.STARTED))
    assert receipt.ts is not None
    assert time.monotonic() - started >= 1.0
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_channel_not_found_is_dropped_with_an_empty_receipt(fake: FakeSlack) -> None:
    """A permanent Slack error is not raised (the task goes on); the receipt is empty."""
    fake.fail_next("chat.postMessage", "channel_not_found")
    receipt = await notifier(fake).notify(notice(NoticeKind.STARTED, channel="C0GONE"))
    assert receipt.ts is None and receipt.channel_id is None


async def test_a_transient_error_is_raised_for_temporal_to_retry(fake: FakeSlack) -> None:
    """An error a retry may fix (Slack's 500) is raised, so the activity is retried."""
    fake.fail_next("chat.postMessage", "internal_error", status=500)
    with pytest.raises(SlackApiError):
        await notifier(fake).notify(notice(NoticeKind.STARTED))


async def test_progress_edits_of_the_status_line_are_throttled(fake: FakeSlack) -> None:
    """Many progress notices in a row edit the root message once within the interval."""
    slack = notifier(fake)
    root = await slack.notify(notice(NoticeKind.STARTED))
    assert root.ts is not None and root.channel_id is not None
    thread = SlackThread(channel_id=root.channel_id, root_ts=root.ts)
    for _ in range(5):
        await slack.notify(notice(NoticeKind.PROGRESS, thread))
    assert len(fake.calls_to("chat.update")) == 1
