"""parse_fixbug_text: `/fixbug <title words> [repo …]`."""

from __future__ import annotations

import pytest

from bot.slack.parsing import FixbugCommand, parse_fixbug_text


def test_plain_title() -> None:
    """Words only: a title, no repositories."""
    assert parse_fixbug_text("  add()  subtracts\n numbers ") == FixbugCommand(
        title="add() subtracts numbers"
    )


def test_title_and_two_repositories_slack_wrapped_with_branch() -> None:
    """Slack's `<url>` and `<url|label>` are unwrapped, `#branch` kept, title order kept."""
    text = (
        "checkout <https://github.com/acme/shop|github.com/acme/shop> total "
        "<https://github.com/acme/pricing#fix-rounding> is wrong"
    )
    parsed = parse_fixbug_text(text)
    assert parsed.title == "checkout total is wrong"
    assert parsed.repositories == [
        "https://github.com/acme/shop",
        "https://github.com/acme/pricing#fix-rounding",
    ]
    assert not parsed.help


def test_branch_after_a_wrapped_url() -> None:
    """`<url>#branch` (branch outside the wrapping) keeps the branch."""
    parsed = parse_fixbug_text("bug <https://github.com/acme/calc>#dev")
    assert parsed.repositories == ["https://github.com/acme/calc#dev"]


def test_repositories_only() -> None:
    """Only repositories: an empty title."""
    parsed = parse_fixbug_text("https://github.com/acme/calc git@github.com:acme/web.git#main")
    assert parsed.title == ""
    assert parsed.repositories == [
        "https://github.com/acme/calc",
        "git@github.com:acme/web.git#main",
    ]


def test_ssh_and_http_urls_are_repositories() -> None:
    """ssh:// and http:// URLs count as repositories too."""
    parsed = parse_fixbug_text("x ssh://git@host/acme/calc http://gitea.local/acme/calc")
    assert parsed.repositories == ["ssh://git@host/acme/calc", "http://gitea.local/acme/calc"]


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty(text: str) -> None:
    """Empty text: empty title, no repositories, no help."""
    assert parse_fixbug_text(text) == FixbugCommand()


@pytest.mark.parametrize("text", ["help", " HELP ", "--help", "-h", "?"])
def test_help(text: str) -> None:
    """`help` sets the help flag."""
    assert parse_fixbug_text(text).help


def test_help_inside_a_title_is_just_a_word() -> None:
    """`help` as part of a title is a word of the title."""
    parsed = parse_fixbug_text("help page crashes")
    assert not parsed.help and parsed.title == "help page crashes"


def test_mentions_and_escapes_in_the_title_become_readable_text() -> None:
    """Slack's `<@U1|bob>`, `<#C1|general>`, `<!here>` and `&lt;` turn into plain words."""
    parsed = parse_fixbug_text("<@U1|bob> sees &lt;nil&gt; in <#C1|general> &amp; <!here>")
    assert parsed.title == "@bob sees <nil> in #general & @here"
    assert parsed.repositories == []
