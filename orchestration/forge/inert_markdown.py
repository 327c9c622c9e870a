"""Untrusted text as inert GitHub markdown: the same visible text, with nothing in it active.

Agent summaries, task descriptions and file names rendered here cannot form raw HTML, comments,
images, links to hosts other than the forge, emphasis, headings, lists, tables, fences,
mentions or issue references, and their control characters show as escapes (`\\x1b`).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# C0, DEL, C1, bidi marks, overrides and isolates, and the Unicode line and paragraph separators.
_CONTROL_RANGES = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2066, 0x2069),
)
_LINE_CONTROL_RANGES = ((0x00, 0x08), (0x0B, 0x1F), *_CONTROL_RANGES[1:])  # tab is kept in lines
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# What markdown and GFM can interpret. The joiners are inert between letters or digits and stay
# as they are there, so `cart_total.py` reads well and a token such as `ghp_…` or `sk-ant-…`
# stays whole for the redactor that runs over the finished body.
_JOINERS = "-_.+="
_SYNTAX = "\\`*{}[]()<>!|~:&$"
_TRAILING = frozenset(".,:;!?*_~'\"")  # not part of a URL at its end, as in GFM's autolinks

_URL = (
    r"(?i:(?:https?|ftp)://"
    r"|(?<![a-z0-9])(?:www\.|(?:mailto|javascript|vbscript|data|file|xmpp):))"
    r"[^\s<>]*"
)
# Mentions (`@alice`, `@org/team`), issue references (`#12`, `GH-12`) and what is glued to them.
_REFERENCE = r"@[\w.\-/@#]*|#[0-9][\w.\-/@#]*|(?<![A-Za-z0-9])(?i:gh-[0-9])[\w.\-/@#]*"
# A run of joiners needs escaping unless a letter or digit is on both sides of it. The
# lookbehinds anchor both branches at the start of a run, so a long run is scanned once.
_JOINER = re.escape(_JOINERS)
_ESCAPED_JOINERS = (
    rf"(?<![A-Za-z0-9{_JOINER}])[{_JOINER}]+|(?<![{_JOINER}])[{_JOINER}]++(?![A-Za-z0-9])"
)


def _escape_sequence(code: int) -> str:
    char = chr(code)
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


def _tokens(*, urls: bool, controls: str) -> re.Pattern[str]:
    """One alternation, scanned once; no branch nests quantifiers, so none can backtrack far."""
    branches = [f"(?P<url>{_URL})"] if urls else []
    branches += [
        f"(?P<reference>{_REFERENCE})",
        f"(?P<syntax>[{re.escape(_SYNTAX)}]+|{_ESCAPED_JOINERS}|#)",
        f"(?P<control>[{controls}]+)",
    ]
    return re.compile("|".join(branches))


_SHOWN = {
    code: _escape_sequence(code) for low, high in _CONTROL_RANGES for code in range(low, high + 1)
}
_BACKSLASHED = {ord(char): "\\" + char for char in _SYNTAX + _JOINERS + "#"}
_NAME_ESCAPES = {**_SHOWN, ord("\\"): "\\\\", ord("|"): "\\|"}
_TEXT_TOKENS = _tokens(urls=True, controls=_char_class(_LINE_CONTROL_RANGES))
_LABEL_TOKENS = _tokens(urls=False, controls=_char_class(_CONTROL_RANGES))
_CONTROLS = re.compile(f"[{_char_class(_CONTROL_RANGES)}]")
_DESTINATION_UNSAFE = re.compile(f"[\\s<>\\\\`|{_char_class(_CONTROL_RANGES)}]")
_BACKTICKS = re.compile("`+")


def visible_controls(text: str, keep: str = "") -> str:
    """`text` with control and bidi characters written as escapes (`\\x1b`), but those in `keep`."""
    if not keep:
        return text.translate(_SHOWN)
    return text.translate({code: shown for code, shown in _SHOWN.items() if chr(code) not in keep})


def inert_text(text: str, forge_host: str) -> str:
    """Markdown lines showing `text` as plain text; links only to `forge_host`."""
    return "\n".join(_inert_lines(text, forge_host))


def inert_quote(text: str, forge_host: str) -> str:
    """A block quote showing multi-line `text` as plain text; links only to `forge_host`."""
    return "\n".join(f"> {line}" if line else ">" for line in _inert_lines(text, forge_host))


def inert_name(text: str) -> str:
    """Inline code for a one-line name (a path, a repository, a person).

    Backslashes, `|`, newlines and control characters are shown escaped, so neither a table row
    nor a line can break and `a\\nb` (four characters) is told apart from a real newline.
    """
    return inline_code(text.translate(_NAME_ESCAPES))


def inline_code(text: str) -> str:
    """Inline code showing `text` literally, whatever backticks it holds; controls escaped."""
    shown = visible_controls(text)
    if not shown:
        return "` `"
    fence = "`" * (_longest_backtick_run(shown) + 1) if "`" in shown else "`"
    edges = shown[0] + shown[-1]
    pad = " " if ("`" in edges or " " in edges) and shown.strip(" ") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def code_block(text: str) -> str:
    """A fenced code block showing `text`; the fence is longer than any backtick run inside."""
    shown = visible_controls(_unix_newlines(text), keep="\t\n")
    fence = "`" * max(3, _longest_backtick_run(shown) + 1)
    return f"{fence}\n{shown}\n{fence}"


def forge_link(text: str, url: str, forge_host: str) -> str:
    """A link when `url` is on the forge; otherwise `text` with the URL as inline code."""
    if is_forge_url(url, forge_host):
        return link(text, url)
    if text == url:
        return inline_code(url)
    return f"{_inert_label(text)} ({inline_code(url)})"


def link(text: str, url: str) -> str:
    """A link for a URL the deployment trusts (the forge's own, the Temporal UI)."""
    label = _inert_label(text) or _inert_label(url)
    encoded = _DESTINATION_UNSAFE.sub(lambda m: quote(m[0], safe=""), url)
    destination = encoded.replace("&", "&amp;")  # so `&#64;` in a URL stays those characters
    return f"[{label}](<{destination}>)"


def is_forge_url(url: str, forge_host: str) -> bool:
    """Whether `url` is an http(s) URL whose host (and port) is exactly `forge_host`."""
    if not forge_host or _CONTROLS.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and parts.netloc.lower() == forge_host.lower()


def _inert_lines(text: str, forge_host: str) -> list[str]:
    """The rendered lines; no token spans a newline, so the text is scanned in one go."""
    rendered = _TEXT_TOKENS.sub(lambda m: _inert_token(m, forge_host), _unix_newlines(text))
    return [_unindented(line) for line in rendered.split("\n")]


def _unindented(line: str) -> str:
    """Leading blanks as no-break spaces, which cannot make indented code; no trailing blanks."""
    content = line.strip(" \t")
    if len(content) == len(line) or not content:
        return content
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return indent.replace("\t", "    ").replace(" ", "\u00a0") + content


def _inert_label(text: str) -> str:
    """One line of link text: like `inert_text` but never a link itself, newlines shown escaped."""
    return _LABEL_TOKENS.sub(lambda m: _inert_token(m, ""), text)


def _inert_token(match: re.Match[str], forge_host: str) -> str:
    token, kind = match[0], match.lastgroup
    if kind == "url":
        url, tail = _split_trailing_punctuation(token)
        return forge_link(url, url, forge_host) + _inert_label(tail)
    if kind == "reference":
        return f"`{token}`"  # GitHub mentions even `\@alice`, but never in code; no ` inside
    if kind == "syntax":
        return token.translate(_BACKSLASHED)
    return visible_controls(token).replace("\\", "\\\\")  # `\\x1b` renders as `\x1b`


def _split_trailing_punctuation(token: str) -> tuple[str, str]:
    """(URL, trailing punctuation): a final `.` or an unbalanced `)` belongs to the sentence."""
    end, unbalanced = len(token), token.count(")") - token.count("(")
    while end > 0:
        char = token[end - 1]
        if char == ")" and unbalanced > 0:
            unbalanced -= 1
        elif char not in _TRAILING:
            break
        end -= 1
    return token[:end], token[end:]


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
