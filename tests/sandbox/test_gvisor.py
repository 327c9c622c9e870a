"""Sandboxes under gVisor: the engine has runsc (scripts/setup-machine registers it), `auto`
picks it, and a sandbox under it is locked down and still reaches its proxy socket."""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestration.runtime.isolation import choose_runtime
from sandbox.docker_backend import DockerSandbox, ImageBuildResult
from sandbox.interface import SERVICES_PATH, SandboxInfo, SandboxSpec

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def services_dir() -> Iterator[Path]:
    """A host directory with a unix socket that answers one line, as the proxies' do."""
    with tempfile.TemporaryDirectory(prefix="fixbot-gvisor-", dir="/tmp") as tmp:
        path = Path(tmp)
        path.chmod(0o755)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path / "probe.sock"))
        (path / "probe.sock").chmod(0o777)
        server.listen()

        def answer() -> None:
            while True:
                try:
                    client, _ = server.accept()
                except OSError:
                    return
                with client:
                    client.sendall(b"answered by the host\n")

        threading.Thread(target=answer, daemon=True).start()
        yield path
        server.close()


@pytest.fixture(scope="module")
def gvisor_sandbox(
    backend: DockerSandbox,
    sandbox_image: ImageBuildResult,
    spec_for: Callable[..., SandboxSpec],
    services_dir: Path,
) -> Iterator[SandboxInfo]:
    """One sandbox (no network) under the runtime `auto` chooses on this engine."""
    runtime = choose_runtime("auto", backend.runtimes())
    spec = spec_for(network="none").model_copy(
        update={"runtime": runtime, "services_dir": str(services_dir)}
    )
    info = backend.create(spec)
    try:
        yield info
    finally:
        backend.destroy(info.sandbox_id)


def run(backend: DockerSandbox, info: SandboxInfo, *argv: str) -> str:
    result = backend.exec(info.sandbox_id, list(argv), timeout_seconds=60)
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode()


def test_the_engine_has_gvisor_and_auto_picks_it(backend: DockerSandbox) -> None:
    """scripts/setup-machine registered runsc, so `auto` creates sandboxes under it."""
    assert "runsc" in backend.runtimes()
    assert choose_runtime("auto", backend.runtimes()) == "runsc"


def test_the_sandbox_runs_on_gvisors_kernel(
    backend: DockerSandbox, gvisor_sandbox: SandboxInfo
) -> None:
    """The kernel the agent talks to is gVisor's, and the engine ran it under runsc."""
    assert "Starting gVisor" in run(backend, gvisor_sandbox, "dmesg")
    inspected = backend.client.api.inspect_container(gvisor_sandbox.sandbox_id)
    assert inspected["HostConfig"]["Runtime"] == "runsc"


def test_it_is_locked_down_as_under_runc(
    backend: DockerSandbox, gvisor_sandbox: SandboxInfo
) -> None:
    """The agent user, no capabilities, no privilege gain, loopback only, read-only root."""
    assert run(backend, gvisor_sandbox, "id").startswith("uid=1000(agent) gid=1000(agent)")
    status = run(backend, gvisor_sandbox, "cat", "/proc/self/status").splitlines()
    caps = [line.split(":", 1)[1] for line in status if line.startswith("CapEff:")]
    assert [int(value, 16) for value in caps] == [0]
    # gVisor's /proc shows no NoNewPrivs line: the flag is checked where the engine set it
    inspected = backend.client.api.inspect_container(gvisor_sandbox.sandbox_id)
    assert "no-new-privileges" in inspected["HostConfig"]["SecurityOpt"]
    names = run(
        backend, gvisor_sandbox, "python3", "-c", "import socket; print(socket.if_nameindex())"
    )
    assert names.strip() == "[(1, 'lo')]"
    denied = backend.exec(gvisor_sandbox.sandbox_id, ["touch", "/usr/probe"])
    assert denied.exit_code != 0


def test_the_commands_an_agent_runs_all_the_time_work(
    backend: DockerSandbox, gvisor_sandbox: SandboxInfo
) -> None:
    """`ls -l` and `stat` work under runsc (Debian's runsc refuses statx with
    AT_NO_AUTOMOUNT; the image's preloaded statx drops the flag)."""
    listing = run(backend, gvisor_sandbox, "ls", "-l", "/usr/bin/git")
    assert listing.startswith("-rwxr-xr-x") and "/usr/bin/git" in listing
    assert run(backend, gvisor_sandbox, "stat", "-c", "%U %s", "/etc/passwd").startswith("root ")
    assert run(backend, gvisor_sandbox, "ls", "/workspace") == ""


def test_the_proxy_socket_is_reachable_from_inside(
    backend: DockerSandbox, gvisor_sandbox: SandboxInfo
) -> None:
    """A host unix socket in the task's services directory answers (the model proxy's road)."""
    line = run(
        backend, gvisor_sandbox, "socat", "-T5", "-", f"UNIX-CONNECT:{SERVICES_PATH}/probe.sock"
    )
    assert line == "answered by the host\n"
