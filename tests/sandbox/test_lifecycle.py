"""Creating, finding, listing and destroying sandboxes; errors that say what to do."""

from __future__ import annotations

from collections.abc import Callable

import docker
import pytest

from sandbox.docker_backend import DockerSandbox, ImageBuildResult
from sandbox.interface import (
    LABEL_MANAGED,
    LABEL_TASK,
    LABEL_WORKFLOW,
    ImageMissing,
    SandboxError,
    SandboxSpec,
    SandboxUnavailable,
)

from .conftest import TEST_IMAGE, MakeSandbox

pytestmark = pytest.mark.docker

SpecFor = Callable[..., SandboxSpec]


def volume_exists(client: docker.DockerClient, name: str) -> bool:
    """Whether the engine has a volume of that name."""
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        return False
    return True


def test_create_labels_names_and_volume(
    backend: DockerSandbox, docker_client: docker.DockerClient, make_sandbox: MakeSandbox
) -> None:
    info = make_sandbox()
    assert info.name == f"fixbot-{info.task_id}"
    assert info.volume == f"fixbot-ws-{info.task_id}"
    assert info.running is True
    container = docker_client.containers.get(info.sandbox_id)
    assert container.labels[LABEL_MANAGED] == "true"
    assert container.labels[LABEL_TASK] == info.task_id
    assert container.labels[LABEL_WORKFLOW] == info.workflow_id
    volume_labels = docker_client.volumes.get(info.volume).attrs["Labels"]
    assert volume_labels[LABEL_TASK] == info.task_id
    assert backend.find(info.task_id) == info
    assert info.sandbox_id in {each.sandbox_id for each in backend.list_sandboxes()}


def test_create_is_idempotent_and_restarts_a_stopped_sandbox(
    backend: DockerSandbox,
    docker_client: docker.DockerClient,
    sandbox_image: ImageBuildResult,
    spec_for: SpecFor,
) -> None:
    """A second create returns the same sandbox; a stopped one is started again. Its
    workspace is a size-capped tmpfs, so what was in it is gone (the workflow prepares a
    workspace again); on a disk-backed workspace (no size cap) it is kept."""
    spec = spec_for()
    on_disk = spec.model_copy(
        update={
            "task_id": spec.task_id + "-disk",
            "limits": spec.limits.model_copy(update={"workspace_size_mb": None}),
        }
    )
    try:
        for each, kept in ((spec, b""), (on_disk, b"kept\n")):
            first = backend.create(each)
            backend.exec(first.sandbox_id, ["sh", "-c", "echo kept > /workspace/mark"])
            assert backend.create(each).sandbox_id == first.sandbox_id
            docker_client.api.stop(first.sandbox_id, timeout=1)
            again = backend.create(each)
            assert (again.sandbox_id, again.running) == (first.sandbox_id, True)
            found = backend.exec(again.sandbox_id, ["cat", "/workspace/mark"]).stdout
            assert found == kept
    finally:
        backend.destroy(f"fixbot-{spec.task_id}")
        backend.destroy(f"fixbot-{on_disk.task_id}")
        backend.destroy(f"fixbot-{spec.task_id}")


def test_destroy_removes_container_and_volume_and_is_idempotent(
    backend: DockerSandbox, docker_client: docker.DockerClient, make_sandbox: MakeSandbox
) -> None:
    info = make_sandbox()
    backend.destroy(info.sandbox_id)
    assert backend.find(info.task_id) is None
    assert not volume_exists(docker_client, info.volume)
    backend.destroy(info.sandbox_id)
    backend.destroy(info.name)
    backend.destroy("fixbot-never-existed")


def test_destroy_by_name_removes_a_leftover_volume(
    backend: DockerSandbox, docker_client: docker.DockerClient, make_sandbox: MakeSandbox
) -> None:
    info = make_sandbox()
    docker_client.api.remove_container(info.sandbox_id, force=True)
    assert volume_exists(docker_client, info.volume)
    assert info.volume in backend.list_orphan_volumes()
    backend.destroy(info.name)
    assert not volume_exists(docker_client, info.volume)


def test_missing_image_says_how_to_build(backend: DockerSandbox, spec_for: SpecFor) -> None:
    spec = spec_for(image="fixbot-sandbox:no-such-tag")
    with pytest.raises(ImageMissing, match="fixbot sandbox build"):
        backend.create(spec)
    assert backend.find(spec.task_id) is None


def test_unknown_network_leaves_nothing_behind(
    backend: DockerSandbox,
    docker_client: docker.DockerClient,
    sandbox_image: ImageBuildResult,
    spec_for: SpecFor,
) -> None:
    spec = spec_for(network="fixbot-no-such-network")
    with pytest.raises(SandboxError, match="network fixbot-no-such-network not found"):
        backend.create(spec)
    assert backend.find(spec.task_id) is None
    assert not volume_exists(docker_client, f"fixbot-ws-{spec.task_id}")


def test_bad_task_id_is_refused(backend: DockerSandbox) -> None:
    spec = SandboxSpec(task_id="../../etc", workflow_id="w", image=TEST_IMAGE)
    with pytest.raises(SandboxError, match="cannot name a sandbox"):
        backend.create(spec)


def test_foreign_containers_are_not_touched(
    backend: DockerSandbox,
    docker_client: docker.DockerClient,
    sandbox_image: ImageBuildResult,
    run_id: str,
) -> None:
    foreign = docker_client.containers.create(TEST_IMAGE, name=f"{run_id}-foreign")
    try:
        for action in (
            lambda: backend.exec(foreign.id, ["true"]),
            lambda: backend.destroy(foreign.id),
            lambda: backend.get_archive(foreign.id, "/workspace"),
        ):
            with pytest.raises(SandboxError, match="not a fixbot sandbox"):
                action()
    finally:
        foreign.remove(force=True)


def test_ping_on_a_live_engine(backend: DockerSandbox) -> None:
    backend.ping()


@pytest.mark.parametrize("use_client", [False, True])
def test_ping_on_a_dead_socket_says_what_to_do(use_client: bool) -> None:
    url = "unix:///nonexistent.sock"
    client = docker.DockerClient(base_url=url, version="1.41") if use_client else None
    backend = DockerSandbox(client, base_url=None if use_client else url)
    with pytest.raises(SandboxUnavailable) as caught:
        backend.ping()
    message = str(caught.value)
    print(message)
    assert message.startswith(f"Docker engine not reachable at {url}: install and start it")
    assert "apt-get install -y docker.io && (setsid dockerd" in message
    assert "DOCKER_HOST" in message
    assert "Traceback" not in message
