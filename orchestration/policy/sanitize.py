"""Cleaning untrusted text (titles, descriptions, answers, feedback) before the agent reads it.

Pure functions, no I/O. What is removed is what a person reading the report in Slack or on
GitHub cannot see but the model can: zero-width and invisible characters, Unicode tag
characters (hidden ASCII), runs of variation selectors (hidden bytes), bidi controls that
reorder what is displayed, control characters and NUL bytes, and HTML comments. Every removal
is counted and described so the agent can be told. Cleaning is idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_ZERO_WIDTH = (
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064"
    "\u206a-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
)
_TAGS = "\U000e0000-\U000e007f"
_SELECTORS = "\ufe00-\ufe0f\U000e0100-\U000e01ef"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROLS = "\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_INVALID = "\ud800-\udfff\ufffe\uffff"

_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

# (pattern, singular, plural): each removed outright, in this order, and counted
_REMOVALS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile("\x00"), "NUL byte", "NUL bytes"),
    (_ESCAPE_SEQUENCE, "terminal escape sequence", "terminal escape sequences"),
    (re.compile(f"[{_CONTROLS}]"), "control character", "control characters"),
    (re.compile(f"[{_BIDI}]"), "bidi control character", "bidi control characters"),
    (re.compile(f"[{_ZERO_WIDTH}]"), "zero-width character", "zero-width characters"),
    (re.compile(f"[{_TAGS}]"), "invisible tag character", "invisible tag characters"),
    (re.compile(f"[{_INVALID}]"), "invalid character", "invalid characters"),
)
_HIDDEN = re.compile(f"[\x00{_CONTROLS}{_BIDI}{_ZERO_WIDTH}{_TAGS}{_SELECTORS}{_INVALID}]")
_SELECTOR_RUN = re.compile(f"[{_SELECTORS}]+")
_EMOJI_STYLE = ("\ufe0e", "\ufe0f")  # text/emoji presentation: one of them after a symbol stays
_OPEN, _CLOSE = "<!--", "-->"
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029]")
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){3,}")
_MAX_BACKOFF = 64  # how far a cut moves back to keep combining marks with their letter


@dataclass(frozen=True)
class CleanedText:
    """Cleaned text and a short description of each kind of thing removed from it."""

    text: str
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The removals as one phrase, e.g. '1 HTML comment, 3 zero-width characters'."""
        return ", ".join(self.removed)


def clean_text(text: str, *, limit: int) -> CleanedText:
    """Remove hidden content, normalise to NFC, and cap at `limit` characters."""
    removed: list[str] = []
    text = _LINE_BREAKS.sub("\n", text)
    for pattern, one, many in _REMOVALS:
        text, count = pattern.subn("", text)
        _note(removed, count, one, many)
    text = _drop_selector_runs(text, removed)
    text = _drop_comments(text, removed)
    text = _BLANK_RUN.sub("\n\n\n", unicodedata.normalize("NFC", text)).strip()
    if len(text) > limit:
        text = text[: _cut_point(text, limit)].rstrip()
        removed.append(f"everything after the first {limit} characters (truncated)")
    return CleanedText(text, removed)


def _note(removed: list[str], count: int, one: str, many: str) -> None:
    """Append 'N things' when something was removed."""
    if count:
        removed.append(f"{count} {one if count == 1 else many}")


def _drop_selector_runs(text: str, removed: list[str]) -> str:
    """Remove variation selectors, except one emoji/text selector right after a symbol."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        start = match.start()
        if match.group() in _EMOJI_STYLE and start and _is_symbol(source[start - 1]):
            return match.group()
        count += len(match.group())
        return ""

    source = text
    cleaned = _SELECTOR_RUN.sub(replace, source)
    _note(removed, count, "variation selector", "variation selectors")
    return cleaned


def _is_symbol(char: str) -> bool:
    """True for non-ASCII symbols (emoji, dingbats) that a presentation selector may follow."""
    return not char.isascii() and unicodedata.category(char) in ("So", "Sm")


def _drop_comments(text: str, removed: list[str]) -> str:
    """Remove `<!-- … -->` comments, then an unterminated `<!--` and everything after it."""
    kept, closed = _drop_closed_comments(text)
    _note(removed, closed, "HTML comment", "HTML comments")
    start = kept.find(_OPEN)  # unterminated, or formed by joining the text around a comment
    if start == -1:
        return kept
    removed.append("1 unterminated HTML comment (to the end of the text)")
    return kept[:start]


def _drop_closed_comments(text: str) -> tuple[str, int]:
    """The text without its `<!-- … -->` comments (in one linear pass), and how many there were."""
    kept: list[str] = []
    closed = position = 0
    while (start := text.find(_OPEN, position)) != -1:
        end = text.find(_CLOSE, start + len(_OPEN))
        if end == -1:
            break
        kept.append(text[position:start])
        closed += 1
        position = end + len(_CLOSE)
    kept.append(text[position:])
    return "".join(kept), closed


def _cut_point(text: str, limit: int) -> int:
    """Where to cut so that no letter loses its combining marks (at most `limit`)."""
    cut = limit
    while cut > max(0, limit - _MAX_BACKOFF) and _is_mark(text[cut]):
        cut -= 1
    return limit if _is_mark(text[cut]) else cut


def _is_mark(char: str) -> bool:
    """True for combining marks (accents, variation selectors) that belong to the letter before."""
    return unicodedata.category(char).startswith("M")


def first_hidden_character(text: str) -> str | None:
    """The first invisible, bidi, control, tag or variation-selector character, if any."""
    match = _HIDDEN.search(text)
    return match.group() if match else None


def codepoint(char: str) -> str:
    """`U+202E` for a character."""
    return f"U+{ord(char):04X}"


def is_confusable_host(host: str) -> bool:
    """True for host names that are not plain ASCII (look-alike letters, fullwidth forms)."""
    return not host.isascii()
