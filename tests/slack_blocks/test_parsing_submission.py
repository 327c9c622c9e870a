"""parse_new_task_submission and parse_feedback_submission on Slack-shaped `view.state.values`."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack import ids
from bot.slack.parsing import (
    NewTaskForm,
    parse_feedback_submission,
    parse_new_task_submission,
)
from orchestration.models import RepositorySpec
from orchestration.policy.validation import RepositoryRules, url_problems

RULES = RepositoryRules()
CALC = "https://github.com/acme/calc"


def selected(*values: str) -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": v, "emoji": True}, "value": v} for v in values]


def state(
    *,
    title: str | None = "add() subtracts",
    description: str | None = None,
    chosen: tuple[str, ...] = (CALC,),
    extra: str | None = None,
    approval: bool = True,
    budget: str | None = None,
    with_select: bool = True,
) -> dict[str, dict[str, dict[str, Any]]]:
    """What Slack sends in `view.state.values` for our new-task modal."""
    values: dict[str, dict[str, dict[str, Any]]] = {
        ids.TITLE: {"title_input": {"type": "plain_text_input", "value": title}},
        ids.DESCRIPTION: {"description_input": {"type": "plain_text_input", "value": description}},
        ids.EXTRA_REPOSITORIES: {
            "extra_repositories_input": {"type": "plain_text_input", "value": extra}
        },
        ids.REQUIRE_APPROVAL: {
            "require_approval_input": {
                "type": "checkboxes",
                "selected_options": selected("require_approval") if approval else [],
            }
        },
        ids.BUDGET: {"budget_input": {"type": "number_input", "value": budget}},
    }
    if with_select:
        values[ids.REPOSITORIES] = {
            "repositories_input": {
                "type": "multi_static_select",
                "selected_options": selected(*chosen),
            }
        }
    return values


def errors(**changes: Any) -> dict[str, str]:
    parsed = parse_new_task_submission(state(**changes), rules=RULES)
    assert isinstance(parsed, dict), parsed
    return parsed


def test_happy_path() -> None:
    """A complete submission becomes a form with repositories from the select and the lines."""
    parsed = parse_new_task_submission(
        state(
            title="  add()   subtracts ",
            description=" add(1, 2) is -1 \n",
            extra="\nhttps://github.com/acme/web#develop\n  \n",
            approval=False,
            budget="2.5",
        ),
        rules=RULES,
    )
    assert parsed == NewTaskForm(
        title="add() subtracts",
        description="add(1, 2) is -1",
        repositories=[
            RepositorySpec(url=CALC, branch="main", name="calc"),
            RepositorySpec(url="https://github.com/acme/web", branch="develop", name="web"),
        ],
        require_approval=False,
        budget_usd=2.5,
    )


def test_defaults_when_optional_inputs_are_empty() -> None:
    """No description, no budget, approval ticked: empty text, None budget, approval on."""
    parsed = parse_new_task_submission(state(), rules=RULES)
    assert isinstance(parsed, NewTaskForm)
    assert (parsed.description, parsed.budget_usd, parsed.require_approval) == ("", None, True)


def test_lines_only_without_a_select() -> None:
    """A modal without the select (no configured list) reads the typed lines."""
    parsed = parse_new_task_submission(state(with_select=False, extra=CALC), rules=RULES)
    assert isinstance(parsed, NewTaskForm)
    assert [r.name for r in parsed.repositories] == ["calc"]


@pytest.mark.parametrize("title", [None, "", "   "])
def test_empty_title(title: str | None) -> None:
    """An empty title is an error under the title input."""
    assert set(errors(title=title)) == {ids.TITLE}


def test_title_too_long() -> None:
    """A title over MAX_TITLE is an error under the title input."""
    assert "At most 200" in errors(title="t" * 201)[ids.TITLE]


def test_description_too_long() -> None:
    """A description over MAX_DESCRIPTION is an error under the description input."""
    assert set(errors(description="d" * 20_001)) == {ids.DESCRIPTION}


def test_no_repository_at_all() -> None:
    """Nothing chosen and nothing typed: error under the select."""
    assert set(errors(chosen=())) == {ids.REPOSITORIES}


def test_no_repository_without_a_select() -> None:
    """Without the select, the missing-repository error goes under the free-text box."""
    assert set(errors(chosen=(), with_select=False)) == {ids.EXTRA_REPOSITORIES}


def test_option_injection_is_refused_with_validations_message() -> None:
    """A `--upload-pack=…` line is refused with orchestration.policy.validation's own words."""
    found = errors(extra=f"{CALC}x\n--upload-pack=touch /tmp/pwned")
    expected = url_problems("--upload-pack=touch", RULES)[0]
    assert set(found) == {ids.EXTRA_REPOSITORIES}
    assert "line 2: " in found[ids.EXTRA_REPOSITORIES]
    assert expected in found[ids.EXTRA_REPOSITORIES]


def test_remote_helper_transport_is_refused() -> None:
    """An `ext::` line is refused with validation's message."""
    found = errors(chosen=(), extra="ext::sh -c touch% /tmp/pwned")
    assert url_problems("ext::sh", RULES)[0] in found[ids.EXTRA_REPOSITORIES]


def test_disallowed_host_and_bad_branch() -> None:
    """Host and branch problems are reported per line."""
    found = errors(extra="https://evil.example/acme/calc2\nhttps://github.com/acme/web#a..b")
    message = found[ids.EXTRA_REPOSITORIES]
    assert "line 1: " in message and "host 'evil.example' is not allowed" in message
    assert "line 2: branch 'a..b'" in message


def test_bad_configured_repository_is_reported_under_the_select() -> None:
    """A bad value in the select is reported under the select."""
    assert set(errors(chosen=("http://github.com/acme/calc",))) == {ids.REPOSITORIES}


def test_duplicate_names() -> None:
    """Two repositories with the same folder name are refused, under the typed lines."""
    found = errors(extra="https://github.com/other/calc")
    assert "share the folder name 'calc'" in found[ids.EXTRA_REPOSITORIES]


def test_duplicates_within_the_select() -> None:
    """Duplicates only among chosen repositories go under the select."""
    found = errors(chosen=(CALC, "https://github.com/fork/calc"))
    assert "share the folder name 'calc'" in found[ids.REPOSITORIES]


def test_too_many_repositories() -> None:
    """More than MAX_REPOSITORIES repositories are refused."""
    lines = "\n".join(f"https://github.com/acme/r{i}" for i in range(11))
    assert "at most 10" in errors(chosen=(), extra=lines)[ids.EXTRA_REPOSITORIES]


@pytest.mark.parametrize("budget", ["0", "-1", "abc", "nan", "inf", "501"])
def test_budget_must_be_a_positive_number(budget: str) -> None:
    """Zero, negative, non-numeric, non-finite or too large budgets are refused."""
    assert set(errors(budget=budget)) == {ids.BUDGET}


def test_all_errors_at_once() -> None:
    """Several problems are reported together, each under its own input."""
    found = errors(title="", chosen=(), extra="ext::x", budget="0")
    assert set(found) == {ids.TITLE, ids.EXTRA_REPOSITORIES, ids.BUDGET}


def test_error_messages_stay_short() -> None:
    """Even many bad lines make an error Slack can show."""
    lines = "\n".join(f"--bad{i}" for i in range(10))
    assert len(errors(chosen=(), extra=lines)[ids.EXTRA_REPOSITORIES]) <= 1000


def test_feedback_submission() -> None:
    """Feedback text is returned stripped; empty feedback is an error under its input."""
    values = {ids.FEEDBACK: {"feedback_input": {"type": "plain_text_input", "value": " more "}}}
    assert parse_feedback_submission(values) == "more"
    empty = {ids.FEEDBACK: {"feedback_input": {"type": "plain_text_input", "value": None}}}
    assert set(parse_feedback_submission(empty)) == {ids.FEEDBACK}
