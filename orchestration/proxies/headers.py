"""HTTP headers that belong to one connection, not to the message: neither proxy forwards them."""

from __future__ import annotations

from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def connection_listed(values: Iterable[str]) -> set[str]:
    """Header names that ``Connection`` header values mark as hop-by-hop, in lowercase."""
    return {name.strip().lower() for value in values for name in value.split(",") if name.strip()}
