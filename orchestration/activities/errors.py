"""Turning our exceptions into Temporal failures: retry what may pass next time, not the rest."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError


def permanent(message: str, kind: str) -> ApplicationError:
    """A failure that retrying cannot fix (bad input, missing image, a patch that won't apply)."""
    return ApplicationError(message, type=kind, non_retryable=True)
