"""The pure allowlist check: exact hosts, ports, wildcards, case, non-ASCII and IP literals."""

from __future__ import annotations

import pytest

from orchestration.proxies.egress.allowlist import host_allowed, valid_entry

NPM = ["*.npmjs.org"]
CASES = [
    # exact host: ports 80 and 443 only
    ("pypi.org", 443, ["pypi.org"], True),
    ("pypi.org", 80, ["pypi.org"], True),
    ("pypi.org", 8080, ["pypi.org"], False),
    ("files.pypi.org", 443, ["pypi.org"], False),
    ("pypi.org.evil.com", 443, ["pypi.org"], False),
    # host:port: that port only
    ("proxy.golang.org", 8443, ["proxy.golang.org:8443"], True),
    ("proxy.golang.org", 443, ["proxy.golang.org:8443"], False),
    # wildcards match subdomains only, never the bare suffix or a look-alike
    ("registry.npmjs.org", 443, NPM, True),
    ("a.b.npmjs.org", 443, NPM, True),
    ("npmjs.org", 443, NPM, False),
    ("evilnpmjs.org", 443, NPM, False),
    ("registry.npmjs.org.evil.com", 443, NPM, False),
    ("registry.npmjs.org", 22, NPM, False),
    ("registry.npmjs.org", 8443, ["*.npmjs.org:8443"], True),
    # hosts and entries compare case-insensitively
    ("PyPI.ORG", 443, ["pypi.org"], True),
    ("pypi.org", 443, ["PYPI.org"], True),
    ("Registry.NPMJS.org", 443, NPM, True),
    # non-ASCII hosts are refused, even when an entry spells them
    ("pypі.org", 443, ["pypi.org"], False),  # Cyrillic i
    ("bücher.de", 443, ["bücher.de"], False),
    ("xn--bcher-kva.de", 443, ["xn--bcher-kva.de"], True),
    # IP literals: only when listed exactly, never through a wildcard
    ("127.0.0.1", 443, ["pypi.org"], False),
    ("127.0.0.1", 443, ["127.0.0.1"], True),
    ("127.0.0.1", 5000, ["127.0.0.1:5000"], True),
    ("127.0.0.1", 5001, ["127.0.0.1:5000"], False),
    ("127.0.0.1", 443, ["*.0.0.1"], False),
    ("127.0.0.1", 443, ["*.1"], False),
    ("127.0.1", 443, ["*.0.1"], False),  # inet_aton shorthand for 127.0.0.1
    ("0x7f000001", 443, ["0x7f000001"], False),
    ("::1", 443, ["[::1]"], True),
    ("::1", 443, ["::1"], True),
    ("0:0::1", 8080, ["[::1]:8080"], True),
    ("::1", 443, ["127.0.0.1"], False),
    # malformed hosts, ports and entries never match
    ("", 443, ["pypi.org"], False),
    ("pypi.org.", 443, ["pypi.org"], False),
    ("user@pypi.org", 443, ["pypi.org"], False),
    ("pypi.org", 0, ["pypi.org:0"], False),
    ("pypi.org", 70000, ["pypi.org"], False),
    ("pypi.org", 443, ["*"], False),
    ("pypi.org", 443, ["*pypi.org"], False),
    ("pypi.org", 443, [], False),
]


@pytest.mark.parametrize(("host", "port", "allowed", "expected"), CASES)
def test_host_allowed(host: str, port: int, allowed: list[str], expected: bool) -> None:
    """Each host:port is let through exactly when an allowlist entry covers it."""
    assert host_allowed(host, port, allowed) is expected


@pytest.mark.parametrize(
    ("entry", "valid"),
    [
        ("pypi.org", True),
        ("pypi.org:443", True),
        ("*.npmjs.org", True),
        ("[::1]:8080", True),
        ("*", False),
        ("*.", False),
        ("*.127.0.0.1", False),
        ("pypi.org:99999", False),
        ("https://pypi.org", False),
        ("bücher.de", False),
    ],
)
def test_valid_entry(entry: str, valid: bool) -> None:
    """Entries that could never match are reported as malformed."""
    assert valid_entry(entry) is valid
