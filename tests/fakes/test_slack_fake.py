"""The fake Slack speaks the wire format the real slack_sdk and slack_bolt clients expect."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    FakeSlack,
    ThreadedFakeSlack,
    block_action,
    message_shortcut,
    slash_command,
    thread_reply_event,
    view_submission,
)

Json = dict[str, Any]
METADATA = {"event_type": "fixbot_task", "event_payload": {"task_id": "t-1", "attempt": 2}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A started fake Slack, stopped after the test."""
    async with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    """The real async Web API client pointed at the fake."""
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)


# --------------------------------------------------------------------------- Web API


async def test_auth_test_answers_as_the_bot(client: AsyncWebClient, fake: FakeSlack) -> None:
    """auth.test names the bot user, bot id and team, and the call is recorded as a bot call."""
    response = await client.auth_test()
    assert (response["user_id"], response["bot_id"], response["team_id"]) == (
        BOT_USER_ID,
        BOT_ID,
        TEAM_ID,
    )
    assert "chat:write" in response.headers["x-oauth-scopes"]
    assert fake.calls_to("auth.test")[0].token_kind == "bot"


async def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    """A token the fake does not know answers invalid_auth; none at all answers not_authed."""
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.api_url).auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    assert missing.value.response["error"] == "not_authed"


async def test_connections_open_needs_the_app_token(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    """apps.connections.open takes the xapp token and returns this server's websocket URL."""
    response = await client.apps_connections_open(app_token=APP_TOKEN)
    assert response["url"].startswith(fake.origin.replace("http", "ws") + "/socket?")
    assert fake.calls_to("apps.connections.open")[0].token_kind == "app"
    with pytest.raises(SlackApiError) as bot:
        await client.api_call("apps.connections.open")
    assert bot.value.response["error"] == "not_allowed_token_type"


async def test_unknown_method(client: AsyncWebClient) -> None:
    """A method the fake does not implement answers unknown_method."""
    with pytest.raises(SlackApiError) as error:
        await client.api_call("chat.frobnicate", json={"channel": "C1"})
    assert error.value.response["error"] == "unknown_method"


async def test_metadata_round_trips_through_conversations_replies(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    """A parent posted with metadata and its replies come back parent first, metadata intact."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Bug* found"}}]
    parent = await client.chat_postMessage(
        channel="C1", text="Bug found", blocks=blocks, metadata=METADATA
    )
    reply = await client.chat_postMessage(channel="C1", text="working", thread_ts=parent["ts"])
    human = fake.add_user_message("C1", "more detail", user="U7", thread_ts=parent["ts"])
    thread = await client.conversations_replies(
        channel="C1", ts=parent["ts"], include_all_metadata=True, limit=50
    )
    messages = thread["messages"]
    assert [m["ts"] for m in messages] == [parent["ts"], reply["ts"], human["ts"]]
    assert messages[0]["metadata"] == METADATA
    assert messages[0]["blocks"] == blocks and messages[0]["reply_count"] == 2
    assert messages[1]["thread_ts"] == parent["ts"] and messages[1]["bot_id"] == BOT_ID
    assert parent["message"]["metadata"] == METADATA
    assert fake.calls_to("chat.postMessage")[0].params["metadata"] == METADATA


async def test_replies_page_with_cursor(client: AsyncWebClient, fake: FakeSlack) -> None:
    """conversations.replies honours limit and hands out a cursor for the rest."""
    parent = await client.chat_postMessage(channel="C2", text="parent")
    for n in range(3):
        await client.chat_postMessage(channel="C2", text=f"r{n}", thread_ts=parent["ts"])
    first = await client.conversations_replies(channel="C2", ts=parent["ts"], limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    rest = await client.conversations_replies(channel="C2", ts=parent["ts"], cursor=cursor)
    assert first["has_more"] and len(first["messages"]) == 2
    assert [m["text"] for m in rest["messages"]] == ["r1", "r2"] and not rest["has_more"]


async def test_form_encoded_blocks_are_parsed(client: AsyncWebClient, fake: FakeSlack) -> None:
    """Blocks and metadata sent form-encoded as JSON strings are recorded as parsed JSON."""
    blocks = [{"type": "divider"}]
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C1", "blocks": json.dumps(blocks), "metadata": json.dumps(METADATA)},
    )
    call = fake.calls_to("chat.postMessage")[0]
    assert call.params["blocks"] == blocks and call.params["metadata"] == METADATA
    assert fake.messages("C1")[0]["blocks"] == blocks


async def test_chat_update_keeps_the_latest_content(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    """chat.update edits the stored message; an unknown ts is message_not_found."""
    posted = await client.chat_postMessage(channel="C1", text="v1")
    updated = await client.chat_update(
        channel="C1", ts=posted["ts"], text="v2", blocks=[{"type": "divider"}]
    )
    assert updated["ts"] == posted["ts"] and updated["text"] == "v2"
    assert fake.message("C1", posted["ts"])["text"] == "v2"
    assert fake.message("C1", posted["ts"])["blocks"] == [{"type": "divider"}]
    with pytest.raises(SlackApiError) as error:
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    assert error.value.response["error"] == "message_not_found"


async def test_ephemeral_and_permalink(client: AsyncWebClient, fake: FakeSlack) -> None:
    """chat.postEphemeral returns a message_ts; chat.getPermalink links a stored message."""
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert ephemeral["message_ts"] and fake.ephemerals[0]["to"] == "U1"
    posted = await client.chat_postMessage(channel="C1", text="hello")
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert link["permalink"].endswith("/archives/C1/p" + posted["ts"].replace(".", ""))


async def test_timestamps_are_unique_and_increasing(client: AsyncWebClient) -> None:
    """Every posted message gets a later `seconds.micros` ts than the one before."""
    stamps = [(await client.chat_postMessage(channel="C3", text=str(n)))["ts"] for n in range(5)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5
    assert all(len(ts.partition(".")[2]) == 6 for ts in stamps)


async def test_views_open_push_update(client: AsyncWebClient, fake: FakeSlack) -> None:
    """views.open returns an id; views.push stacks on it; views.update replaces content by id."""
    view = {"type": "modal", "callback_id": "cb", "title": {"type": "plain_text", "text": "T"}}
    opened = await client.views_open(trigger_id="1.2.abc", view={**view, "blocks": []})
    pushed = await client.views_push(trigger_id="1.2.abd", view=view)
    new_blocks = [{"type": "divider"}]
    updated = await client.views_update(
        view_id=opened["view"]["id"],
        hash=opened["view"]["hash"],
        view={**view, "blocks": new_blocks},
    )
    assert opened["view"]["id"].startswith("V") and opened["view"]["callback_id"] == "cb"
    assert pushed["view"]["previous_view_id"] == opened["view"]["id"]
    assert updated["view"]["id"] == opened["view"]["id"] and updated["view"]["blocks"] == new_blocks
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=opened["view"]["id"], hash="old", view=view)
    assert stale.value.response["error"] == "hash_conflict"
    assert len(fake.views) == 2


async def test_usergroups_and_users(client: AsyncWebClient, fake: FakeSlack) -> None:
    """usergroups.users.list returns configured members; users.info returns a user record."""
    fake.set_usergroup("S123", ["U1", "U2"])
    fake.set_user("U2", real_name="Grace Hopper")
    members = await client.usergroups_users_list(usergroup="S123")
    user = await client.users_info(user="U2")
    assert members["users"] == ["U1", "U2"]
    assert user["user"]["real_name"] == "Grace Hopper" and user["user"]["id"] == "U2"
    with pytest.raises(SlackApiError) as error:
        await client.usergroups_users_list(usergroup="S999")
    assert error.value.response["error"] == "no_such_subteam"


async def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    """HTTP 429 + Retry-After: the SDK's rate limit handler waits that long, then succeeds."""
    fake.fail_next("chat.postMessage", "rate_limited", status=429, retry_after=1)
    retrying = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()
    response = await retrying.chat_postMessage(channel="C1", text="eventually")
    elapsed = time.monotonic() - started
    first, second = fake.calls_to("chat.postMessage")
    assert response["ok"] and elapsed >= 1.0
    assert (first.status, first.response["error"], second.status) == (429, "ratelimited", 200)


async def test_rate_limit_without_handler_raises(client: AsyncWebClient, fake: FakeSlack) -> None:
    """Without a retry handler a 429 surfaces as SlackApiError carrying status and Retry-After."""
    fake.fail_next("chat.postMessage", "rate_limited", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C1", text="x")
    response = error.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] == "7"


async def test_channel_not_found_raises(client: AsyncWebClient, fake: FakeSlack) -> None:
    """An injected ok:false error raises SlackApiError once, then the method works again."""
    fake.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C404", text="x")
    assert error.value.response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel="C404", text="x"))["ok"]


# --------------------------------------------------------------------------- Bolt over Socket Mode


@dataclass
class Rig:
    """A real AsyncApp connected to the fake over Socket Mode, and what its listeners saw."""

    app: AsyncApp
    handler: AsyncSocketModeHandler
    seen: dict[str, list[Json]] = field(default_factory=dict)

    def saw(self, kind: str, body: Json) -> None:
        """Record a body a listener received."""
        self.seen.setdefault(kind, []).append(body)


def _register(app: AsyncApp, rig: Rig) -> None:
    """The listeners the Bolt tests drive."""

    @app.command("/fixbug")
    async def fixbug(ack: AsyncAck, command: Json, say: AsyncSay, respond: AsyncRespond) -> None:
        """Ack, post to the channel, answer privately."""
        await ack()
        await say(text=f"on it: {command['text']}")
        await respond(text="only you see this")

    @app.action("fixbot_approve")
    async def approve(ack: AsyncAck, body: Json, respond: AsyncRespond) -> None:
        """Ack and replace the clicked message."""
        await ack()
        rig.saw("action", body)
        await respond(replace_original=True, text=f"approved {body['actions'][0]['value']}")

    @app.view("fixbot_feedback")
    async def feedback(ack: AsyncAck, view: Json) -> None:
        """Reject the submission with a field error."""
        rig.saw("view", view)
        await ack(response_action="errors", errors={"feedback": "Say a bit more"})

    @app.shortcut("fixbot_fix_this_bug")
    async def shortcut(ack: AsyncAck, shortcut: Json, client: AsyncWebClient) -> None:
        """Ack and open a modal with the shortcut's trigger_id."""
        await ack()
        view = {"type": "modal", "callback_id": "fixbot_new_task", "title": _text("Fix")}
        await client.views_open(trigger_id=shortcut["trigger_id"], view=view)

    @app.event("message")
    async def message(event: Json) -> None:
        """Remember the event."""
        rig.saw("message", event)


def _text(text: str) -> Json:
    """A plain_text object."""
    return {"type": "plain_text", "text": text}


@pytest.fixture
async def rig(fake: FakeSlack) -> AsyncIterator[Rig]:
    """AsyncApp + AsyncSocketModeHandler connected to the fake; closed after the test."""
    app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url))
    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    rig = Rig(app, handler)
    _register(app, rig)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    await fake.wait_connected(timeout=5)
    try:
        yield rig
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def test_socket_mode_hello_and_connection(fake: FakeSlack, rig: Rig) -> None:
    """The handler opens a connection with the xapp token and the fake counts the client."""
    assert fake.connected_clients == 1
    assert [c.token_kind for c in fake.calls_to("apps.connections.open")] == ["app"]


async def test_slash_command_is_acked_and_posts(fake: FakeSlack, rig: Rig) -> None:
    """A /fixbug envelope is acked quickly; the listener posts to the channel and responds."""
    envelope_id = await fake.send(slash_command("login page 500s", channel_id="C9"))
    payload, latency = await fake.wait_for_ack(envelope_id, timeout=3)
    posted = await fake.wait_for_call("chat.postMessage")
    response = await fake.wait_for_response()
    assert payload is None and latency < 0.5
    print(f"slash command ack latency: {latency * 1000:.1f} ms")
    assert posted.params["channel"] == "C9" and posted.params["text"] == "on it: login page 500s"
    assert posted.params["team_id"] == TEAM_ID  # Bolt's context client adds it
    assert fake.messages("C9")[0]["user"] == BOT_USER_ID
    assert response.body["text"] == "only you see this" and fake.ephemerals[0]["channel"] == "C9"
    assert len(fake.calls_to("auth.test")) == 1  # Bolt authorizes lazily on the first envelope


async def test_block_action_reaches_listener_and_replaces_message(
    client: AsyncWebClient, fake: FakeSlack, rig: Rig
) -> None:
    """A button click reaches @app.action; respond(replace_original) edits the stored message."""
    posted = await client.chat_postMessage(channel="C1", text="approve?")
    click = block_action("fixbot_approve", "task-42", message=fake.message("C1", posted["ts"]))
    envelope_id = await fake.send(click)
    await fake.wait_for_ack(envelope_id)
    await fake.wait_for_response()
    assert rig.seen["action"][0]["actions"][0]["value"] == "task-42"
    assert rig.seen["action"][0]["response_url"].startswith(fake.origin)
    assert fake.message("C1", posted["ts"])["text"] == "approved task-42"


async def test_view_submission_errors_come_back_in_the_ack(fake: FakeSlack, rig: Rig) -> None:
    """ack(response_action="errors") arrives at the fake as the ack's payload."""
    state = {"feedback": {"feedback_input": {"type": "plain_text_input", "value": "no"}}}
    submission = view_submission("fixbot_feedback", state, private_metadata='{"task": "t1"}')
    envelope_id = await fake.send(submission)
    payload, _ = await fake.wait_for_ack(envelope_id)
    assert payload == {"response_action": "errors", "errors": {"feedback": "Say a bit more"}}
    assert rig.seen["view"][0]["state"]["values"] == state
    assert rig.seen["view"][0]["private_metadata"] == '{"task": "t1"}'


async def test_message_shortcut_opens_a_modal(fake: FakeSlack, rig: Rig) -> None:
    """A message shortcut's trigger_id reaches views.open through the listener's client."""
    shortcut = message_shortcut("fixbot_fix_this_bug", "it crashes", "1732400000.000001")
    envelope_id = await fake.send(shortcut)
    await fake.wait_for_ack(envelope_id)
    opened = await fake.wait_for_call("views.open")
    assert opened.params["trigger_id"] == shortcut["trigger_id"]
    assert fake.views[0]["callback_id"] == "fixbot_new_task"


async def test_thread_reply_event_reaches_message_listener(fake: FakeSlack, rig: Rig) -> None:
    """An events_api message in a thread reaches @app.event("message") and is acked."""
    event = thread_reply_event("C1", "1732400000.000100", "try the staging db", user="U5")
    envelope_id = await fake.send_envelope("events_api", event)
    payload, _ = await fake.wait_for_ack(envelope_id)
    await fake.wait_until(lambda: "message" in rig.seen, 3, "the message listener")
    seen = rig.seen["message"][0]
    assert (
        payload is None and fake.envelope(envelope_id).wire()["accepts_response_payload"] is False
    )
    assert (seen["thread_ts"], seen["text"], seen["user"]) == (
        "1732400000.000100",
        event["event"]["text"],
        "U5",
    )


async def test_redelivery_sends_a_second_envelope(fake: FakeSlack, rig: Rig) -> None:
    """redeliver() resends the payload under a new id with retry_attempt 1, reason timeout."""
    event = thread_reply_event("C1", "1732400000.000100", "again")
    first = await fake.send_envelope("events_api", event)
    await fake.wait_for_ack(first)
    second = await fake.redeliver(first)
    await fake.wait_for_ack(second)
    await fake.wait_until(lambda: len(rig.seen.get("message", [])) == 2, 3, "two deliveries")
    again = fake.envelope(second)
    assert second != first and again.payload == fake.envelope(first).payload
    assert (again.retry_attempt, again.retry_reason) == (1, "timeout")


async def test_disconnect_frame_makes_the_client_reconnect(fake: FakeSlack, rig: Rig) -> None:
    """Slack's `disconnect` frame makes the SDK fetch a new URL and connect again."""
    await fake.request_reconnect()
    await fake.wait_for_call("apps.connections.open", count=2)
    await fake.wait_connected()
    envelope_id = await fake.send(slash_command("after reconnect"))
    await fake.wait_for_ack(envelope_id)


# --------------------------------------------------------------------------- sync variant


def test_threaded_fake_serves_the_sync_client() -> None:
    """The background-thread variant serves the synchronous WebClient and runs waits for it."""
    with ThreadedFakeSlack() as threaded:
        client = WebClient(token=BOT_TOKEN, base_url=threaded.api_url)
        posted = client.chat_postMessage(channel="C1", text="sync", metadata=METADATA)
        thread = client.conversations_replies(channel="C1", ts=posted["ts"])
        call = threaded.call(lambda fake: fake.wait_for_call("chat.postMessage"))
        assert thread["messages"][0]["metadata"] == METADATA
        assert call.params["text"] == "sync" and threaded.fake is not None
        assert threaded.fake.messages("C1")[0]["ts"] == posted["ts"]
