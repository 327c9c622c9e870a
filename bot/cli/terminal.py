"""The one way text from outside (agents, repositories, people) reaches a terminal.

Everything untrusted is cleaned of escape sequences and hidden characters and wrapped in a
rich Text, so no markup inside it is interpreted. Labels and layout are ours and may carry
style; values never do.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from orchestration.policy.sanitize import clean_text

LINE_CHARS = 2000

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def inert(text: str, limit: int = LINE_CHARS, *, style: str = "", one_line: bool = False) -> Text:
    """Untrusted text for the terminal: no escape sequences, no hidden characters, no markup."""
    cleaned = clean_text(text, limit=limit).text
    return Text(cleaned.replace("\n", " ") if one_line else cleaned, style=style)


def line(label: str, value: str, *, style: str = "") -> None:
    """Print `label` (ours) followed by an untrusted value, rendered inert."""
    console.print(Text.assemble(label, inert(value, style=style)))


def print_error(error: BaseException) -> None:
    """An error for the person at the terminal; its message may quote untrusted text."""
    err_console.print(Text.assemble(Text("error: ", style="red"), inert(str(error))))
