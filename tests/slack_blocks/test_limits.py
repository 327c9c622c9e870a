"""bot.slack.blocks.limits and text: truncation keeps mrkdwn valid, escaping makes text inert."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack.blocks.limits import fit_blocks, truncate_mrkdwn, truncate_plain
from bot.slack.blocks.text import (
    code_block,
    duration,
    escape,
    link,
    mention,
    money,
    slack_date,
    tokens,
)

URL = "https://temporal.example.com/run/1"


def test_short_text_is_left_alone() -> None:
    """Text within the limit comes back unchanged."""
    assert truncate_mrkdwn("hello", 10, URL) == "hello"
    assert truncate_plain("hello", 5) == "hello"


def test_cut_text_fits_and_ends_with_the_run_link() -> None:
    """Cut text stays within the limit, shows "…" and points to the full text."""
    cut = truncate_mrkdwn("word " * 2000, 3000, URL)
    assert len(cut) <= 3000
    assert "…" in cut
    assert cut.endswith(f"(full text: <{URL}|in the run>)")


def test_cut_never_splits_a_link() -> None:
    """A cut that would land inside `<url|label>` drops the whole link instead."""
    text = "a" * 90 + "<https://example.com/a/very/long/path|label> tail " * 5
    for limit in range(60, 200):
        cut = truncate_mrkdwn(text, limit)
        assert cut.count("<") == cut.count(">"), (limit, cut)
        assert len(cut) <= limit


def test_cut_never_splits_an_entity() -> None:
    """`&amp;` and friends are never cut in half."""
    text = escape("<&>" * 200)
    for limit in range(20, 60):
        cut = truncate_mrkdwn(text, limit)
        assert not cut.rstrip("…").endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))


def test_cut_inside_a_code_fence_closes_it() -> None:
    """An opened ``` fence is closed after the cut, and the run link follows it."""
    text = "Trace:\n```\n" + "line\n" * 1000 + "```"
    cut = truncate_mrkdwn(text, 500, URL)
    assert len(cut) <= 500
    assert cut.count("```") % 2 == 0
    assert cut.endswith(f"(full text: <{URL}|in the run>)")


def test_cut_on_fence_backticks_stays_balanced() -> None:
    """A cut in the middle of a ``` marker leaves no stray backticks that open a fence."""
    text = "x" * 95 + "```code```" + "y" * 200
    for limit in range(95, 115):
        cut = truncate_mrkdwn(text, limit)
        assert cut.count("```") % 2 == 0, cut
        assert len(cut) <= limit


def test_plain_truncation_adds_an_ellipsis() -> None:
    """Plain text cut to a limit ends with "…" and fits."""
    assert truncate_plain("abcdefghij", 5) == "abcd…"


def test_fit_blocks_keeps_the_last_block() -> None:
    """Too many blocks: the middle goes, a note says so, the buttons (last) stay."""
    blocks = [{"type": "divider"}] * 60 + [{"type": "actions", "elements": []}]
    fitted = fit_blocks(blocks, 50)
    assert len(fitted) == 50
    assert fitted[-1]["type"] == "actions"


def test_escape_defuses_broadcasts_and_links() -> None:
    """`<!channel>` and `<https://evil|click>` lose their angle brackets."""
    assert escape("<!channel> & <https://evil|click>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    )


def test_mention_only_for_slack_user_ids() -> None:
    """`U…`/`W…` ids become mentions; any other name is escaped text."""
    assert mention("U012ABCDEF") == "<@U012ABCDEF>"
    assert mention("W012ABCDEF") == "<@W012ABCDEF>"
    assert mention("alice") == "alice"
    assert mention("<!here>") == "&lt;!here&gt;"


def test_link_label_cannot_break_out() -> None:
    """A label with `>` or `|` stays inside the link."""
    made = link("https://x.example/a|b", "a>b|c")
    assert made.count("<") == 1 and made.count(">") == 1
    assert made.startswith("<https://x.example/a%7Cb|")


def test_code_block_defuses_fences_in_user_text() -> None:
    """A ``` inside the text cannot close our fence early."""
    assert code_block("a\n```\n<!channel>").count("```") == 2


def test_numbers_read_well() -> None:
    """Money, tokens and durations are short and human."""
    assert money(0.28) == "$0.28"
    assert money(0.001) == "<$0.01"
    assert tokens(950) == "950 tokens"
    assert tokens(12_345) == "12.3k tokens"
    assert tokens(1_500_000) == "1.5M tokens"
    assert duration(45) == "45s"
    assert duration(192) == "3m 12s"
    assert duration(3900) == "1h 05m"


def test_slack_date_has_a_fallback() -> None:
    """Dates use Slack's `<!date^…>` token with a UTC fallback."""
    moment = datetime(2026, 11, 24, 9, 10, tzinfo=UTC)
    assert slack_date(moment) == (
        f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|2026-11-24 09:10 UTC>"
    )
