"""Who may start a task from Slack: the pure rule."""

from __future__ import annotations

from bot.slack.access import start_refusal
from orchestration.runtime.settings import SlackSettings


def test_anyone_anywhere_when_nothing_is_configured() -> None:
    """No channel, user or group rules: everyone may start tasks."""
    assert (
        start_refusal(
            user_id="U1X", channel_id="C1X", settings=SlackSettings(), group_members=set()
        )
        is None
    )


def test_only_the_configured_channels() -> None:
    """A channel list limits where tasks may start."""
    settings = SlackSettings(start_channels=["C0OK"])
    assert (
        start_refusal(user_id="U1X", channel_id="C0OK", settings=settings, group_members=set())
        is None
    )
    refusal = start_refusal(
        user_id="U1X", channel_id="C0NO", settings=settings, group_members=set()
    )
    assert refusal == "fixbot does not take tasks in this channel"


def test_users_or_group_members_only_when_configured() -> None:
    """With users or groups configured, only they may start; group members count."""
    settings = SlackSettings(start_users=["U0ALICE"], start_usergroups=["S0TEAM"])
    allowed = {"U0BOB"}
    assert (
        start_refusal(user_id="U0ALICE", channel_id="C1", settings=settings, group_members=allowed)
        is None
    )
    assert (
        start_refusal(user_id="U0BOB", channel_id="C1", settings=settings, group_members=allowed)
        is None
    )
    refusal = start_refusal(
        user_id="U0EVE", channel_id="C1", settings=settings, group_members=allowed
    )
    assert refusal == "you are not allowed to start fixbot tasks"
