"""Provisioning and removing a task's sandbox."""

from __future__ import annotations

import asyncio

from temporalio import activity

from orchestration import activity_names as names
from orchestration.activities.errors import permanent
from orchestration.models import DestroyRequest, ProvisionRequest, SandboxRef
from sandbox.interface import ImageMissing, Sandbox, SandboxLimits, SandboxSpec


class SandboxActivities:
    """Holds the sandbox backend and the sandbox settings every task's sandbox gets."""

    def __init__(
        self, backend: Sandbox, *, image: str, network: str, limits: SandboxLimits, owner: str
    ) -> None:
        self._backend = backend
        self._owner = owner
        self._image = image
        self._network = network
        self._limits = limits

    @activity.defn(name=names.PROVISION_SANDBOX)
    async def provision(self, request: ProvisionRequest) -> SandboxRef:
        """Create the hardened container and check that the agent CLI is inside."""
        spec = SandboxSpec(
            task_id=request.task_id,
            workflow_id=request.workflow_id,
            image=self._image,
            owner=self._owner,
            network=self._network,
            limits=self._limits,
        )
        try:
            info = await asyncio.to_thread(self._backend.create, spec)
        except ImageMissing as exc:
            raise permanent(str(exc), "ImageMissing") from None
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
        activity.logger.info("sandbox %s ready for task %s", info.name, request.task_id)
        return SandboxRef(sandbox_id=info.sandbox_id, name=info.name)

    @activity.defn(name=names.DESTROY_SANDBOX)
    async def destroy(self, request: DestroyRequest) -> None:
        """Remove the task's container and workspace volume; nothing to remove is fine."""
        info = await asyncio.to_thread(self._backend.find, request.task_id)
        if info is not None:
            await asyncio.to_thread(self._backend.destroy, info.sandbox_id)
