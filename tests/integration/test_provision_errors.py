"""Provisioning on real Docker: a missing image or an image without `claude` is a clear,
non-retryable failure that leaves nothing behind."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from orchestration.activities.capacity import SandboxCapacity
from orchestration.activities.sandbox_activities import EgressPolicy, SandboxActivities
from orchestration.agents.claude.runner import ClaudeCodeRunner
from orchestration.models import ProvisionRequest
from orchestration.proxies.egress.proxy import EgressProxy
from orchestration.proxies.model.proxy import ModelProxy
from sandbox.docker_backend import DockerSandbox
from sandbox.interface import SandboxLimits
from tests.support.images import TEST_BASE_IMAGE

pytestmark = pytest.mark.docker


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[ModelProxy]:
    """The model proxy provisioning opens a route on (no upstream is ever called here)."""
    model_proxy = ModelProxy(upstream_url="http://127.0.0.1:9", api_key=None, socket_root=tmp_path)
    await model_proxy.start()
    yield model_proxy
    await model_proxy.stop()


def activities(image: str, proxy: ModelProxy) -> tuple[SandboxActivities, DockerSandbox]:
    backend = DockerSandbox()
    owner = f"pytest-{uuid.uuid4().hex[:6]}"
    acts = SandboxActivities(
        backend,
        proxy,
        egress=EgressProxy(socket_root=Path(tempfile.gettempdir())),  # unused: no allowlist
        egress_policy=EgressPolicy([], for_all_tasks=False),
        image=image,
        network="none",
        limits=SandboxLimits(memory_mb=256, pids=64),
        owner=owner,
        agent=ClaudeCodeRunner(),
        capacity=SandboxCapacity(backend, owner, limit=4),
    )
    return acts, backend


def request() -> ProvisionRequest:
    task_id = f"pytest-{uuid.uuid4().hex[:8]}"
    return ProvisionRequest(task_id=task_id, workflow_id=f"fixbot-{task_id}")


async def test_missing_image_says_how_to_build_it(proxy: ModelProxy) -> None:
    """An image that is not built fails at once, naming `fixbot sandbox build`."""
    acts, backend = activities("fixbot-sandbox:does-not-exist", proxy)
    req = request()
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.provision, req)
    assert caught.value.non_retryable
    assert "fixbot sandbox build" in caught.value.message
    assert backend.find(req.task_id) is None


async def test_image_without_claude_is_refused_and_removed(proxy: ModelProxy) -> None:
    """A base image lacking the CLI is caught when provisioning, and its sandbox removed."""
    acts, backend = activities(TEST_BASE_IMAGE, proxy)
    req = request()
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.provision, req)
    assert caught.value.non_retryable and caught.value.type == "AgentCliMissing"
    assert "no working `claude-code` CLI" in caught.value.message
    assert backend.find(req.task_id) is None
    assert not [v for v in backend.list_orphan_volumes() if req.task_id in v]
