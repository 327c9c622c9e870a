"""Building the worker: settings in, activities wired to their clients, one Temporal worker out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from orchestration.activities.agent_activities import AgentActivities
from orchestration.activities.publish_activities import ForgeRoute, PublishActivities
from orchestration.activities.sandbox_activities import EgressPolicy, SandboxActivities
from orchestration.activities.validation_activities import ValidationActivities
from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.egress_proxy import EgressProxy
from orchestration.forge.git_push import GitAuth, git_environment
from orchestration.forge.github_forge import GitHubForge, parse_github_repository
from orchestration.forge.local_forge import LocalForge, local_repository_path
from orchestration.gateway import WORKFLOW_ID_PREFIX, TaskGateway
from orchestration.logs import Redactor
from orchestration.model_proxy import ModelProxy
from orchestration.notify import Notifier, NotifyActivities, NullNotifier
from orchestration.settings import Settings
from orchestration.validation import RepositoryRules, is_local_repository, repository_name_from_url
from orchestration.workflow import BugFixWorkflow
from orchestration.workspace.mirror import MirrorCache
from sandbox.interface import Sandbox, SandboxLimits
from sandbox.reaper import reap

log = structlog.get_logger(__name__)


def repository_rules(settings: Settings) -> RepositoryRules:
    git = settings.git
    return RepositoryRules(
        allowed_schemes=tuple(git.allowed_schemes),
        allowed_hosts=tuple(git.allowed_hosts),
        allow_local=git.allow_local_repositories,
    )


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
        api_key=_secret(settings.anthropic_api_key),
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


def build_worker(
    client: Client,
    settings: Settings,
    backend: Sandbox,
    notifier: Notifier | None = None,
    *,
    services: SandboxServices,
) -> Worker:
    """The worker for BugFixWorkflow and every activity it calls."""
    mirrors = MirrorCache(settings.mirror_dir)
    activities: list[Callable[..., Any]] = [
        ValidationActivities(
            repository_rules(settings), allow_skipping_approval=settings.approval.allow_skip
        ).validate,
        *_sandbox_activities(backend, services, settings),
        *_workspace_activities(backend, mirrors, settings),
        AgentActivities(
            backend,
            services.model,
            default_model=settings.agent.model,
            egress_policy=_egress_policy(settings),
            redact=Redactor(settings.secret_values()).text,
            egress=services.egress,
        ).run,
        PublishActivities(
            mirrors,
            forge_router(settings),
            author_name=settings.git.author_name,
            author_email=settings.git.author_email,
            run_url=run_url_for(settings),
            allow_protected=settings.git.allow_protected_paths,
            redact=Redactor(settings.secret_values()).text,
        ).publish,
        NotifyActivities(notifier or NullNotifier()).notify,
    ]
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[BugFixWorkflow],
        activities=activities,
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def _egress_policy(settings: Settings) -> EgressPolicy:
    s = settings.sandbox
    return EgressPolicy(s.egress_allowlist, s.egress_for_all_tasks)


def _sandbox_activities(
    backend: Sandbox, services: SandboxServices, settings: Settings
) -> list[Callable[..., Any]]:
    s = settings.sandbox
    limits = SandboxLimits(
        memory_mb=s.memory_mb,
        cpus=s.cpus,
        pids=s.pids,
        tmp_size_mb=s.tmp_size_mb,
        workspace_size_mb=s.workspace_size_mb,
    )
    acts = SandboxActivities(
        backend,
        services.model,
        egress=services.egress,
        egress_policy=_egress_policy(settings),
        image=s.image,
        network=s.network,
        limits=limits,
        owner=settings.sandbox_owner,
        runtime=s.runtime,
    )
    return [acts.provision, acts.destroy]


def _workspace_activities(
    backend: Sandbox, mirrors: MirrorCache, settings: Settings
) -> list[Callable[..., Any]]:
    acts = WorkspaceActivities(
        backend,
        mirrors,
        lambda url: _git_env(settings, url),
        protected_paths=settings.git.protected_paths,
        allow_protected=settings.git.allow_protected_paths,
    )
    return [acts.prepare, acts.collect]


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter else None


def _github_auth(settings: Settings, url: str) -> GitAuth | None:
    token = _secret(settings.github_token)
    if token and not is_local_repository(url) and urlsplit(url).netloc == settings.github_web_host:
        return GitAuth(username="x-access-token", token=token)
    return None


def _git_env(settings: Settings, url: str) -> Mapping[str, str]:
    auth = _github_auth(settings, url)
    return git_environment(auth) if auth else {}


def forge_router(settings: Settings) -> Callable[[str], ForgeRoute]:
    def route(url: str) -> ForgeRoute:
        if is_local_repository(url):
            if not settings.git.allow_local_repositories:
                raise ValueError(f"{url}: local repositories are disabled")
            path = str(local_repository_path(url))
            return ForgeRoute(
                LocalForge(settings.patch_dir), path, "local", repository_name_from_url(url), None
            )
        token = _secret(settings.github_token)
        if not token:
            raise ValueError(
                f"GITHUB_TOKEN is not set, so fixbot cannot open a pull request on {url}"
            )
        owner, repo = parse_github_repository(url, settings.github_web_host)
        forge = _github_forge(settings, token)
        return ForgeRoute(forge, url, owner, repo, GitAuth(username="x-access-token", token=token))

    return route


def _github_forge(settings: Settings, token: str) -> GitHubForge:
    pacing: dict[str, float | None] = (
        {}
        if settings.github_throttle
        else {"seconds_between_requests": None, "seconds_between_writes": None}
    )
    retries = settings.github_request_retries
    return GitHubForge(
        settings.github_api_url,
        token,
        settings.github_web_host,
        retry="production" if retries > 0 else None,
        **pacing,  # type: ignore[arg-type]
    )


def run_url_for(settings: Settings) -> Callable[[str, str], str | None]:
    """Links to a run in the Temporal Web UI, when its address is configured."""

    def url(workflow_id: str, run_id: str) -> str | None:
        base = settings.temporal_ui_url
        if not base:
            return None
        namespace = settings.temporal_namespace
        return f"{base.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}/{run_id}"

    return url


async def reap_forever(
    backend: Sandbox, gateway: TaskGateway, owner: str, interval_seconds: float
) -> None:
    """Remove this deployment's sandboxes of ended workflows: now, then every interval."""
    while True:
        await reap_once(backend, gateway, owner)
        await asyncio.sleep(interval_seconds)


async def reap_once(backend: Sandbox, gateway: TaskGateway, owner: str) -> None:
    loop = asyncio.get_running_loop()

    def is_active(workflow_id: str) -> bool:
        task_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
        return asyncio.run_coroutine_threadsafe(gateway.is_running(task_id), loop).result(
            timeout=30
        )

    with contextlib.suppress(Exception):
        report = await asyncio.to_thread(reap, backend, is_active, owner)
        log.info("reaper pass", report=str(report))
