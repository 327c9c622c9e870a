"""The new-task and feedback modals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.slack import ids
from bot.slack.blocks import feedback_modal, new_task_modal
from tests.slack_blocks.slack_rules import modal_problems

CALC = "https://github.com/acme/calc"
WEB = "https://github.com/acme/web#develop"


def modal(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "repository_options": [CALC, WEB],
        "preselected": [],
        "source_link": None,
        "private_metadata": json.dumps({"channel_id": "C1"}),
    }
    values.update(changes)
    return new_task_modal(**values)


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def test_new_task_modal_ids_and_metadata() -> None:
    """The modal has the new-task callback id, our private_metadata and every input."""
    view = modal()
    assert modal_problems(view) == []
    assert view["callback_id"] == ids.NEW_TASK_MODAL
    assert json.loads(view["private_metadata"]) == {"channel_id": "C1"}
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == [
        ids.TITLE,
        ids.DESCRIPTION,
        ids.REPOSITORIES,
        ids.EXTRA_REPOSITORIES,
        ids.REQUIRE_APPROVAL,
        ids.BUDGET,
    ]
    for b in view["blocks"]:
        if b["type"] == "input":
            assert b["element"]["action_id"] == ids.input_id(b["block_id"])


def test_inputs_are_configured_as_asked() -> None:
    """Title required, description optional (3000), approval ticked, budget decimal ≥ 0.01."""
    view = modal(title="  add()   subtracts ", description="steps")
    title = block(view, ids.TITLE)
    assert not title["optional"]
    assert title["element"]["initial_value"] == "add() subtracts"
    assert title["element"]["max_length"] == 200
    description = block(view, ids.DESCRIPTION)
    assert description["optional"] and description["element"]["multiline"]
    assert description["element"]["max_length"] == 3000
    assert "3000" in description["hint"]["text"]
    approval = block(view, ids.REQUIRE_APPROVAL)["element"]
    assert approval["initial_options"] == approval["options"]
    budget = block(view, ids.BUDGET)
    assert budget["optional"]
    assert budget["element"]["is_decimal_allowed"] is True
    assert budget["element"]["min_value"] == "0.01"


def test_preselected_repositories() -> None:
    """Configured ones are preselected; others go to the free-text box, one per line."""
    view = modal(preselected=[WEB, "https://github.com/acme/other#fix"])
    select = block(view, ids.REPOSITORIES)["element"]
    assert [o["value"] for o in select["initial_options"]] == [WEB]
    assert [o["text"]["text"] for o in select["options"]] == ["acme/calc", "acme/web (develop)"]
    extra = block(view, ids.EXTRA_REPOSITORIES)["element"]
    assert extra["initial_value"] == "https://github.com/acme/other#fix"
    assert modal_problems(view) == []


def test_no_configured_repositories_omits_the_select() -> None:
    """With an empty list there is no select, only the free-text box."""
    view = modal(repository_options=[])
    assert all(b.get("block_id") != ids.REPOSITORIES for b in view["blocks"])
    assert block(view, ids.EXTRA_REPOSITORIES)["optional"]
    assert modal_problems(view) == []


def test_source_link_is_a_context_block() -> None:
    """The source message is linked at the top."""
    view = modal(source_link="https://acme.slack.com/archives/C1/p123")
    assert view["blocks"][0]["type"] == "context"
    assert (
        "<https://acme.slack.com/archives/C1/p123|this message>"
        in (view["blocks"][0]["elements"][0]["text"])
    )


def test_huge_inputs_still_fit() -> None:
    """A long title and description and 300 configured repositories stay within limits."""
    options = [f"https://github.com/acme/repo{i}" for i in range(300)] + ["https://x/" + "a" * 200]
    view = modal(title="t" * 500, description="d" * 50_000, repository_options=options)
    assert modal_problems(view) == []
    assert len(block(view, ids.REPOSITORIES)["element"]["options"]) == 100
    assert "cut" in block(view, ids.DESCRIPTION)["hint"]["text"]


def test_private_metadata_is_never_cut() -> None:
    """Metadata over Slack's 3000 characters is an error, not silently truncated JSON."""
    with pytest.raises(ValueError, match="private_metadata"):
        modal(private_metadata="x" * 3001)


def test_feedback_modal() -> None:
    """The feedback modal has its callback id, the task id as metadata and a required input."""
    view = feedback_modal("20261124-3fa9c2")
    assert modal_problems(view) == []
    assert view["callback_id"] == ids.FEEDBACK_MODAL
    assert view["private_metadata"] == "20261124-3fa9c2"
    (feedback,) = view["blocks"]
    assert feedback["block_id"] == ids.FEEDBACK
    assert feedback["element"]["action_id"] == ids.input_id(ids.FEEDBACK)
    assert feedback["element"]["multiline"] and not feedback["optional"]
