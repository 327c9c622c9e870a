"""The Slack bot's requests and refusals, end to end over Socket Mode (no worker needed)."""

from __future__ import annotations

from typing import Any

from bot.slack import ids
from orchestration.runtime.settings import SlackSettings
from tests.fakes.slack import (
    message_shortcut,
    slash_command,
    thread_reply_event,
    view_submission,
)
from tests.slack.conftest import StartBot

USER, CHANNEL = "U0REPORTER", "C0BUGS"
REPO = "https://github.com/acme/shop"


def modal_state(
    *,
    title: str = "",
    extra: str = "",
    selected: list[str] | None = None,
    budget: str | None = None,
) -> dict[str, Any]:
    """`view.state.values` as Slack sends it for the new-task modal."""
    return {
        ids.TITLE: {ids.input_id(ids.TITLE): {"type": "plain_text_input", "value": title or None}},
        ids.DESCRIPTION: {
            ids.input_id(ids.DESCRIPTION): {"type": "plain_text_input", "value": None}
        },
        ids.REPOSITORIES: {
            ids.input_id(ids.REPOSITORIES): {
                "type": "multi_static_select",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": s}, "value": s} for s in selected or []
                ],
            }
        },
        ids.EXTRA_REPOSITORIES: {
            ids.input_id(ids.EXTRA_REPOSITORIES): {
                "type": "plain_text_input",
                "value": extra or None,
            }
        },
        ids.REQUIRE_APPROVAL: {
            ids.input_id(ids.REQUIRE_APPROVAL): {
                "type": "checkboxes",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": "Ask"}, "value": "yes"}
                ],
            }
        },
        ids.BUDGET: {ids.input_id(ids.BUDGET): {"type": "number_input", "value": budget}},
    }


async def test_fixbug_with_title_and_repository_starts_a_task_after_the_ack(
    start_bot: StartBot,
) -> None:
    """`/fixbug <title> <repo>` is acknowledged at once and starts exactly that task."""
    bot = await start_bot()
    envelope = await bot.slack.send(slash_command(f"Login fails <{REPO}#develop>", USER, CHANNEL))
    _, seconds = await bot.slack.wait_for_ack(envelope)
    assert seconds < 3.0
    tasks = await _eventually(bot.started_tasks, 1)
    task = tasks[0]
    assert (task.title, task.requester) == ("Login fails", USER)
    assert [(r.url, r.branch) for r in task.repositories] == [(REPO, "develop")]
    assert task.origin.kind == "slack" and task.origin.channel == CHANNEL


async def test_fixbug_without_repository_opens_the_modal_with_the_title(
    start_bot: StartBot,
) -> None:
    """With no repository given or configured, /fixbug opens the form, title filled in."""
    bot = await start_bot(SlackSettings(repositories=[REPO, "https://github.com/acme/api"]))
    await bot.slack.send(slash_command("Checkout is slow", USER, CHANNEL))
    call = await bot.slack.wait_for_call("views.open")
    view = call.params["view"]
    assert view["callback_id"] == ids.NEW_TASK_MODAL
    assert "Checkout is slow" in str(view["blocks"]) and REPO in str(view["blocks"])
    assert not await bot.started_tasks()


async def test_channel_default_repositories_start_at_once(start_bot: StartBot) -> None:
    """A channel with default repositories needs only a title."""
    bot = await start_bot(SlackSettings(channel_repositories={CHANNEL: [REPO]}))
    await bot.slack.send(slash_command("Totals are wrong", USER, CHANNEL))
    tasks = await _eventually(bot.started_tasks, 1)
    assert [r.url for r in tasks[0].repositories] == [REPO]


async def test_disallowed_repository_is_refused_with_the_reason(start_bot: StartBot) -> None:
    """A repository on a host that is not allowed gets a clear reply; nothing starts."""
    bot = await start_bot()
    await bot.slack.send(slash_command("Bug https://evil.example/acme/shop", USER, CHANNEL))
    response = await bot.slack.wait_for_response()
    assert "host 'evil.example' is not allowed" in str(response.body)
    assert not await bot.started_tasks()


async def test_channel_not_allowed_is_refused(start_bot: StartBot) -> None:
    """Only the configured channels take tasks; elsewhere the person is told so."""
    bot = await start_bot(SlackSettings(start_channels=["C0ALLOWED"]))
    await bot.slack.send(slash_command(f"Bug {REPO}", USER, CHANNEL))
    response = await bot.slack.wait_for_response()
    assert "does not take tasks in this channel" in str(response.body)
    assert not await bot.started_tasks()


async def test_user_group_members_may_start_and_others_may_not(start_bot: StartBot) -> None:
    """Start rights from a user group are resolved through the API (and cached)."""
    bot = await start_bot(SlackSettings(start_usergroups=["S0ONCALL"]))
    bot.slack.set_usergroup("S0ONCALL", [USER])
    await bot.slack.send(slash_command(f"Bug {REPO}", "U0OUTSIDER", CHANNEL))
    response = await bot.slack.wait_for_response()
    assert "not allowed to start" in str(response.body)
    await bot.slack.send(slash_command(f"Bug {REPO}", USER, CHANNEL))
    await _eventually(bot.started_tasks, 1)
    assert len(bot.slack.calls_to("usergroups.users.list")) == 1  # cached


async def test_modal_errors_are_shown_next_to_their_fields(start_bot: StartBot) -> None:
    """Empty title, no repository, a bad line and a bad budget come back inline."""
    bot = await start_bot()
    state = modal_state(extra="--upload-pack=touch /tmp/x", budget="-2")
    envelope = await bot.slack.send(
        view_submission(ids.NEW_TASK_MODAL, state, USER, '{"channel_id": "C0BUGS"}')
    )
    ack, _ = await bot.slack.wait_for_ack(envelope)
    assert ack is not None and ack["response_action"] == "errors"
    errors = ack["errors"]
    assert ids.TITLE in errors and ids.BUDGET in errors
    assert "must not start with '-'" in errors[ids.EXTRA_REPOSITORIES]
    assert not await bot.started_tasks()


async def test_modal_submission_starts_once_even_when_redelivered(start_bot: StartBot) -> None:
    """A valid form starts the task; the same submission delivered again starts nothing new."""
    bot = await start_bot(SlackSettings(repositories=[REPO]))
    state = modal_state(title="Refunds double count", selected=[REPO], budget="2.5")
    payload = view_submission(ids.NEW_TASK_MODAL, state, USER, '{"channel_id": "C0BUGS"}')
    envelope = await bot.slack.send(payload)
    ack, _ = await bot.slack.wait_for_ack(envelope)
    assert ack is None
    again = await bot.slack.redeliver(envelope)
    await bot.slack.wait_for_ack(again)
    tasks = await _eventually(bot.started_tasks, 1)
    assert len(await bot.started_tasks()) == 1
    assert tasks[0].budget_usd == 2.5 and tasks[0].origin.kind == "slack"


async def test_message_shortcut_opens_the_modal_prefilled_with_a_link(start_bot: StartBot) -> None:
    """'Fix this bug' on a message opens the form with its text and a link back to it."""
    bot = await start_bot()
    source = bot.slack.add_user_message(CHANNEL, "Search returns nothing for 'café'", user=USER)
    await bot.slack.send(
        message_shortcut(
            ids.SHORTCUT_FIX_THIS, str(source["text"]), str(source["ts"]), CHANNEL, USER
        )
    )
    call = await bot.slack.wait_for_call("views.open")
    blocks = str(call.params["view"]["blocks"])
    assert "Search returns nothing" in blocks
    assert f"/archives/{CHANNEL}/p" in blocks


async def test_thread_reply_to_no_task_is_ignored(start_bot: StartBot) -> None:
    """A reply in a thread fixbot did not start is looked up once and then ignored."""
    bot = await start_bot()
    root = bot.slack.add_user_message(CHANNEL, "lunch?", user=USER)
    envelope = await bot.slack.send(thread_reply_event(CHANNEL, str(root["ts"]), "pizza", USER))
    await bot.slack.wait_for_ack(envelope)
    await bot.slack.wait_for_call("conversations.replies")
    assert not await bot.started_tasks()
    assert not bot.slack.calls_to("chat.postMessage")


async def test_help_explains_the_command(start_bot: StartBot) -> None:
    """`/fixbug help` answers with how to use it."""
    bot = await start_bot()
    await bot.slack.send(slash_command("help", USER, CHANNEL))
    response = await bot.slack.wait_for_response()
    assert "/fixbug" in str(response.body)


async def _eventually(fetch: Any, count: int, tries: int = 100) -> Any:
    import asyncio

    for _ in range(tries):
        found = await fetch()
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count}, found {len(found)}")


async def test_over_long_title_is_refused_with_the_limit(start_bot: StartBot) -> None:
    """A title past the limit gets the specific problem back; nothing starts."""
    bot = await start_bot()
    await bot.slack.send(slash_command(f"{'x' * 300} {REPO}", USER, CHANNEL))
    response = await bot.slack.wait_for_response()
    assert "title: 300 characters, at most 200" in str(response.body)
    assert not await bot.started_tasks()
