"""A bug from `/fixbug` to a pull request without leaving Slack, over a real Socket Mode
websocket, with the real worker, Docker sandbox and `claude` behind it."""

from __future__ import annotations

import pytest

from bot.cli.demo_repo import FIXED_LINE, PRICING, README, TESTS, scripted_fix
from bot.slack import ids
from orchestration.models import TaskStatus
from orchestration.testing.scripted_model import ModelScript, ScriptStep
from tests.fakes.slack import block_action, slash_command, thread_reply_event, view_submission
from tests.slack_e2e.conftest import (
    APPROVER,
    CHANNEL,
    REQUESTER,
    STRANGER,
    SlackLoop,
    StartSlackLoop,
)

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
SHOP = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
ACK_DEADLINE_SECONDS = 3.0  # Slack's own deadline for acknowledging a command


async def start_fixbug(loop: SlackLoop, text: str) -> tuple[str, dict[str, object], str]:
    """Send `/fixbug`; return the envelope id, the root message and the task id."""
    envelope = await loop.slack.send(slash_command(text, user_id=REQUESTER, channel_id=CHANNEL))
    _, ack_seconds = await loop.slack.wait_for_ack(envelope)
    assert ack_seconds < ACK_DEADLINE_SECONDS
    root = await loop.root()
    return envelope, root, await loop.task_id(root)


async def click(loop: SlackLoop, action: str, task_id: str, user: str, ts: str) -> None:
    payload = block_action(action, task_id, user_id=user, channel_id=CHANNEL, message_ts=ts)
    await loop.slack.send(payload)


async def test_fixbug_to_pull_request_with_refused_and_allowed_clicks(
    start_slack_loop: StartSlackLoop,
) -> None:
    """/fixbug → root message and thread → approval card → a stranger's click is refused with
    an ephemeral note → the approver's click opens the PR → the card shows who approved →
    the thread says so → the sandbox is gone."""
    loop = await start_slack_loop(scripted_fix())
    url = loop.github.create_repo("acme", "shop", SHOP)
    _, root, task_id = await start_fixbug(loop, f"Discounts raise prices {url}")
    assert "Discounts raise prices" in str(root["blocks"])
    assert f"/workflows/fixbot-{task_id}/" in str(root["blocks"])  # the run in the Web UI
    card = (await loop.wait_for_cards(str(root["ts"]), 1))[0]
    assert "pricing.py" in str(card["blocks"])
    await click(loop, ids.APPROVE, task_id, STRANGER, str(card["ts"]))
    await loop.slack.wait_until(lambda: bool(loop.slack.ephemerals), 10, "a refusal")
    refusal = loop.slack.ephemerals[0]
    assert refusal["to"] == STRANGER and "not an approver" in str(refusal["text"])
    await click(loop, ids.APPROVE, task_id, APPROVER, str(card["ts"]))
    result = await loop.gateway.result(task_id)
    assert result.status is TaskStatus.COMPLETED, result.error
    pulls = loop.github.pulls("acme", "shop")
    assert len(pulls) == 1
    assert f"+{FIXED_LINE}" in loop.github.diff("acme", "shop", "main", pulls[0].head)
    decided = loop.slack.message(CHANNEL, str(card["ts"]))
    assert "fixbot_approve" not in str(decided["blocks"])
    assert f"<@{APPROVER}>" in str(decided["blocks"])
    thread_text = " ".join(str(m.get("text")) for m in loop.thread(str(root["ts"])))
    assert "pull/1" in thread_text
    assert loop.backend.find(task_id) is None
    await click(loop, ids.APPROVE, task_id, APPROVER, str(card["ts"]))
    await loop.slack.wait_until(lambda: len(loop.slack.ephemerals) == 2, 10, "a second refusal")
    assert "ended" in str(loop.slack.ephemerals[1]["text"])


def clarifying_script() -> ModelScript:
    fix = scripted_fix()
    question = ScriptStep(
        tool="StructuredOutput",
        input={
            "outcome": "needs_clarification",
            "summary": "unclear",
            "question": "Should a discount lower the price or raise it?",
        },
    )
    return ModelScript(steps=[question, *fix.steps])


async def test_a_thread_reply_answers_the_question_and_the_same_session_resumes(
    start_slack_loop: StartSlackLoop,
) -> None:
    """The agent asks; the question appears in the thread mentioning the requester; a reply
    there resumes the same Claude session, which then makes the fix."""
    loop = await start_slack_loop(clarifying_script())
    url = loop.github.create_repo("acme", "shop", SHOP)
    _, root, task_id = await start_fixbug(loop, f"Discounts raise prices {url}")
    root_ts = str(root["ts"])
    await loop.slack.wait_until(
        lambda: any("lower the price" in str(m.get("blocks")) for m in loop.thread(root_ts)),
        90,
        "the question in the thread",
    )
    question = next(m for m in loop.thread(root_ts) if "lower the price" in str(m.get("blocks")))
    assert f"<@{REQUESTER}>" in str(question["blocks"])
    await loop.slack.send(thread_reply_event(CHANNEL, root_ts, "Lower, of course", user=REQUESTER))
    await loop.wait_for_cards(root_ts, 1)
    sessions = {r.get("metadata", {}).get("user_id") for r in loop.model.agent_requests()}
    assert len(sessions) == 1  # one session id across the first run and the resumed one
    answered = [r for r in loop.model.agent_requests() if "Lower, of course" in str(r["messages"])]
    assert answered, "the answer reached the model in the resumed conversation"
    await loop.gateway.cancel(task_id, _cancel(REQUESTER))
    await loop.gateway.result(task_id)  # cleanup ran before the worker stops


async def test_request_changes_sends_feedback_to_the_same_session_and_a_new_card(
    start_slack_loop: StartSlackLoop,
) -> None:
    """Request changes opens a feedback modal; the feedback reaches the agent's session and a
    second card (revision 2) follows; the first card shows who asked for changes."""
    script = scripted_fix()
    revise = ScriptStep(tool="StructuredOutput", input={"outcome": "fixed", "summary": "revised"})
    loop = await start_slack_loop(ModelScript(steps=[*script.steps, revise]))
    url = loop.github.create_repo("acme", "shop", SHOP)
    _, root, task_id = await start_fixbug(loop, f"Discounts raise prices {url}")
    root_ts = str(root["ts"])
    card = (await loop.wait_for_cards(root_ts, 1))[0]
    await click(loop, ids.REQUEST_CHANGES, task_id, APPROVER, str(card["ts"]))
    await loop.slack.wait_for_call("views.open")
    state = {
        ids.FEEDBACK: {
            ids.input_id(ids.FEEDBACK): {"type": "plain_text_input", "value": "Add a comment"}
        }
    }
    await loop.slack.send(
        view_submission(ids.FEEDBACK_MODAL, state, user_id=APPROVER, private_metadata=task_id)
    )
    cards = await loop.wait_for_cards(root_ts, 2)
    assert "Revision 2" in str(cards[-1]["blocks"])
    first = loop.slack.message(CHANNEL, str(card["ts"]))
    assert "fixbot_approve" not in str(first["blocks"]) and "Changes requested" in str(
        first["blocks"]
    )
    assert any("Add a comment" in str(r["messages"]) for r in loop.model.agent_requests())
    await loop.gateway.cancel(task_id, _cancel(REQUESTER))
    await loop.gateway.result(task_id)  # cleanup ran before the worker stops


async def test_cancel_button_stops_the_task_and_removes_the_sandbox(
    start_slack_loop: StartSlackLoop,
) -> None:
    """The requester's Cancel on the root message ends the task; the thread says so."""
    loop = await start_slack_loop(scripted_fix())
    url = loop.github.create_repo("acme", "shop", SHOP)
    _, root, task_id = await start_fixbug(loop, f"Discounts raise prices {url}")
    await loop.wait_for_cards(str(root["ts"]), 1)
    await click(loop, ids.CANCEL, task_id, REQUESTER, str(root["ts"]))
    result = await loop.gateway.result(task_id)
    assert result.status is TaskStatus.CANCELLED
    assert loop.backend.find(task_id) is None
    await loop.slack.wait_until(
        lambda: any("ancel" in str(m.get("text")) for m in loop.thread(str(root["ts"]))),
        10,
        "the cancel notice",
    )
    assert not loop.github.pulls("acme", "shop")


async def test_a_redelivered_command_starts_one_workflow(start_slack_loop: StartSlackLoop) -> None:
    """Slack redelivers the same /fixbug envelope: still one task, one root message."""
    loop = await start_slack_loop(scripted_fix())
    url = loop.github.create_repo("acme", "shop", SHOP)
    envelope, root, task_id = await start_fixbug(loop, f"Discounts raise prices {url}")
    again = await loop.slack.redeliver(envelope)
    await loop.slack.wait_for_ack(again)
    await loop.wait_for_cards(str(root["ts"]), 1)
    assert len(loop.root_messages()) == 1
    executions = [
        e async for e in loop.temporal.client.list_workflows(f"WorkflowId = 'fixbot-{task_id}'")
    ]
    assert len(executions) == 1
    await loop.gateway.cancel(task_id, _cancel(REQUESTER))
    await loop.gateway.result(task_id)  # cleanup ran before the worker stops


def _cancel(by: str):  # type: ignore[no-untyped-def]
    from orchestration.models import CancelRequest

    return CancelRequest(by=by, reason="test done")
