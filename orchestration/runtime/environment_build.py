"""`fixbot env build`: make a repository's environment snapshot ahead of its first task.

It runs the same setup a task would (same sandbox, egress rules and snapshot store), on this
host's Docker engine, without Temporal. Its helper sandboxes carry an owner of their own, so
a worker's reaper on the same engine does not take them for a task's leftovers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, SandboxRef, SetupRequest, WorkspaceReport
from orchestration.models.environment import EnvironmentReady
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.settings import Settings
from orchestration.runtime.worker import environment_activities
from orchestration.workspace.mirror import MirrorCache
from sandbox.interface import Sandbox


async def build_environment(
    settings: Settings,
    backend: Sandbox,
    repository: RepositorySpec,
    requester: str,
    say: Callable[[str], None],
) -> EnvironmentReady:
    """The repository's environment, built now unless its snapshot already exists."""
    build_id = f"env-{uuid.uuid4().hex[:12]}"
    async with sandbox_services(settings) as services:
        workspace, _, setup = environment_activities(
            backend,
            MirrorCache(settings.mirror_dir),
            settings,
            None,
            services,
            owner=f"{settings.sandbox_owner}/env-build",
        )
        prepared = await asyncio.to_thread(workspace.inspect, repository, say)
        task = make_task(
            settings,
            title=f"environment of {repository.name}",
            requester=requester,
            require_approval=False,
            repositories=[repository],
        ).model_copy(update={"task_id": build_id})
        request = SetupRequest(
            task=task,
            workflow_id=f"fixbot-{build_id}",
            sandbox=SandboxRef(sandbox_id="", name=""),  # nothing to restore into
            workspace=WorkspaceReport(repositories=[prepared]),
        )
        return await setup.build(request, prepared, say)
