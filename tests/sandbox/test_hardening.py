"""The sandbox is locked down, checked from inside the container and in its inspect data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from sandbox.docker_backend import DockerSandbox
from sandbox.docker_backend.container_config import (
    GVISOR_BASE_PIDS,
    GVISOR_PIDS_PER_PROCESS,
    GVISOR_RUNTIME,
    host_pids_limit,
)
from sandbox.interface import ExecResult, SandboxInfo, SandboxSpec

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
    # asked of the kernel (prctl PR_GET_NO_NEW_PRIVS): gVisor's /proc/self/status omits it
    no_new_privs = "import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))"
    assert run(backend, shared_sandbox, "python3", "-c", no_new_privs).stdout == b"1\n"


@pytest.mark.parametrize("path", ["/probe", "/usr/probe", "/etc/probe"])
def test_root_filesystem_is_read_only(
    backend: DockerSandbox, shared_sandbox: SandboxInfo, path: str
) -> None:
    result = run(backend, shared_sandbox, "touch", path)
    mounts = run(backend, shared_sandbox, "cat", "/proc/self/mounts").stdout.decode()
    root_options = next(line.split()[3] for line in mounts.splitlines() if line.split()[1] == "/")
    assert result.exit_code != 0
    # runc's kernel says EROFS; gVisor's checks permissions first (EACCES for the agent user)
    assert b"Read-only file system" in result.stderr or b"Permission denied" in result.stderr
    assert "ro" in root_options.split(",")


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
    # find, not stat: coreutils' statx flags are refused by Debian's runsc (EINVAL)
    listing = ["find", "/workspace", "/tmp", "-maxdepth", "0", "-printf", "%p %m %U\\n"]
    result = run(backend, shared_sandbox, *listing)
    home_listing = 'find "$HOME" -maxdepth 0 -printf "%m %U\\n"; echo "$HOME"'
    home = run(backend, shared_sandbox, "sh", "-c", home_listing)
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
    spec = SandboxSpec(
        task_id="t", workflow_id="w", image="i", runtime=host["Runtime"], limits=SMALL_LIMITS
    )
    assert host["PidsLimit"] == host_pids_limit(spec)  # more under runsc, for gVisor's threads
    assert host["NanoCpus"] == int(SMALL_LIMITS.cpus * 1e9)
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Init"] is True
    assert host["NetworkMode"] == "none"


def test_limits_in_cgroup(
    backend: DockerSandbox, shared_sandbox: SandboxInfo, sandbox_runtime: str | None
) -> None:
    """The kernel enforces the memory and pids limits: seen from inside under runc, and from
    the host under gVisor (its kernel shows no cgroup files inside; the pids limit there also
    leaves room for gVisor's own threads)."""
    if sandbox_runtime == GVISOR_RUNTIME:
        memory, pids = host_cgroup_limits(backend, shared_sandbox)
        expected_pids = GVISOR_BASE_PIDS + SMALL_LIMITS.pids * GVISOR_PIDS_PER_PROCESS
    else:
        script = (
            "cat /sys/fs/cgroup/memory.max 2>/dev/null"
            " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
            " cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"
        )
        memory, pids = (
            int(v) for v in run(backend, shared_sandbox, "sh", "-c", script).stdout.split()
        )
        expected_pids = SMALL_LIMITS.pids
    assert memory == SMALL_LIMITS.memory_mb * 1024 * 1024
    assert pids == expected_pids


def host_cgroup_limits(backend: DockerSandbox, info: SandboxInfo) -> tuple[int, int]:
    """The memory and pids limits of the container's cgroup, read on the host (v1 or v2)."""
    pid = backend.client.api.inspect_container(info.sandbox_id)["State"]["Pid"]
    groups = dict(
        (line.split(":")[1], line.split(":")[2])
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    )
    root = Path("/sys/fs/cgroup")
    if (root / "memory").is_dir():  # v1: one hierarchy per controller
        memory = root / "memory" / groups["memory"].lstrip("/") / "memory.limit_in_bytes"
        pids = root / "pids" / groups["pids"].lstrip("/") / "pids.max"
    else:
        unified = root / groups[""].lstrip("/")
        memory, pids = unified / "memory.max", unified / "pids.max"
    return int(memory.read_text()), int(pids.read_text())


def test_no_network_means_loopback_only(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    listing = "import os; print(*sorted(os.listdir('/sys/class/net')))"
    result = run(backend, shared_sandbox, "python3", "-c", listing)
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
