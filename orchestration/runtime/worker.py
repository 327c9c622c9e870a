"""Building the worker: settings in, activities wired to their clients, one Temporal worker out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from orchestration.activities.agent_activities import AgentActivities
from orchestration.activities.capacity import SandboxCapacity
from orchestration.activities.notify_activities import NotifyActivities
from orchestration.activities.publish_activities import PublishActivities
from orchestration.activities.sandbox_activities import EgressPolicy, SandboxActivities
from orchestration.activities.setup_activities import SetupActivities
from orchestration.activities.transcripts import TranscriptStore
from orchestration.activities.validation_activities import ValidationActivities
from orchestration.activities.verify_activities import VerifyActivities
from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.agents.claude.runner import ClaudeCodeRunner
from orchestration.agents.port import AgentRunner
from orchestration.channels.fan_out import ChannelFanOut
from orchestration.channels.log_channel import LogChannel
from orchestration.channels.port import TaskChannel
from orchestration.client.links import run_url_for
from orchestration.client.task_factory import repository_rules
from orchestration.environment.operator_specs import operator_specs
from orchestration.environment.spec_file import EnvironmentSpecError
from orchestration.runtime.forges import forge_router, git_env_for
from orchestration.runtime.isolation import choose_runtime
from orchestration.runtime.logs import Redactor
from orchestration.runtime.services import SandboxServices
from orchestration.runtime.settings import Settings, SettingsError
from orchestration.runtime.snapshots import snapshot_store
from orchestration.workflows.bugfix import BugFixWorkflow
from orchestration.workspace.mirror import MirrorCache
from orchestration.workspace.tree_limits import TreeLimits
from sandbox.interface import Sandbox, SandboxLimits, SandboxSpec


def build_worker(
    client: Client,
    settings: Settings,
    backend: Sandbox,
    channels: Sequence[TaskChannel] = (),
    *,
    services: SandboxServices,
    agent_runner: AgentRunner | None = None,
) -> Worker:
    """The worker for BugFixWorkflow and every activity it calls (the agent is Claude Code
    unless another runner is given)."""
    mirrors = MirrorCache(settings.mirror_dir)
    runner = agent_runner or ClaudeCodeRunner()
    activities: list[Callable[..., Any]] = [
        ValidationActivities(
            repository_rules(settings), allow_skipping_approval=settings.approval.allow_skip
        ).validate,
        *_sandbox_activities(backend, services, settings, runner),
        *_workspace_and_verify_activities(backend, mirrors, settings, runner, services),
        AgentActivities(
            backend,
            services.model,
            runner,
            default_model=settings.agent.model,
            egress_policy=_egress_policy(settings),
            redact=Redactor(settings.secret_values()).text,
            egress=services.egress,
            transcripts=TranscriptStore(settings.data_dir / "transcripts"),
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
        NotifyActivities(ChannelFanOut([LogChannel(), *channels])).notify,
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


def _sandbox_limits(settings: Settings) -> SandboxLimits:
    s = settings.sandbox
    return SandboxLimits(
        memory_mb=s.memory_mb,
        cpus=s.cpus,
        pids=s.pids,
        tmp_size_mb=s.tmp_size_mb,
        workspace_size_mb=s.workspace_size_mb,
    )


def _sandbox_activities(
    backend: Sandbox, services: SandboxServices, settings: Settings, runner: AgentRunner
) -> list[Callable[..., Any]]:
    s = settings.sandbox
    limits = _sandbox_limits(settings)
    acts = SandboxActivities(
        backend,
        services.model,
        egress=services.egress,
        egress_policy=_egress_policy(settings),
        image=s.image,
        network=s.network,
        limits=limits,
        owner=settings.sandbox_owner,
        agent=runner,
        capacity=SandboxCapacity(backend, settings.sandbox_owner, settings.worker.max_sandboxes),
        runtime=choose_runtime(s.runtime, backend.runtimes()),
    )
    return [acts.provision, acts.destroy]


def _workspace_and_verify_activities(
    backend: Sandbox,
    mirrors: MirrorCache,
    settings: Settings,
    runner: AgentRunner,
    services: SandboxServices,
) -> list[Callable[..., Any]]:
    workspace, verify, setup = environment_activities(backend, mirrors, settings, runner, services)
    return [workspace.prepare, workspace.collect, verify.verify, setup.prepare]


def environment_activities(
    backend: Sandbox,
    mirrors: MirrorCache,
    settings: Settings,
    runner: AgentRunner | None,
    services: SandboxServices,
    *,
    owner: str | None = None,
) -> tuple[WorkspaceActivities, VerifyActivities, SetupActivities]:
    """The workspace, verify and setup activities, sharing one mirror cache and snapshot
    store (the runner, Claude Code by default, names the guide files); `owner` labels their
    helper sandboxes (default: this deployment's)."""
    runner = runner or ClaudeCodeRunner()
    try:
        environments = operator_specs(settings.environment.specs_file)
    except EnvironmentSpecError as exc:
        raise SettingsError(f"FIXBOT_ENVIRONMENT__SPECS_FILE: {exc}") from None
    acts = WorkspaceActivities(
        backend,
        mirrors,
        lambda url: git_env_for(settings, url),
        protected_paths=settings.git.protected_paths,
        allow_protected=settings.git.allow_protected_paths,
        guide_files=runner.guide_files,
        tree_limits=TreeLimits(
            max_unpacked_mb=settings.sandbox.max_unpacked_mb,
            max_files=settings.sandbox.max_files,
            max_path_depth=settings.sandbox.max_path_depth,
        ),
        environments=environments,
    )
    runtime = choose_runtime(settings.sandbox.runtime, backend.runtimes())

    def helper_sandbox(
        task_id: str, workflow_id: str, services_dir: str | None = None
    ) -> SandboxSpec:
        """Hardened like the agent's, with no network and no route to the model (setup's
        only way out is its egress socket in services_dir)."""
        return SandboxSpec(
            task_id=task_id,
            workflow_id=workflow_id,
            image=settings.sandbox.image,
            owner=owner or settings.sandbox_owner,
            network="none",
            services_dir=services_dir,
            limits=_sandbox_limits(settings),
            runtime=runtime,
        )

    redact = Redactor(settings.secret_values()).text
    snapshots = snapshot_store(settings)
    verify = VerifyActivities(backend, acts, helper_sandbox, redact=redact, snapshots=snapshots)
    setup = SetupActivities(
        backend,
        acts,
        snapshots,
        services.egress,
        helper_sandbox,
        image=settings.sandbox.image,
        allowed_hosts=settings.environment.setup_hosts,
        internal_allowed=settings.environment.allow_internal_registries,
        logs_dir=settings.data_dir / "setup-logs",
        redact=redact,
    )
    return acts, verify, setup
