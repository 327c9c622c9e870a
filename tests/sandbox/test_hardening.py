"""The sandbox is locked down, checked from inside the container and in its inspect data."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from sandbox.docker_backend import DockerSandbox
from sandbox.interface import ExecResult, SandboxInfo

from .conftest import CLAUDE_CODE_VERSION, SMALL_LIMITS

pytestmark = pytest.mark.docker


def run(backend: DockerSandbox, info: SandboxInfo, *argv: str) -> ExecResult:
    """Run argv in the sandbox."""
    return backend.exec(info.sandbox_id, list(argv), timeout_seconds=60)


def status_field(backend: DockerSandbox, info: SandboxInfo, field: str) -> str:
    """One field of /proc/self/status as seen by a process in the sandbox."""
    status = run(backend, info, "cat", "/proc/self/status").stdout.decode()
    lines = [line for line in status.splitlines() if line.startswith(f"{field}:")]
    return lines[0].split(":", 1)[1].strip()


def test_runs_as_agent_user(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    result = run(backend, shared_sandbox, "id")
    assert result.stdout.decode().startswith("uid=1000(agent) gid=1000(agent)")


def test_no_capabilities_and_no_new_privileges(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    assert int(status_field(backend, shared_sandbox, "CapEff"), 16) == 0
    assert int(status_field(backend, shared_sandbox, "CapBnd"), 16) == 0
    assert status_field(backend, shared_sandbox, "NoNewPrivs") == "1"


@pytest.mark.parametrize("path", ["/probe", "/usr/probe", "/etc/probe"])
def test_root_filesystem_is_read_only(
    backend: DockerSandbox, shared_sandbox: SandboxInfo, path: str
) -> None:
    result = run(backend, shared_sandbox, "touch", path)
    assert result.exit_code != 0
    assert b"Read-only file system" in result.stderr


@pytest.mark.parametrize("directory", ["/workspace", "/tmp", "$HOME"])
def test_writable_places(
    backend: DockerSandbox, shared_sandbox: SandboxInfo, directory: str
) -> None:
    script = f'echo ok > "{directory}/probe" && cat "{directory}/probe" && rm "{directory}/probe"'
    result = run(backend, shared_sandbox, "sh", "-c", script)
    assert (result.exit_code, result.stdout) == (0, b"ok\n")


def test_writable_places_belong_to_the_right_users(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    result = run(backend, shared_sandbox, "stat", "-c", "%n %a %u", "/workspace", "/tmp")
    home = run(backend, shared_sandbox, "sh", "-c", 'stat -c "%a %u" "$HOME"; echo "$HOME"')
    assert result.stdout.decode().splitlines() == ["/workspace 755 1000", "/tmp 1777 0"]
    assert home.stdout.decode().splitlines() == ["700 1000", "/home/agent"]


def test_limits_in_inspect_data(
    docker_client: docker.DockerClient, shared_sandbox: SandboxInfo
) -> None:
    host: dict[str, Any] = docker_client.api.inspect_container(shared_sandbox.sandbox_id)[
        "HostConfig"
    ]
    assert host["Memory"] == SMALL_LIMITS.memory_mb * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] == SMALL_LIMITS.pids
    assert host["NanoCpus"] == int(SMALL_LIMITS.cpus * 1e9)
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Init"] is True
    assert host["NetworkMode"] == "none"


def test_limits_in_cgroup(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    script = (
        "cat /sys/fs/cgroup/memory.max 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
        " cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"
    )
    memory, pids = run(backend, shared_sandbox, "sh", "-c", script).stdout.decode().split()
    assert int(memory) == SMALL_LIMITS.memory_mb * 1024 * 1024
    assert int(pids) == SMALL_LIMITS.pids


def test_no_network_means_loopback_only(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    result = run(backend, shared_sandbox, "ls", "/sys/class/net")
    assert result.stdout.split() == [b"lo"]


def test_no_sudo(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    result = run(backend, shared_sandbox, "sh", "-c", "command -v sudo")
    assert result.exit_code != 0
    assert result.stdout == b""


def test_claude_code_runs_as_agent(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    result = run(backend, shared_sandbox, "claude", "--version")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().strip() == f"{CLAUDE_CODE_VERSION} (Claude Code)"


def test_quiet_environment(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    env = run(backend, shared_sandbox, "env").stdout.decode().splitlines()
    for expected in (
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
        "DISABLE_TELEMETRY=1",
        "DISABLE_AUTOUPDATER=1",
        "FIXBOT_TEST=1",
    ):
        assert expected in env
