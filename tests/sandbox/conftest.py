"""Fixtures for the Docker sandbox tests: the test image, a backend, sandboxes that clean up."""

from __future__ import annotations

import fcntl
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from orchestration.runtime.isolation import choose_runtime
from orchestration.runtime.settings import SandboxSettings
from sandbox.docker_backend import DockerSandbox, ImageBuildResult, build_sandbox_image
from sandbox.interface import LABEL_MANAGED, LABEL_TASK, SandboxInfo, SandboxLimits, SandboxSpec
from sandbox.naming import volume_name

TEST_IMAGE = "fixbot-sandbox:test"
BASE_IMAGE = "fixbot-base:bookworm"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile.sandbox"
CLAUDE_CODE_VERSION = "2.1.330"
SMALL_LIMITS = SandboxLimits(memory_mb=512, cpus=1.0, pids=128, tmp_size_mb=64, home_size_mb=64)

MakeSandbox = Callable[..., SandboxInfo]


def build_test_image(client: docker.DockerClient) -> ImageBuildResult:
    """Build (or find cached) the image every sandbox test runs on, one builder at a time."""
    with (Path(tempfile.gettempdir()) / "fixbot-test-image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_sandbox_image(
            client,
            tag=TEST_IMAGE,
            base_image=BASE_IMAGE,
            dockerfile=DOCKERFILE,
            extra_ca_file=HOST_CA_BUNDLE,
            claude_code_version=CLAUDE_CODE_VERSION,
            on_log=print,
        )


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client for the local engine; without one the tests fail, saying how to start it."""
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        pytest.fail(f"no Docker engine answers ({exc}): run scripts/setup-machine")
    yield client
    client.close()


@pytest.fixture(scope="session")
def run_id() -> str:
    """A prefix for every task id this test run creates."""
    return f"pytest-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def sandbox_image(docker_client: docker.DockerClient) -> ImageBuildResult:
    """The test image, built once (content-cached across runs)."""
    return build_test_image(docker_client)


@pytest.fixture(scope="session")
def leftover_guard(docker_client: docker.DockerClient, run_id: str) -> Iterator[None]:
    """At the end of the run, fail if this run left a container or volume behind."""
    yield
    leftovers = _remove_leftovers(docker_client, run_id)
    assert not leftovers, f"tests left these behind (now removed): {leftovers}"


@pytest.fixture(scope="session")
def backend(docker_client: docker.DockerClient, leftover_guard: None) -> DockerSandbox:
    """The backend under test, on the local engine."""
    return DockerSandbox(docker_client)


@pytest.fixture(scope="session")
def sandbox_runtime(docker_client: docker.DockerClient) -> str | None:
    """The runtime the worker's default setting picks on this engine (runsc where registered)."""
    registered = frozenset(docker_client.info().get("Runtimes") or {})
    return choose_runtime(SandboxSettings().runtime, registered)


@pytest.fixture(scope="session")
def spec_for(run_id: str, sandbox_runtime: str | None) -> Callable[..., SandboxSpec]:
    """A factory of specs with fresh task ids of this run."""

    def make(
        *,
        network: str = "bridge",
        workflow_id: str | None = None,
        image: str = TEST_IMAGE,
        owner: str | None = None,
    ) -> SandboxSpec:
        task_id = f"{run_id}-{uuid.uuid4().hex[:8]}"
        return SandboxSpec(
            task_id=task_id,
            workflow_id=workflow_id or f"{run_id}-wf-{task_id[-8:]}",
            image=image,
            owner=owner or run_id,
            network=network,
            limits=SMALL_LIMITS,
            runtime=sandbox_runtime,
            env={"FIXBOT_TEST": "1"},
        )

    return make


@pytest.fixture
def make_sandbox(
    backend: DockerSandbox,
    sandbox_image: ImageBuildResult,
    spec_for: Callable[..., SandboxSpec],
) -> Iterator[MakeSandbox]:
    """Create sandboxes that are destroyed when the test ends, pass or fail."""
    with _tracked(backend, spec_for) as make:
        yield make


@pytest.fixture(scope="module")
def shared_sandbox(
    backend: DockerSandbox,
    sandbox_image: ImageBuildResult,
    spec_for: Callable[..., SandboxSpec],
) -> Iterator[SandboxInfo]:
    """One sandbox (no network) for a module's read-mostly tests."""
    with _tracked(backend, spec_for) as make:
        yield make(network="none")


class _tracked:
    """A context that hands out a sandbox factory and destroys everything it made."""

    def __init__(self, backend: DockerSandbox, spec_for: Callable[..., SandboxSpec]) -> None:
        """Remember the backend and the spec factory."""
        self._backend = backend
        self._spec_for = spec_for
        self._task_ids: list[str] = []

    def __enter__(self) -> MakeSandbox:
        """The factory: keyword arguments go to spec_for."""

        def make(**kwargs: str) -> SandboxInfo:
            spec = self._spec_for(**kwargs)
            self._task_ids.append(spec.task_id)
            return self._backend.create(spec)

        return make

    def __exit__(self, *exc_info: object) -> None:
        """Destroy every sandbox and volume made here."""
        for task_id in self._task_ids:
            info = self._backend.find(task_id)
            if info is not None:
                self._backend.destroy(info.sandbox_id)
            self._backend.remove_volume(volume_name(task_id))


def _remove_leftovers(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove this run's containers and volumes; their names."""
    found = []
    for container in client.containers.list(all=True, filters={"label": LABEL_MANAGED}):
        if container.labels.get(LABEL_TASK, "").startswith(run_id):
            found.append(container.name)
            container.remove(force=True)
    for volume in client.volumes.list():
        labels = volume.attrs.get("Labels") or {}
        if volume.name.startswith(f"fixbot-ws-{run_id}") or labels.get(LABEL_TASK, "").startswith(
            run_id
        ):
            found.append(volume.name)
            volume.remove(force=True)
    return found
