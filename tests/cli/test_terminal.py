"""Untrusted text reaches the terminal inert: markup shown as typed, escapes and hidden
characters gone, through the one path every CLI printer uses."""

from __future__ import annotations

import pytest

from bot.cli.render import print_view
from bot.cli.terminal import console, err_console, print_error
from orchestration.models import RefusedAction, TaskStatus, TaskView

HOSTILE = "[red]boom[/red] \x1b]52;c;ZXZpbA==\x07\x1b[2J\u202etxt.exe"


def _printed(capture: object) -> str:
    return capture.get()  # type: ignore[attr-defined,no-any-return]


def test_a_view_full_of_hostile_text_prints_no_escape_and_no_markup() -> None:
    """Title, progress, question, refusal and error from outside are printed as plain text."""
    view = TaskView(
        task_id="t1",
        title=HOSTILE,
        status=TaskStatus.FAILED,
        last_progress=HOSTILE,
        question=HOSTILE,
        refused=[
            RefusedAction(by=HOSTILE, action="approve", reason=HOSTILE, at="2026-12-02T00:00:00Z")
        ],
        error=HOSTILE,
    )
    with console.capture() as capture:
        print_view(view)
    out = _printed(capture)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.count("[red]boom[/red]") == 6  # title, progress, question, 2 in refusal, error


@pytest.mark.parametrize("message", [HOSTILE, "refused by [bold]mallory[/bold]"])
def test_errors_quote_their_message_literally(message: str) -> None:
    """An error's message (which can quote a refusal or a name) keeps its brackets."""
    with err_console.capture() as capture:
        print_error(ValueError(message))
    out = _printed(capture)
    assert out.startswith("error: ") and "\x1b" not in out
    assert ("[red]boom[/red]" in out) or ("[bold]mallory[/bold]" in out)
