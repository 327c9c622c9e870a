"""Slack's Block Kit size limits, and truncation that keeps mrkdwn valid."""

from __future__ import annotations

import re
from typing import Any

from bot.slack.blocks.text import link

SECTION_TEXT = 3000
SECTION_FIELD = 2000
SECTION_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_TEXT = 2000
CONTEXT_ELEMENTS = 10
MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
ACTION_ID = 255
BLOCK_ID = 255
MODAL_TITLE = 24
MODAL_BUTTON = 24
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
INPUT_LABEL = 2000
INPUT_HINT = 2000
PLACEHOLDER = 150
INPUT_MAX_LENGTH = 3000
PRIVATE_METADATA = 3000
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
MESSAGE_TEXT = 4000
FALLBACK_TEXT = 1000  # our own, shorter cap for the notification text

ELLIPSIS = "…"
FENCE = "```"
_OPEN_LINK = re.compile(r"<[^<>]*$")
_OPEN_ENTITY = re.compile(r"&[a-z#0-9]{0,6}$")


def truncate_plain(text: str, limit: int) -> str:
    """Plain text cut to `limit` characters, ending with "…" when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def truncate_mrkdwn(text: str, limit: int, more_url: str | None = None) -> str:
    """mrkdwn cut to `limit` without breaking a link, an entity or a code fence."""
    if len(text) <= limit:
        return text
    tail = _more_link(more_url)
    if len(tail) + len(FENCE) + 8 > limit:
        tail = ""
    kept = _safe_prefix(text, limit - len(tail) - len(FENCE) - 3)
    if kept.count(FENCE) % 2:
        return f"{kept}{ELLIPSIS}\n{FENCE}{_newline(tail)}"
    return f"{kept}{ELLIPSIS}{' ' + tail if tail else ''}"


def _newline(tail: str) -> str:
    return f"\n{tail}" if tail else ""


def _more_link(url: str | None) -> str:
    """The "(full text: …)" pointer appended to cut text, or nothing without a URL."""
    return f"(full text: {link(url, 'in the run')})" if url else ""


def _safe_prefix(text: str, budget: int) -> str:
    """The longest prefix within budget that does not end inside a link, entity or fence."""
    kept = text[: max(budget, 0)]
    kept = _OPEN_LINK.sub("", kept)
    kept = _OPEN_ENTITY.sub("", kept)
    return kept.rstrip("`").rstrip()


def fit_blocks(blocks: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most `limit` blocks: the middle is dropped and said so, the last block kept."""
    if len(blocks) <= limit:
        return blocks
    note: dict[str, Any] = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"{ELLIPSIS} some details were left out"}],
    }
    return [*blocks[: limit - 2], note, blocks[-1]]
