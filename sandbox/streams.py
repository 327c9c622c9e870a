"""The read-once behaviour every backend's command output shares."""

from __future__ import annotations

import abc
from collections.abc import Iterator

from sandbox.interface import ExecResult, ExecStream, OutputChunk, SandboxError


class ReadOnceStream(abc.ABC):
    """An ExecStream whose output can be iterated once, and whose result exists only after
    that: the output is not kept, so a second reader would see nothing and a result taken
    early would be a guess."""

    def __init__(self) -> None:
        self._result: ExecResult | None = None
        self._consumed = False

    def __iter__(self) -> Iterator[OutputChunk]:
        """Yield output pieces as the command writes them; iterate once."""
        if self._consumed:
            raise SandboxError("an exec's output can be iterated only once")
        self._consumed = True
        return self._chunks()

    def result(self) -> ExecResult:
        """Exit code and whether the timeout fired; output went through the iterator."""
        if self._result is None:
            raise SandboxError("the exec's output was not read to the end yet")
        return self._result

    @abc.abstractmethod
    def _chunks(self) -> Iterator[OutputChunk]:
        """Yield the output, then set `self._result`."""


def collect(stream: ExecStream, limit: int) -> ExecResult:
    """Run the stream to its end; keep at most `limit` bytes of stdout and of stderr."""
    kept = {"stdout": bytearray(), "stderr": bytearray()}
    truncated = False
    for chunk in stream:
        buffer = kept[chunk.stream]
        room = limit - len(buffer)
        if len(chunk.data) > room:
            truncated = True
        if room > 0:
            buffer += chunk.data[:room]
    done = stream.result()
    return done.model_copy(
        update={
            "stdout": bytes(kept["stdout"]),
            "stderr": bytes(kept["stderr"]),
            "truncated": truncated,
        }
    )
