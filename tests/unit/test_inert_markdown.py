"""Untrusted text rendered as inert GitHub markdown, checked by parsing it with a CommonMark parser.

markdown-it has no GitHub autolinker, mention or issue-reference filter, so for those the tests
check that no URL, `@` or `#12` is left in a text node, which is all those filters read.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt  # installed with rich
from markdown_it.token import Token

from orchestration.forge.inert_markdown import (
    code_block,
    forge_link,
    inert_name,
    inert_quote,
    inert_text,
    inline_code,
    is_forge_url,
    link,
    visible_controls,
)

FORGE = "github.com"
_PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_INERT_BLOCKS = {"paragraph_open", "paragraph_close", "blockquote_open", "blockquote_close"}
_INERT_INLINES = {"text", "code_inline", "softbreak"}


def parse(markdown: str) -> list[Token]:
    """Block tokens, with inline tokens in their `children`."""
    return list(_PARSER.parse(markdown))


def inlines(markdown: str) -> list[Token]:
    return [child for token in parse(markdown) for child in token.children or []]


def texts(markdown: str) -> list[str]:
    """What GitHub's autolinker and mention filter would see: the text nodes, not code."""
    return [t.content for t in inlines(markdown) if t.type == "text"]


def visible(markdown: str) -> str:
    """The text a reader sees, paragraphs separated by a blank line."""
    paragraphs = []
    for token in parse(markdown):
        if token.type == "inline":
            shown = {"softbreak": "\n", "hardbreak": "\n"}
            parts = [shown.get(c.type, c.content) for c in token.children or []]
            paragraphs.append("".join(parts))
    return "\n\n".join(paragraphs).replace("\u00a0", " ")


def assert_inert(markdown: str) -> None:
    """Only paragraphs and quotes of text and code: no HTML, links, images, lists, emphasis."""
    tokens = parse(markdown)
    assert {t.type for t in tokens} - {"inline"} <= _INERT_BLOCKS, markdown
    assert {t.type for t in inlines(markdown)} <= _INERT_INLINES, markdown
    for text in texts(markdown):
        assert "@" not in text, text  # GitHub mentions `@name` in text, even if escaped
        assert not re.search(r"(?i)[a-z]+:|www\.|#[0-9]|gh-[0-9]", text), text


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<!-- hidden instructions -->",
    "<details><summary>open me</summary>hidden</details>",
    "</details>",
    "<script>alert(1)</script>",
    "![tracker](http://evil.example/x.png)",
    "[click](http://evil.example/)",
    "[ref][1]\n\n[1]: http://evil.example/",
    "<http://evil.example/>",
    "see https://evil.example/a_b.",
    "HTTPS://EVIL.EXAMPLE/",
    "www.evil.example and (www.evil.example)",
    "ftp://evil.example/x mailto:a@evil.example",
    "javascript:alert(1) data:text/html,<b>x</b>",
    "@alice and @org/team, cc bob@example.com",
    "&#64;alice &commat;bob &lt;b&gt; &amp;",
    "\\@alice \\<b\\>",
    "fixes #12, GH-3 and acme/api#4",
    "*em* _em_ **strong** __strong__ ~~gone~~ a*b*c",
    "`code` ``more`` $x^2$ $$y$$",
    "line ending with a backslash\\",
    "| a | b |\n| --- | --- |\n| 1 | 2 |",
]
BLOCKS = [
    "# heading",
    "- item",
    "* item",
    "+ item",
    "1. one",
    "1) one",
    "> quoted",
    "---",
    "***",
    "text\n===",
    "text\n---",
    "```\nfenced\n```",
    "~~~\nfenced\n~~~",
    "    indented code",
    "\tindented code",
    "- [ ] task",
    "[^1]: a footnote",
    "> [!WARNING]\n> alert",
    "<div>\nblock html\n</div>",
]


@pytest.mark.parametrize("text", HOSTILE + BLOCKS)
def test_hostile_text_is_inert_and_shown_as_typed(text: str) -> None:
    """Nothing in the text forms markup, and a reader sees the text exactly as it was typed."""
    for markdown in (inert_text(text, FORGE), inert_quote(text, FORGE)):
        assert_inert(markdown)
        # markdown-it trims no-break spaces at a paragraph's start, where cmark-gfm keeps them
        assert visible(markdown) == text.replace("\t", "    ").lstrip()


def test_indentation_becomes_no_break_spaces() -> None:
    """Leading blanks are kept as no-break spaces, which never make an indented code block."""
    assert (
        inert_quote("a\n    code\n\tb", FORGE)
        == "> a\n> " + "\u00a0" * 4 + "code\n> " + "\u00a0" * 4 + "b"
    )


def test_no_raw_html_survives() -> None:
    """HTML, comments and entities show as text: the HTML has no tag or comment from the input."""
    text = "\n".join(HOSTILE)
    html = _PARSER.render(inert_quote(text, FORGE))
    for needle in ("<img", "<!--", "<details", "<script", "<a ", "<b>", "<table"):
        assert needle not in html
    assert "&amp;<code>#64</code>;alice" in html  # the entity is shown, not decoded to `@`


def test_urls_on_other_hosts_are_code() -> None:
    """Every URL not on the forge is inline code, with the sentence's full stop left outside."""
    markdown = inert_text("see https://evil.example/a_b. or www.evil.example", FORGE)
    codes = [t.content for t in inlines(markdown) if t.type == "code_inline"]
    assert codes == ["https://evil.example/a_b", "www.evil.example"]


def test_a_forge_url_stays_a_link() -> None:
    """A URL on the forge's host is a link to exactly that URL; the trailing `.` and `)` are not."""
    markdown = inert_text("(see https://github.com/acme/shop/pull/7).", FORGE)
    links = [t.attrs["href"] for t in inlines(markdown) if t.type == "link_open"]
    assert links == ["https://github.com/acme/shop/pull/7"]
    assert visible(markdown) == "(see https://github.com/acme/shop/pull/7)."


@pytest.mark.parametrize(
    ("url", "host", "expected"),
    [
        ("https://github.com/a/b", "github.com", True),
        ("http://GitHub.com/a/b", "github.com", True),
        ("https://ghe.example/a/b", "ghe.example", True),
        ("https://github.com/a/b", "ghe.example", False),
        ("https://github.com.evil.example/", "github.com", False),
        ("https://github.com@evil.example/", "github.com", False),
        ("https://evil.example@github.com/", "github.com", False),
        ("https://github.com:8443/a", "github.com", False),
        ("https://evil.example/?u=https://github.com/", "github.com", False),
        ("javascript://github.com/%0aalert(1)", "github.com", False),
        ("https://github.com/a\u202eb", "github.com", False),
        ("file:///etc/passwd", "", False),
        ("https://[::1", "github.com", False),
    ],
)
def test_forge_url_is_exactly_the_forge_host(url: str, host: str, expected: bool) -> None:
    """Only http(s) on exactly the forge's host and port; no userinfo, lookalike or other scheme."""
    assert is_forge_url(url, host) is expected


def test_a_github_enterprise_host_links_only_to_itself() -> None:
    """With a GHE forge, its URLs are links and github.com's are code."""
    markdown = inert_text("https://ghe.example/a/b https://github.com/a/b", "ghe.example")
    assert [t.attrs["href"] for t in inlines(markdown) if t.type == "link_open"] == [
        "https://ghe.example/a/b"
    ]


def test_forge_link_falls_back_to_code() -> None:
    """forge_link links on the forge and shows the URL as code elsewhere."""
    assert forge_link("api", "https://github.com/acme/api/pull/7", FORGE) == (
        "[api](<https://github.com/acme/api/pull/7>)"
    )
    assert (
        forge_link("api", "file:///srv/api#fixbot/x", FORGE) == "api (`file:///srv/api#fixbot/x`)"
    )
    ticket = "https://tickets.example/BUG-1"
    assert forge_link(ticket, ticket, FORGE) == "`https://tickets.example/BUG-1`"


def test_link_destination_is_encoded() -> None:
    """`>`, spaces and backslashes in a trusted URL are percent-encoded; the link still forms."""
    markdown = link("run [1]", "https://t.example/a b>c\\d`e|f")
    (href,) = [t.attrs["href"] for t in inlines(markdown) if t.type == "link_open"]
    assert href == "https://t.example/a%20b%3Ec%5Cd%60e%7Cf"
    assert visible(markdown) == "run [1]"


def test_mentions_are_code() -> None:
    """`@alice`, `@org/team` and an email's `@` are inline code, where GitHub mentions no one."""
    markdown = inert_text("@alice @org/team bob@example.com", FORGE)
    codes = [t.content for t in inlines(markdown) if t.type == "code_inline"]
    assert codes == ["@alice", "@org/team", "@example.com"]


def test_control_characters_are_shown_escaped() -> None:
    """ANSI escapes, NUL, C1 and bidi overrides show as escapes; tabs inside a line are kept."""
    text = "red \x1b[31mtext\x00 \x85 \u202eevil\u2066 a\tb"
    shown = visible(inert_quote(text, FORGE))
    assert shown == "red \\x1b[31mtext\\x00 \\x85 \\u202eevil\\u2066 a\tb"
    assert visible_controls("a\nb\x7f", keep="\n") == "a\nb\\x7f"


def test_tokens_for_the_redactor_stay_whole() -> None:
    """Joiners between letters or digits are left alone: names read well, secrets stay matchable."""
    text = "cart_total.py ghp_abc123XYZ sk-ant-api03-Ab_c--d x+y=z"
    assert inert_text(text, FORGE) == text
    assert inert_text("_a_ b_ -c", FORGE) == "\\_a\\_ b\\_ \\-c"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("src/a.py", "src/a.py"),
        ("a|b", "a|b"),
        ("new\nline.py", "new\\nline.py"),
        ("cr\rtab\t.py", "cr\\rtab\\t.py"),
        ("back\\slash|pipe", "back\\\\slash|pipe"),
        ("tick`s``.py", "tick`s``.py"),
        ("`edge`", "`edge`"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("evil\u202eyp.exe", "evil\\u202eyp.exe"),
        ("<img src=x>@alice", "<img src=x>@alice"),
    ],
)
def test_names_keep_a_table_row_whole(name: str, shown: str) -> None:
    """In a table, a name is one code cell showing its escapes; the row keeps its three cells."""
    table = f"| File | + | - |\n| --- | --- | --- |\n| {inert_name(name)} | 1 | 2 |"
    tokens = parse(table)
    cells = [t for t in tokens if t.type == "td_open"]
    assert len([t for t in tokens if t.type == "tr_open"]) == 2 and len(cells) == 3
    codes = [t.content for t in inlines(table) if t.type == "code_inline"]
    assert codes == [shown]
    assert "\n" not in inert_name(name)


@pytest.mark.parametrize("text", ["plain", "a`b", "``", "`x`", " a ", "a ", "   ", "x\ny"])
def test_inline_code_survives_backticks_and_spaces(text: str) -> None:
    """The code span shows exactly the text (a newline shown as `\\n`)."""
    (token,) = inlines(inline_code(text))
    assert token.type == "code_inline" and token.content == text.replace("\n", "\\n")


def test_code_block_fence_outlasts_the_content() -> None:
    """A fenced block holds backtick runs, fences and HTML as plain content."""
    text = "2 files\n```\n````` <b>x</b>\n~~~"
    (fence,) = parse(code_block(text))
    assert fence.type == "fence" and fence.content == text + "\n"


ADVERSARIAL = [
    "@" * 500_000,
    "[" * 1_000_000,
    "<!--" * 250_000,
    "a_" * 500_000,
    "-a" * 500_000,
    "_" * 1_000_000,
    "https://" + ")" * 1_000_000,
    "www." * 250_000,
    "#1" * 500_000,
    "`" * 1_000_000,
    "\x1b" * 1_000_000,
    "\n" * 1_000_000,
    " \t" * 500_000,
    "a" * 1_000_000,
    "@a " * 333_333,
    "https://x.example " * 55_555,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:8]))
def test_a_megabyte_of_adversarial_input_renders(text: str) -> None:
    """Each renderer finishes on 1 MB of pathological input (a linear pass, no backtracking)."""
    assert inert_quote(text, FORGE)
    assert inert_text(text, FORGE) is not None
    assert "\n" not in inert_name(text)
    assert code_block(text)
