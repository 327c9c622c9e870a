"""Provisioning and removing a task's sandbox, and its private line to the model proxy."""

from __future__ import annotations

import asyncio

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.capacity import SandboxCapacity
from orchestration.activities.errors import permanent
from orchestration.activities.heartbeat import heartbeats
from orchestration.activities.progress import signal_progress
from orchestration.agents.port import AgentRunner
from orchestration.models import DestroyRequest, ProvisionRequest, SandboxRef
from orchestration.proxies.egress.proxy import EgressProxy
from orchestration.proxies.model.proxy import ModelProxy
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
EGRESS_PORT = 3128
EGRESS_SOCKET = f"{SERVICES_PATH}/egress.sock"


def forwarder(port: int, socket: str) -> list[str]:
    """socat relaying 127.0.0.1:port inside the sandbox to a worker-side unix socket."""
    return ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{socket}"]


def egress_environment() -> dict[str, str]:
    """Proxy variables that send package managers through the egress allowlist."""
    proxy = f"http://127.0.0.1:{EGRESS_PORT}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return {
        **dict.fromkeys(names, proxy),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


class EgressPolicy:
    """Which tasks may reach which hosts (the deployment's allowlist), decided once here."""

    def __init__(self, allowlist: list[str], for_all_tasks: bool) -> None:
        self.allowlist = allowlist
        self.for_all_tasks = for_all_tasks

    def hosts_for(self, task_allows: bool) -> list[str]:
        return self.allowlist if (self.for_all_tasks or task_allows) else []


def sandbox_model_url() -> str:
    return f"http://127.0.0.1:{MODEL_PORT}"


class SandboxActivities:
    """Holds the backend, the model proxy and the settings every task's sandbox gets."""

    def __init__(
        self,
        backend: Sandbox,
        proxy: ModelProxy,
        *,
        egress: EgressProxy,
        egress_policy: EgressPolicy,
        image: str,
        network: str,
        limits: SandboxLimits,
        owner: str,
        agent: AgentRunner,
        capacity: SandboxCapacity,
        runtime: str | None = None,
    ) -> None:
        self._agent = agent
        self._capacity = capacity
        # images whose agent CLI answered once: every probe is a whole CLI start (CPU that a
        # burst of tasks waits for), and an image's content does not change under its id
        self._verified_images: set[str] = set()
        self._runtime = runtime
        self._egress = egress
        self._egress_policy = egress_policy
        self._backend = backend
        self._proxy = proxy
        self._image = image
        self._network = network
        self._limits = limits
        self._owner = owner

    @activity.defn(name=contracts.PROVISION_SANDBOX.name)
    @heartbeats
    async def provision(self, request: ProvisionRequest) -> SandboxRef:
        """Create the hardened container (once a slot on this engine is free), connect it to
        the model proxy, check the agent's CLI."""
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
            async with self._capacity.slot(request.task_id, signal_progress):
                info = await asyncio.to_thread(self._backend.create, spec)
        except ImageMissing as exc:
            raise permanent(str(exc), "ImageMissing") from None
        await self._check_cli(info)
        await asyncio.to_thread(
            self._backend.start_background, info.sandbox_id, forwarder(MODEL_PORT, MODEL_SOCKET)
        )
        hosts = self._egress_policy.hosts_for(request.allow_egress)
        if hosts:
            await self._egress.open_route(request.task_id, allowed_hosts=hosts)
            await asyncio.to_thread(
                self._backend.start_background,
                info.sandbox_id,
                forwarder(EGRESS_PORT, EGRESS_SOCKET),
            )
        activity.logger.info("sandbox %s ready for task %s", info.name, request.task_id)
        return SandboxRef(sandbox_id=info.sandbox_id, name=info.name)

    async def _check_cli(self, info: SandboxInfo) -> None:
        """The agent's CLI answers its runner's probe, or the sandbox is removed and the task
        told why (an image built without it, or too little memory to start it)."""
        if info.image_id and info.image_id in self._verified_images:
            return
        query = self._agent.probe()
        probe = await asyncio.to_thread(
            self._backend.exec,
            info.sandbox_id,
            list(query.argv),
            timeout_seconds=query.timeout_seconds,
        )
        name = self._agent.name
        if probe.exit_code == 137:
            await asyncio.to_thread(self._backend.destroy, info.sandbox_id)
            raise permanent(
                f"the sandbox ran out of memory starting {name}; raise FIXBOT_SANDBOX__MEMORY_MB",
                "SandboxTooSmall",
            )
        if not query.answered_yes(probe.exit_code, probe.stdout.decode(errors="replace")):
            await asyncio.to_thread(self._backend.destroy, info.sandbox_id)
            raise permanent(
                f"the sandbox image {self._image} has no working `{name}` CLI "
                f"(exit {probe.exit_code}); rebuild it with `fixbot sandbox build`",
                "AgentCliMissing",
            )
        if info.image_id:
            self._verified_images.add(info.image_id)

    @activity.defn(name=contracts.DESTROY_SANDBOX.name)
    @heartbeats
    async def destroy(self, request: DestroyRequest) -> None:
        """Remove the task's container, workspace volume and model route; missing is fine."""
        info = await asyncio.to_thread(self._backend.find, request.task_id)
        if info is not None:
            await asyncio.to_thread(self._backend.destroy, info.sandbox_id)
        stats = await self._egress.close_route(request.task_id)
        if stats is not None and stats.refused:
            activity.logger.info(
                "egress of task %s: %s refused (%s)",
                request.task_id,
                stats.refused,
                ", ".join(stats.refused_hosts[:10]),
            )
        usage = await self._proxy.close_route(request.task_id)
        if usage is not None:
            activity.logger.info(
                "model usage of task %s through the proxy: %s requests, $%.4f",
                request.task_id,
                usage.requests,
                usage.cost_usd,
            )
