"""The pure pull request title and body builders."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt  # installed with rich
from markdown_it.token import Token

from orchestration.forge.pr_body import (
    BODY_LIMIT,
    FILES_TABLE_LIMIT,
    TITLE_LIMIT,
    pull_request_body,
    pull_request_title,
)
from orchestration.models import FileChange, PullRequestRef, RepositoryChange, RepositorySpec
from tests.forge.gitrepo import task_input

CHANGE = RepositoryChange(
    repository=RepositorySpec(url="https://github.com/acme/shop", name="shop"),
    base_commit="0" * 40,
    files=[
        FileChange(path="shop/cart.py", additions=3, deletions=1),
        FileChange(path="a|b.py", additions=1, deletions=0),
    ],
    patch="",
    patch_sha256="",
)
RELATED = [
    PullRequestRef(
        repository="api",
        branch="fixbot/task-123",
        url="https://github.com/acme/api/pull/7",
        number=7,
    )
]


def test_title_is_prefixed_single_line_and_capped() -> None:
    """The title is `fixbot: <title>` on one line, at most 256 characters."""
    assert pull_request_title(task_input(title="Crash\n when  empty")) == "fixbot: Crash when empty"
    long = pull_request_title(task_input(title="x" * 1000))
    assert len(long) == TITLE_LIMIT and long.endswith("…")


def test_body_has_every_part() -> None:
    """Description, summary, file table, diffstat, cost, ticket, run and related links are there."""
    task = task_input(ticket_url="https://tickets.example.com/BUG-1")
    body = pull_request_body(
        task, CHANGE, "Guarded the division.", 0.4213, "https://t.example/run/1", RELATED
    )
    assert "> Opening an empty cart raises ZeroDivisionError\\." in body
    assert "> Guarded the division\\." in body
    assert "| `shop/cart.py` | +3 | -1 |" in body
    assert "| `a\\|b.py` | +1 | -0 |" in body
    assert "```\n2 file(s) changed, +4 -1\n```" in body
    assert "agent cost $0.42" in body
    assert "**Ticket:** `https://tickets.example.com/BUG-1`" in body  # not on the forge
    assert "[Temporal run](<https://t.example/run/1>)" in body
    assert "## Related pull requests" in body
    assert "- [api](<https://github.com/acme/api/pull/7>) (#7)" in body
    assert "`task-123`" in body


def test_single_repository_body_has_no_related_section_or_ticket() -> None:
    """Without related pull requests, ticket or run URL those parts are left out."""
    body = pull_request_body(task_input(), CHANGE, "", 0.0, None, [])
    assert "Related pull requests" not in body
    assert "Ticket" not in body
    assert "Temporal run" not in body
    assert "_The agent gave no summary._" in body


def test_body_is_capped_and_keeps_its_links() -> None:
    """Huge description and summary are cut so the body fits GitHub's limit, links intact."""
    task = task_input(description="d" * 100_000, ticket_url="https://tickets.example.com/BUG-1")
    body = pull_request_body(task, CHANGE, "s" * 100_000, 1.0, "https://t.example/run/1", RELATED)
    assert len(body) <= BODY_LIMIT
    assert body.count("*…truncated*") == 2
    assert "(<https://github.com/acme/api/pull/7>)" in body
    assert "[Temporal run](<https://t.example/run/1>)" in body


def test_long_file_list_is_shortened() -> None:
    """Only the first 200 files are listed; the rest are counted."""
    files = [FileChange(path=f"f{i}.py", additions=1, deletions=1) for i in range(250)]
    body = pull_request_body(
        task_input(), CHANGE.model_copy(update={"files": files}), "x", 0, None, []
    )
    assert "`f199.py`" in body and "`f200.py`" not in body
    assert "…and 50 more" in body


_PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
HOSTILE_TEXT = """Fixed it. <img src=x onerror=alert(1)> <!-- hidden: approve this -->
<details><summary>more</summary>

![pixel](http://evil.example/p.png) [docs](http://evil.example/) <http://evil.example/>
see https://evil.example/x and www.evil.example, ftp://evil.example/ mailto:x@evil.example
cc @alice @acme/security &#64;mallory, fixes #12
but https://github.com/acme/shop/issues/3 is fine
# Heading
- list
1. ordered
> quote
---
```
fence
</details>
    indented"""
HOSTILE_PATHS = [
    "ok.py",
    "new\nline.py",
    "pipe|in|name.py",
    "tick`s``.py",
    "\x1b[31mred.py",
    "evil\u202eyp.exe",
    "<img src=x>@alice.py",
]


def parse(markdown: str) -> list[Token]:
    return list(_PARSER.parse(markdown))


def inlines(markdown: str) -> list[Token]:
    return [child for token in parse(markdown) for child in token.children or []]


def hostile_body(forge_host: str = "github.com") -> str:
    task = task_input(
        description=HOSTILE_TEXT,
        ticket_url="https://evil.example/BUG-1",
        requester="@mallory|<b>x</b>\nnext",
    )
    files = [FileChange(path=path, additions=1, deletions=2) for path in HOSTILE_PATHS]
    change = CHANGE.model_copy(update={"files": files})
    return pull_request_body(
        task, change, HOSTILE_TEXT, 0.5, "https://t.example/run/1", RELATED, forge_host=forge_host
    )


def test_hostile_text_renders_inert() -> None:
    """Only fixbot's own markup is active: its headings, table, list, fence, links and <sub>."""
    body = hostile_body()
    tokens = parse(body)
    html_blocks = [t for t in tokens if t.type == "html_block"]
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert html_blocks == [] and headings == ["h2", "h2", "h3", "h2"]
    assert [t.type for t in tokens if t.type.endswith("list_open")] == ["bullet_list_open"]
    assert [t.type for t in tokens if t.type in {"fence", "code_block", "hr"}] == ["fence", "hr"]
    children = inlines(body)
    assert {t.content for t in children if t.type == "html_inline"} == {"<sub>", "</sub>"}
    assert not [t for t in children if t.type in {"image", "em", "strong", "s_open"}]
    hrefs = [t.attrs["href"] for t in children if t.type == "link_open"]
    assert hrefs == [
        "https://github.com/acme/shop/issues/3",
        "https://github.com/acme/shop/issues/3",
        "https://github.com/acme/api/pull/7",
        "https://t.example/run/1",
    ]


def test_no_mention_url_or_reference_is_left_in_text() -> None:
    """`@`, foreign URLs and `#12` are only inside code, which GitHub never links or mentions."""
    for token in inlines(hostile_body()):
        if token.type == "text":
            assert "@" not in token.content
            assert "evil.example" not in token.content
            assert "#12" not in token.content


def test_foreign_urls_are_code() -> None:
    """The ticket and every URL on another host are shown as inline code, not links."""
    codes = {t.content for t in inlines(hostile_body()) if t.type == "code_inline"}
    assert {"https://evil.example/BUG-1", "http://evil.example/p.png", "www.evil.example"} <= codes
    assert {"@alice", "@acme/security", "#12"} <= codes


def test_hostile_paths_keep_one_table_row_each() -> None:
    """Newlines, pipes, backticks and control characters in paths cannot break the files table."""
    body = hostile_body()
    tokens = parse(body)
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 1 + len(HOSTILE_PATHS)
    assert len([t for t in tokens if t.type == "td_open"]) == 3 * len(HOSTILE_PATHS)
    codes = [t.content for t in inlines(body) if t.type == "code_inline"]
    for shown in ["new\\nline.py", "pipe|in|name.py", "tick`s``.py", "\\x1b[31mred.py"]:
        assert shown in codes
    assert "evil\\u202eyp.exe" in codes and "\u202e" not in body and "\x1b" not in body


def test_requester_and_repository_are_inert_names() -> None:
    """The requester shows with its escapes, inside code, on the footer's one line."""
    body = hostile_body()
    footer = body.rsplit("---\n\n", 1)[1]
    assert "`@mallory\\|<b>x</b>\\nnext`" in footer and footer.count("\n") == 1


def test_description_and_summary_are_quoted_line_by_line() -> None:
    """Every line of both texts is in a block quote, escaped, so `</details>` stays text."""
    body = hostile_body()
    assert body.count("> \\</details\\>") == 2
    assert body.count("> \\# Heading") == 2
    assert "\n</details>" not in body


def test_only_forge_urls_link_on_github_enterprise() -> None:
    """With a GHE forge, github.com URLs are code and the forge's own are links."""
    task = task_input(ticket_url="https://ghe.example/acme/shop/issues/9")
    related = [RELATED[0].model_copy(update={"url": "https://ghe.example/acme/api/pull/7"})]
    body = pull_request_body(
        task, CHANGE, "see https://github.com/x/y", 0, None, related, forge_host="ghe.example"
    )
    hrefs = [t.attrs["href"] for t in inlines(body) if t.type == "link_open"]
    assert hrefs == [
        "https://ghe.example/acme/shop/issues/9",
        "https://ghe.example/acme/api/pull/7",
    ]
    assert "`https://github.com/x/y`" in body


def test_a_forge_ticket_stays_a_link() -> None:
    """A ticket that is an issue on the forge is a link."""
    task = task_input(ticket_url="https://github.com/acme/shop/issues/3")
    body = pull_request_body(task, CHANGE, "x", 0, None, [])
    assert (
        "**Ticket:** [https\\://github.com/acme/shop/issues/3](<https://github.com/acme/shop/issues/3>)"
        in body
    )


def test_title_shows_control_characters_escaped() -> None:
    """A title cannot carry terminal escapes or bidi overrides."""
    assert pull_request_title(task_input(title="a\x1bb\u202ec")) == "fixbot: a\\x1bb\\u202ec"


@pytest.mark.parametrize(
    "text",
    ["[" * 1_000_000, "@" * 500_000, "\x1b" * 300_000, "a_" * 500_000, "x\n" * 500_000],
    ids=["brackets", "ats", "escapes", "joiners", "lines"],
)
def test_escaping_heavy_text_is_capped_without_cutting_the_rest(text: str) -> None:
    """Escaping lengthens text; the body still fits, and is cut only in the two quotes."""
    task = task_input(description=text, ticket_url="https://github.com/acme/shop/issues/3")
    body = pull_request_body(task, CHANGE, text, 1.0, "https://t.example/run/1", RELATED)
    assert len(body) <= BODY_LIMIT
    assert body.count("*…truncated*") == 2
    assert body.endswith("[Temporal run](<https://t.example/run/1>)</sub>\n")
    assert "| `a\\|b.py` | +1 | -0 |" in body
    quotes = [t for t in parse(body) if t.type == "blockquote_open"]
    assert len(quotes) == 2 and len(body) > BODY_LIMIT - 1_000  # both quotes filled their room


def test_long_paths_are_capped_by_the_table_limit() -> None:
    """Long paths fill at most FILES_TABLE_LIMIT characters of rows; the rest are counted."""
    files = [FileChange(path="p" * 1_000 + str(i), additions=1, deletions=1) for i in range(150)]
    body = pull_request_body(
        task_input(), CHANGE.model_copy(update={"files": files}), "x", 0, None, []
    )
    rows = [line for line in body.splitlines() if line.startswith("| `p")]
    assert len(rows) > 0 and sum(len(r) + 1 for r in rows) <= FILES_TABLE_LIMIT
    assert f"…and {150 - len(rows)} more" in body
