"""Turning docker SDK exceptions into SandboxError with a specific message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker

from sandbox.interface import SandboxError, SandboxUnavailable

from .engine import unavailable


def explain(exc: BaseException) -> str:
    """One line saying what the engine reported, without a traceback."""
    if isinstance(exc, docker.errors.APIError):
        text = str(exc.explanation or "").strip() or str(exc)
        status = exc.status_code
        return f"{text} (HTTP {status})" if status else text
    return str(exc).strip() or type(exc).__name__


def is_conflict(exc: BaseException) -> bool:
    """Whether the engine refused because of a name clash or an object in use."""
    return isinstance(exc, docker.errors.APIError) and exc.status_code == 409


@contextmanager
def translated(action: str, url: str) -> Iterator[None]:
    """Re-raise docker and transport errors inside the block as SandboxError for action."""
    try:
        yield
    except SandboxError:
        raise
    except docker.errors.DockerException as exc:
        raise SandboxError(f"{action} failed: {explain(exc)}") from exc
    except OSError as exc:
        raise _transport_error(action, url, exc) from exc


def _transport_error(action: str, url: str, exc: OSError) -> SandboxUnavailable:
    """The error for a request that never got an answer from the engine."""
    error = unavailable(url, exc)
    return SandboxUnavailable(f"{action} failed: {error}")
