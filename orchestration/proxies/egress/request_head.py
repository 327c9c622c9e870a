"""HTTP/1.x request heads as a forward proxy reads them: where a CONNECT or an absolute-form
request wants to go, and the head to send the origin in its place.

Parsing is strict: anything ambiguous (bare CR or LF, two lengths, chunked bodies) is refused
with an error answer, because the origin might read the same bytes differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestration.proxies.egress.allowlist import split_authority
from orchestration.proxies.headers import HOP_BY_HOP, connection_listed

MAX_SHOWN_HOST = 260
HTTP_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
NOT_FORWARDED = HOP_BY_HOP | {"host", "expect", "content-length"}


class Reply(Exception):
    """An error answer to send the client before closing its connection."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the status and the one-line message."""
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestHead:
    """A parsed request head."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body_length: int


@dataclass(frozen=True)
class Target:
    """Where a request wants to go, and the origin-form path for a plain HTTP request."""

    host: str
    port: int
    path: str

    @property
    def shown(self) -> str:
        """``host:port`` made safe to print."""
        host = "".join(c if " " < c < "\x7f" else f"\\x{ord(c):02x}" for c in self.host)
        host = host[:MAX_SHOWN_HOST]
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The ``Host`` header value for a forwarded plain HTTP request."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


def parse_head(head: bytes) -> RequestHead:
    """Parse a request head that ends in a blank line."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    if any(bad in line for line in lines for bad in "\r\n\x00"):
        raise Reply(400, "fixbot egress: malformed request head")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or parts[2] not in HTTP_VERSIONS:
        raise Reply(400, "fixbot egress: malformed request line")
    headers = [_parse_header(line) for line in lines[1:]]
    length = 0 if parts[0] == "CONNECT" else _body_length(headers)
    return RequestHead(parts[0], parts[1], parts[2], headers, length)


def _parse_header(line: str) -> tuple[str, str]:
    """Split one header line into name and value."""
    name, sep, value = line.partition(":")
    if not sep or not TOKEN.fullmatch(name):
        raise Reply(400, "fixbot egress: malformed header line")
    return name, value.strip(" \t")


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    """Every value of a header, by case-insensitive name."""
    return [value for key, value in headers if key.lower() == name]


def _body_length(headers: list[tuple[str, str]]) -> int:
    """The request body's length from Content-Length; chunked bodies are not supported."""
    if _values(headers, "transfer-encoding"):
        raise Reply(411, "fixbot egress: send request bodies with a Content-Length")
    lengths = set(_values(headers, "content-length"))
    if not lengths:
        return 0
    length = lengths.pop()
    if lengths or not CONTENT_LENGTH.fullmatch(length):
        raise Reply(400, "fixbot egress: bad Content-Length")
    return int(length)


def target_of(request: RequestHead) -> Target:
    """Where a CONNECT or an absolute-form request wants to go."""
    if request.method == "CONNECT":
        split = split_authority(request.target)
        if split is None or split[1] is None:
            raise Reply(400, "fixbot egress: CONNECT needs host:port")
        return Target(split[0].lower(), split[1], "")
    scheme, sep, rest = request.target.partition("://")
    if not sep:
        raise Reply(400, "fixbot egress: this is a proxy; send http:// URLs or use CONNECT")
    if scheme.lower() != "http":
        raise Reply(400, "fixbot egress: only http:// URLs are forwarded; use CONNECT for TLS")
    return _absolute_target(rest)


def _absolute_target(rest: str) -> Target:
    """The host, port and origin-form path of an http URL without its scheme."""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    split = split_authority(rest[:end])
    if split is None:
        raise Reply(400, "fixbot egress: bad host in the URL")
    path = rest[end:].partition("#")[0]
    path = path if path.startswith("/") else "/" + path
    return Target(split[0].lower(), 80 if split[1] is None else split[1], path)


def forward_head(request: RequestHead, target: Target) -> bytes:
    """The request head for the origin: origin-form, its own Host, no hop-by-hop headers."""
    dropped = NOT_FORWARDED | connection_listed(_values(request.headers, "connection"))
    lines = [f"{request.method} {target.path} {request.version}", f"Host: {target.host_header}"]
    lines += [f"{name}: {value}" for name, value in request.headers if name.lower() not in dropped]
    if request.body_length:
        lines.append(f"Content-Length: {request.body_length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def expects_continue(request: RequestHead) -> bool:
    """Whether the client waits for a 100 Continue before sending its body."""
    wanted = any(v.lower() == "100-continue" for v in _values(request.headers, "expect"))
    return wanted and request.body_length > 0
