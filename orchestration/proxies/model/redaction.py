"""Masks the model API key in an answer streamed back to the sandbox.

An upstream that echoes the key (an error page, a debugging gateway) must not hand it to the
agent. The answer is streamed, so the key may be split across chunks: a tail that could start
it is held back until the next chunk shows whether it does.
"""

from __future__ import annotations


def _partial_suffix(data: bytes, secret: bytes) -> int:
    """Length of the longest tail of ``data`` that is a proper prefix of ``secret``."""
    start = data.find(secret[:1], max(0, len(data) - len(secret) + 1))
    while start != -1:
        if secret.startswith(data[start:]):
            return len(data) - start
        start = data.find(secret[:1], start + 1)
    return 0


class Redactor:
    """Masks a secret in a byte stream, even split across chunks, keeping the length."""

    def __init__(self, secret: bytes) -> None:
        """Remember the secret; an empty one disables masking."""
        self._secret = secret
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Return the bytes safe to send now; hold back a tail that may start the secret."""
        if not self._secret:
            return chunk
        data = (self._held + chunk).replace(self._secret, b"*" * len(self._secret))
        keep = _partial_suffix(data, self._secret)
        self._held = data[len(data) - keep :]
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        """Return whatever is still held at the end of the stream."""
        held, self._held = self._held, b""
        return held
