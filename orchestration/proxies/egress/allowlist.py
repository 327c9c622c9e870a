"""Which hosts a task's sandbox may reach: allowlist entries (`host`, `host:port`, `*.suffix`)
and the matching of a requested host and port against them.

Only plain ASCII DNS names and IP literals are matched, so a name cannot look allowed to the
proxy and resolve elsewhere (no IDNA, no numeric labels that inet_aton would read as an IP).
"""

from __future__ import annotations

import ipaddress
import re

DEFAULT_PORTS = frozenset({80, 443})  # what an allowlist entry without a port allows
LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOSTNAME = re.compile(rf"{LABEL}(?:\.{LABEL})*")
NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # inet_aton would read such a name as an IP
AUTHORITY = re.compile(r"(?:\[(?P<v6>[^\[\]]+)\]|(?P<name>[^\[\]:]+))(?::(?P<port>[0-9]{1,5}))?")


def host_allowed(host: str, port: int, allowed: list[str]) -> bool:
    """Whether an allowlist lets a connection to ``host:port`` through."""
    name = _normal_host(host)
    if name is None or not 0 < port < 65536:
        return False
    return any(_entry_matches(entry, name, port) for entry in allowed)


def valid_entry(entry: str) -> bool:
    """Whether an allowlist entry is well formed (a malformed one never matches)."""
    return _parse_entry(entry) is not None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an IP literal spells, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(host: str) -> str | None:
    """The host in lowercase if it is an IP literal or a plain ASCII DNS name, else None."""
    if not host.isascii():
        return None
    name = host.lower()
    if _ip(name) is not None:
        return name
    if HOSTNAME.fullmatch(name) and not NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        return name
    return None


def split_authority(text: str) -> tuple[str, int | None] | None:
    """Split ``host``, ``host:port`` or ``[v6]:port`` into host and port (None when absent)."""
    match = AUTHORITY.fullmatch(text)
    if match is None:
        return None
    v6, port = match["v6"], match["port"]
    if v6 is not None and not isinstance(_ip(v6), ipaddress.IPv6Address):
        return None
    number = int(port) if port else None
    if number is not None and not 0 < number < 65536:
        return None
    return (v6 if v6 is not None else match["name"]), number


def _parse_entry(entry: str) -> tuple[str, int | None] | None:
    """An allowlist entry as (normal host or ``*.suffix``, port or None), or None if malformed."""
    text = entry.strip()
    wildcard = text.startswith("*.")
    rest = text[2:] if wildcard else text
    bare_v6 = not wildcard and rest.count(":") > 1 and _ip(rest) is not None
    split = (rest, None) if bare_v6 else split_authority(rest)
    if split is None:
        return None
    host = _normal_host(split[0])
    if host is None or (wildcard and _ip(host) is not None):
        return None
    return ("*." + host if wildcard else host), split[1]


def _entry_matches(entry: str, host: str, port: int) -> bool:
    """Whether one allowlist entry matches a normalised host and a port."""
    parsed = _parse_entry(entry)
    if parsed is None:
        return False
    pattern, entry_port = parsed
    ports = DEFAULT_PORTS if entry_port is None else {entry_port}
    if port not in ports:
        return False
    if pattern.startswith("*."):
        return _ip(host) is None and host.endswith(pattern[1:])
    if pattern == host:
        return True
    address = _ip(pattern)
    return address is not None and address == _ip(host)


def check_entries(allowed_hosts: list[str]) -> None:
    """Refuse an allowlist with entries that could never match."""
    bad = [entry for entry in allowed_hosts if not valid_entry(entry)]
    if bad:
        raise ValueError(f"malformed allowlist entries: {bad!r}")
