"""Reading Docker's multiplexed stdout/stderr frames from a hijacked connection."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Literal, Protocol

StreamName = Literal["stdout", "stderr"]

_HEADER = struct.Struct(">BxxxL")  # stream id, 3 padding bytes, payload length
_STDOUT = 1
_READ_SIZE = 64 * 1024


class Receiver(Protocol):
    """What frames are read from: a socket, or one that watches its sandbox."""

    def recv(self, size: int, /) -> bytes: ...


def read_frames(sock: Receiver) -> Iterator[tuple[StreamName, bytes]]:
    """Yield (stream, payload piece) as they arrive, until the engine ends the stream."""
    while True:
        header = _read_exactly(sock, _HEADER.size)
        if header is None:
            return
        stream_id, remaining = _HEADER.unpack(header)
        name: StreamName = "stdout" if stream_id == _STDOUT else "stderr"
        while remaining:
            data = sock.recv(min(remaining, _READ_SIZE))
            if not data:
                return
            remaining -= len(data)
            yield name, data


def _read_exactly(sock: Receiver, size: int) -> bytes | None:
    """Exactly size bytes, or None when the stream ends first."""
    buffer = bytearray()
    while len(buffer) < size:
        data = sock.recv(size - len(buffer))
        if not data:
            return None
        buffer += data
    return bytes(buffer)
