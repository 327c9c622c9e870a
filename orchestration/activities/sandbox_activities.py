"""Provisioning and removing a task's sandbox, and its private line to the model proxy."""

from __future__ import annotations

import asyncio

from temporalio import activity

from orchestration import activity_names as names
from orchestration.activities.errors import permanent
from orchestration.model_proxy import ModelProxy
from orchestration.models import DestroyRequest, ProvisionRequest, SandboxRef
from sandbox.interface import (
    SERVICES_PATH,
    ImageMissing,
    Sandbox,
    SandboxInfo,
    SandboxLimits,
    SandboxSpec,
)

# Inside the sandbox the model is at 127.0.0.1:MODEL_PORT: socat forwards it to the task's
# unix socket, which the worker's model proxy serves. The sandbox itself has no network.
MODEL_PORT = 8765
MODEL_SOCKET = f"{SERVICES_PATH}/model.sock"
FORWARDER = [
    "socat",
    f"TCP-LISTEN:{MODEL_PORT},bind=127.0.0.1,fork,reuseaddr",
    f"UNIX-CONNECT:{MODEL_SOCKET}",
]


def sandbox_model_url() -> str:
    return f"http://127.0.0.1:{MODEL_PORT}"


class SandboxActivities:
    """Holds the backend, the model proxy and the settings every task's sandbox gets."""

    def __init__(
        self,
        backend: Sandbox,
        proxy: ModelProxy,
        *,
        image: str,
        network: str,
        limits: SandboxLimits,
        owner: str,
        runtime: str | None = None,
    ) -> None:
        self._runtime = runtime
        self._backend = backend
        self._proxy = proxy
        self._image = image
        self._network = network
        self._limits = limits
        self._owner = owner

    @activity.defn(name=names.PROVISION_SANDBOX)
    async def provision(self, request: ProvisionRequest) -> SandboxRef:
        """Create the hardened container, connect it to the model proxy, check the CLI."""
        route = await self._proxy.open_route(request.task_id, budget_usd=request.budget_usd)
        spec = SandboxSpec(
            task_id=request.task_id,
            workflow_id=request.workflow_id,
            image=self._image,
            owner=self._owner,
            network=self._network,
            limits=self._limits,
            services_dir=str(route.socket_dir),
            runtime=self._runtime,
        )
        try:
            info = await asyncio.to_thread(self._backend.create, spec)
        except ImageMissing as exc:
            raise permanent(str(exc), "ImageMissing") from None
        await self._check_cli(info)
        await asyncio.to_thread(self._backend.start_background, info.sandbox_id, FORWARDER)
        activity.logger.info("sandbox %s ready for task %s", info.name, request.task_id)
        return SandboxRef(sandbox_id=info.sandbox_id, name=info.name)

    async def _check_cli(self, info: SandboxInfo) -> None:
        probe = await asyncio.to_thread(
            self._backend.exec, info.sandbox_id, ["claude", "--version"], timeout_seconds=60
        )
        if probe.exit_code != 0:
            await asyncio.to_thread(self._backend.destroy, info.sandbox_id)
            raise permanent(
                f"the sandbox image {self._image} has no working `claude` CLI "
                f"(exit {probe.exit_code}); rebuild it with `fixbot sandbox build`",
                "ClaudeMissing",
            )

    @activity.defn(name=names.DESTROY_SANDBOX)
    async def destroy(self, request: DestroyRequest) -> None:
        """Remove the task's container, workspace volume and model route; missing is fine."""
        info = await asyncio.to_thread(self._backend.find, request.task_id)
        if info is not None:
            await asyncio.to_thread(self._backend.destroy, info.sandbox_id)
        usage = await self._proxy.close_route(request.task_id)
        if usage is not None:
            activity.logger.info(
                "model usage of task %s through the proxy: %s requests, $%.4f",
                request.task_id,
                usage.requests,
                usage.cost_usd,
            )
