"""Block Kit building blocks; each one enforces Slack's limits on what it is given."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import limits
from bot.slack.blocks.text import escape

Block = dict[str, Any]
Message = dict[str, Any]


def plain(text: str, limit: int) -> Block:
    """A plain_text object (emoji allowed) cut to `limit`."""
    return {"type": "plain_text", "text": limits.truncate_plain(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int, more_url: str | None = None) -> Block:
    """A mrkdwn text object cut to `limit`, pointing at `more_url` when cut."""
    return {"type": "mrkdwn", "text": limits.truncate_mrkdwn(text, limit, more_url) or " "}


def header(text: str) -> Block:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": plain(text, limits.HEADER_TEXT)}


def section(text: str, more_url: str | None = None) -> Block:
    """A mrkdwn section of at most 3000 characters."""
    return {"type": "section", "text": mrkdwn(text, limits.SECTION_TEXT, more_url)}


def context(*texts: str) -> Block:
    """A context block of up to 10 mrkdwn elements of at most 2000 characters each."""
    elements = [mrkdwn(t, limits.CONTEXT_TEXT) for t in texts if t][: limits.CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements or [mrkdwn(" ", 1)]}


def divider() -> Block:
    """A divider block."""
    return {"type": "divider"}


def confirm(title: str, text: str, yes: str, no: str = "Cancel") -> Block:
    """A confirmation dialog for a button."""
    return {
        "title": plain(title, limits.CONFIRM_TITLE),
        "text": plain(text, limits.CONFIRM_TEXT),
        "confirm": plain(yes, limits.CONFIRM_BUTTON),
        "deny": plain(no, limits.CONFIRM_BUTTON),
    }


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirmation: Block | None = None,
) -> Block:
    """A button; its value, URL and ids are checked against Slack's limits."""
    element: Block = {
        "type": "button",
        "text": plain(text, limits.BUTTON_TEXT),
        "action_id": _checked(action_id, limits.ACTION_ID),
    }
    if value is not None:
        element["value"] = _checked(value, limits.BUTTON_VALUE)
    if url is not None:
        element["url"] = _checked(url, limits.BUTTON_URL)
    if style is not None:
        element["style"] = style
    if confirmation is not None:
        element["confirm"] = confirmation
    return element


def actions(*elements: Block) -> Block:
    """An actions block holding buttons."""
    return {"type": "actions", "elements": list(elements)}


def message(fallback: str, blocks: list[Block]) -> Message:
    """A chat.postMessage payload: escaped-by-caller fallback text and at most 50 blocks."""
    text = limits.truncate_mrkdwn(fallback, limits.FALLBACK_TEXT) or "fixbot"
    return {"text": text, "blocks": limits.fit_blocks(blocks, limits.MESSAGE_BLOCKS)}


def option(text: str, value: str) -> Block:
    """An option for selects and checkboxes."""
    return {"text": plain(text, limits.OPTION_TEXT), "value": _checked(value, limits.OPTION_VALUE)}


def fallback_title(title: str) -> str:
    """A task title for fallback text: escaped, short."""
    return limits.truncate_mrkdwn(escape(" ".join(title.split())), limits.HEADER_TEXT)


def _checked(value: str, limit: int) -> str:
    """An identifier or value that must not be cut (cutting would change its meaning)."""
    if len(value) > limit:
        raise ValueError(f"{value[:40]!r}… is longer than Slack's limit of {limit}")
    return value
