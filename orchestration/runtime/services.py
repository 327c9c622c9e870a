"""The worker-side services each sandbox reaches: the model proxy and the egress proxy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from orchestration.proxies.egress.proxy import EgressProxy
from orchestration.proxies.model.proxy import ModelProxy
from orchestration.runtime.secrets import secret_value
from orchestration.runtime.settings import Settings


@dataclass
class SandboxServices:
    """What the worker serves each sandbox on its private unix sockets."""

    model: ModelProxy  # the only holder of the model API key
    egress: EgressProxy  # the allowlist to package registries, for tasks that may use it


@contextlib.asynccontextmanager
async def sandbox_services(settings: Settings) -> AsyncIterator[SandboxServices]:
    """Start the model and egress proxies for as long as the worker runs."""
    root = settings.sandbox.services_root
    model = ModelProxy(
        upstream_url=settings.anthropic_base_url,
        api_key=secret_value(settings.anthropic_api_key),
        socket_root=root,
    )
    egress = EgressProxy(socket_root=root)
    await model.start()
    await egress.start()
    try:
        yield SandboxServices(model=model, egress=egress)
    finally:
        await egress.stop()
        await model.stop()
