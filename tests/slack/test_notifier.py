"""The Slack channel against the Slack fake: Slack's errors never fail a task."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackApiError
from structlog.testing import capture_logs

from bot.slack.notifier import SlackChannel
from orchestration.channels.fan_out import ChannelFanOut
from orchestration.channels.log_channel import LogChannel
from orchestration.models import NoticeKind, RepositorySpec, TaskInput, TaskStatus, TaskView
from orchestration.models.event_builders import event_for, headline_of
from orchestration.models.events import EventDelivery, OriginKind, TaskOrigin, Thread
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


def channel(fake: FakeSlack) -> SlackChannel:
    from bot.slack.app import slack_client
    from orchestration.runtime.settings import Settings

    settings = Settings(_env_file=None, slack_bot_token="xoxb-test", slack_api_url=fake.api_url)  # type: ignore[call-arg, arg-type]
    return SlackChannel(slack_client(settings), lambda w, r: None, edit_interval_seconds=60)


def delivery(
    kind: NoticeKind,
    thread: Thread | None = None,
    channel: str = "C0BUGS",
    origin: OriginKind = OriginKind.SLACK,
) -> EventDelivery:
    task = TaskInput(
        task_id="slack-abc",
        title="Totals wrong",
        requester="U0REPORTER",
        repositories=[RepositorySpec(url="https://github.com/acme/shop", name="shop")],
        origin=TaskOrigin(kind=origin, channel=channel),
        created_at=datetime(2026, 11, 24, tzinfo=UTC),
    )
    view = TaskView(task_id=task.task_id, title=task.title, status=TaskStatus.RUNNING)
    headline = headline_of(task)
    event = event_for(kind, "Edit pricing.py", view, headline=headline, seq=1, at=task.created_at)
    return EventDelivery(event=event, headline=headline, thread=thread)


async def test_root_message_carries_the_task_id_in_its_metadata(fake: FakeSlack) -> None:
    """The root message is findable from any reply in its thread."""
    receipt = await channel(fake).deliver(delivery(NoticeKind.STARTED))
    assert receipt.message is not None
    message = fake.message("C0BUGS", receipt.message)
    assert message["metadata"]["event_payload"]["task_id"] == "slack-abc"


async def test_rate_limited_post_waits_retry_after_and_is_delivered(fake: FakeSlack) -> None:
    """Slack answering 429 rate_limited is waited out (Retry-After) and the post goes through."""
    fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=1)
    started = time.monotonic()
    receipt = await channel(fake).deliver(delivery(NoticeKind.STARTED))
    assert receipt.message is not None
    assert time.monotonic() - started >= 1.0
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_channel_not_found_is_dropped_with_an_empty_receipt(fake: FakeSlack) -> None:
    """A permanent Slack error is not raised by the fan-out (the task goes on), the receipt is
    empty, and the other channels still get the event."""
    fake.fail_next("chat.postMessage", "channel_not_found")
    fan_out = ChannelFanOut([channel(fake), LogChannel()])
    with capture_logs() as logs:
        receipt = await fan_out.deliver(delivery(NoticeKind.STARTED, channel="C0GONE"))
    assert receipt.message is None and receipt.channel is None
    events = [(entry["event"], entry.get("error")) for entry in logs]
    assert ("task event dropped", "slack: channel_not_found") in events
    assert ("task event", None) in events  # the log channel still got it


async def test_a_transient_error_is_raised_for_temporal_to_retry(fake: FakeSlack) -> None:
    """An error a retry may fix (Slack's 500) is raised through the fan-out, so the activity
    is retried."""
    fake.fail_next("chat.postMessage", "internal_error", status=500)
    with pytest.raises(SlackApiError):
        await ChannelFanOut([channel(fake)]).deliver(delivery(NoticeKind.STARTED))


async def test_progress_edits_of_the_status_line_are_throttled(fake: FakeSlack) -> None:
    """Many progress events in a row edit the root message once within the interval."""
    slack = channel(fake)
    root = await slack.deliver(delivery(NoticeKind.STARTED))
    assert root.message is not None and root.channel is not None
    thread = Thread(channel=root.channel, root=root.message)
    for _ in range(5):
        await slack.deliver(delivery(NoticeKind.PROGRESS, thread))
    assert len(fake.calls_to("chat.update")) == 1


async def test_a_cli_task_is_not_posted_to_slack(fake: FakeSlack) -> None:
    """The fan-out gives a CLI task's events only to channels serving the CLI origin."""
    fan_out = ChannelFanOut([channel(fake), LogChannel()])
    receipt = await fan_out.deliver(delivery(NoticeKind.STARTED, origin=OriginKind.CLI))
    assert receipt.message is None
    assert fake.calls_to("chat.postMessage") == []
