"""The hardened container configuration for one task's sandbox."""

from __future__ import annotations

from typing import Any

from docker.types import Mount

from sandbox.interface import AGENT_UID, SERVICES_PATH, WORKSPACE_PATH, SandboxSpec
from sandbox.naming import container_name, labels, volume_name

AGENT_HOME = "/home/agent"
AGENT_TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not a host path
AGENT_USER_SPEC = f"{AGENT_UID}:{AGENT_UID}"
# tmpfs defaults to noexec; build tools and test runners execute from /tmp and ~/.cache.
_TMPFS_FLAGS = "rw,exec,nosuid,nodev"
# gVisor's kernel runs as host threads of the container, under its pids limit: measured on
# Debian's runsc (ptrace platform), an idle sandbox with the agent takes ~80 of them and each
# process in it ~6 more. At the limit the whole sandbox dies (gVisor cannot start a thread),
# so under runsc the engine's limit leaves room for `pids` processes and gVisor itself.
GVISOR_RUNTIME = "runsc"
GVISOR_BASE_PIDS = 128
GVISOR_PIDS_PER_PROCESS = 8


def create_kwargs(spec: SandboxSpec) -> dict[str, Any]:
    """Keyword arguments for `containers.create` that run spec's sandbox locked down."""
    return {
        "image": spec.image,
        "name": container_name(spec.task_id),
        # the container only idles while execs do the work; never depend on the image's CMD
        "command": ["sleep", "infinity"],
        "hostname": "sandbox",
        "labels": labels(spec.task_id, spec.workflow_id, spec.owner),
        "environment": {**spec.env, "HOME": AGENT_HOME},
        "working_dir": WORKSPACE_PATH,
        "mounts": _mounts(spec),
        "network_mode": spec.network,
        **({"runtime": spec.runtime} if spec.runtime else {}),
        "detach": True,
        **_hardening(),
        **_limits(spec),
    }


def workspace_driver_opts(size_mb: int | None) -> dict[str, str] | None:
    """A size-capped tmpfs for the workspace: fast, and the agent cannot fill the host's disk."""
    if size_mb is None:
        return None
    return {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": f"size={size_mb}m,uid={AGENT_UID},gid={AGENT_UID},mode=0755,nosuid,nodev",
    }


def _mounts(spec: SandboxSpec) -> list[Mount]:
    """The workspace volume, and the task's services directory (read-only) when given."""
    mounts = [Mount(target=WORKSPACE_PATH, source=volume_name(spec.task_id), type="volume")]
    if spec.services_dir:
        mounts.append(
            Mount(target=SERVICES_PATH, source=spec.services_dir, type="bind", read_only=True)
        )
    return mounts


def _hardening() -> dict[str, Any]:
    """No root, no capabilities, no privilege gain, a read-only root and an init process."""
    return {
        "user": AGENT_USER_SPEC,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "privileged": False,
        "init": True,
        "ipc_mode": "private",
    }


def _limits(spec: SandboxSpec) -> dict[str, Any]:
    """Memory (no extra swap), CPU, process count and tmpfs sizes from the spec."""
    limits = spec.limits
    memory = f"{limits.memory_mb}m"
    return {
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(limits.cpus * 1_000_000_000),
        "pids_limit": host_pids_limit(spec),
        "tmpfs": {
            AGENT_TMP: f"{_TMPFS_FLAGS},size={limits.tmp_size_mb}m,mode=1777",
            AGENT_HOME: (
                f"{_TMPFS_FLAGS},size={limits.home_size_mb}m,"
                f"uid={AGENT_UID},gid={AGENT_UID},mode=0700"
            ),
        },
    }


def host_pids_limit(spec: SandboxSpec) -> int:
    """The engine's pids limit for spec: its processes, plus gVisor's threads under runsc."""
    if spec.runtime != GVISOR_RUNTIME:
        return spec.limits.pids
    return GVISOR_BASE_PIDS + spec.limits.pids * GVISOR_PIDS_PER_PROCESS
