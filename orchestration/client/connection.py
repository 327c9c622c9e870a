"""Connecting to Temporal: the configured cluster, or the embedded dev server's address."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from orchestration.runtime.settings import Settings


class TemporalUnavailable(RuntimeError):
    """Temporal does not answer; the message names TEMPORAL_ADDRESS."""


async def connect(settings: Settings, address: str | None = None) -> Client:
    """A client with the pydantic converter; `address` overrides TEMPORAL_ADDRESS."""
    target = address or settings.temporal_address or "localhost:7233"
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            target,
            namespace=settings.temporal_namespace,
            api_key=api_key,
            tls=settings.temporal_tls or api_key is not None,
            data_converter=pydantic_data_converter,
        )
    except (RuntimeError, RPCError, OSError) as exc:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {target} ({exc}). Set TEMPORAL_ADDRESS to your server, "
            "or run `fixbot dev` for an embedded one."
        ) from None
