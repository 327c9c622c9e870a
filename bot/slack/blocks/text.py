"""Turning values into safe mrkdwn: escaping, mentions, links, money, tokens, durations, dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_ZERO_WIDTH = "\u200b"


def escape(text: str) -> str:
    """User text made inert in mrkdwn: no mentions, links or broadcasts can be injected."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(person: str) -> str:
    """`<@U…>` for a Slack user id, otherwise the escaped name."""
    if _USER_ID.match(person):
        return f"<@{person}>"
    return escape(person) if person else "someone"


def link(url: str, label: str) -> str:
    """A mrkdwn link whose URL and label cannot break out of the `<url|label>` form."""
    safe_url = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe_url.replace('|', '%7C')}|{escape(label).replace('|', '¦')}>"


def is_web_url(url: str) -> bool:
    """True for http(s) URLs, the only ones worth linking in Slack."""
    return url.startswith(("https://", "http://"))


def code(text: str) -> str:
    """Inline code for a short user value (a path, a branch), escaped."""
    return f"`{escape(text).replace('`', 'ʼ')}`"


def code_block(text: str) -> str:
    """A fenced block for user text; fences inside it are defused."""
    inner = escape(text).replace("```", f"`{_ZERO_WIDTH}`{_ZERO_WIDTH}`")
    return f"```\n{inner}\n```"


def quote(text: str) -> str:
    """User text, escaped, as a mrkdwn block quote."""
    return quote_mrkdwn(escape(text))


def quote_mrkdwn(mrkdwn: str) -> str:
    """Already-safe mrkdwn as a block quote, line by line."""
    return "\n".join(f">{line}" for line in mrkdwn.splitlines() or [""])


def money(usd: float) -> str:
    """A cost such as `$0.28` (`<$0.01` for a fraction of a cent)."""
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def tokens(count: int) -> str:
    """A token count such as `950 tokens`, `12.3k tokens`, `1.2M tokens`."""
    if count < 1000:
        return f"{count} tokens"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k tokens"
    return f"{count / 1_000_000:.1f}M tokens"


def duration(seconds: float) -> str:
    """A duration such as `45s`, `3m 12s` or `1h 05m`."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def slack_date(moment: datetime) -> str:
    """Slack's localised date token, with a UTC fallback for old clients."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def bullet_list(lines: list[str]) -> str:
    """Lines as a mrkdwn bullet list."""
    return "\n".join(f"• {line}" for line in lines)
