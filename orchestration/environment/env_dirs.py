"""Where setup puts what it installs, and the variables that show it to later commands.

The sandbox's root is read-only and its home a small tmpfs, so setup installs into the
workspace volume: the repository's own ignored directories (node_modules, .venv) and one
environment directory per repository beside it. The same variables are given to setup, the
agent and the verify commands, so a tool installed by setup is found by all three.
"""

from __future__ import annotations

from sandbox.interface import WORKSPACE_PATH

ENV_ROOT = f"{WORKSPACE_PATH}/.fixbot-env"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_dir(repository: str) -> str:
    """The repository's environment directory in the sandbox."""
    return f"{ENV_ROOT}/{repository}"


def tool_environment(repository: str) -> dict[str, str]:
    """Variables that send user-level installs (pip --user, go install, cargo, npm -g) and
    their caches into the repository's environment directory, with their bin on PATH."""
    root = env_dir(repository)
    bins = [f"{root}/python/bin", f"{root}/go/bin", f"{root}/cargo/bin", f"{root}/npm/bin"]
    return {
        "PYTHONUSERBASE": f"{root}/python",
        "PIP_CACHE_DIR": f"{root}/cache/pip",
        "GOPATH": f"{root}/go",
        "GOCACHE": f"{root}/cache/go-build",
        "CARGO_HOME": f"{root}/cargo",
        "npm_config_prefix": f"{root}/npm",
        "npm_config_cache": f"{root}/cache/npm",
        "PATH": ":".join([*bins, BASE_PATH]),
    }


def setup_environment(repository: str) -> dict[str, str]:
    """What setup commands run with: the tool variables, and a HOME of their own (tools that
    write under ~ keep it in the snapshot)."""
    return {**tool_environment(repository), "HOME": f"{env_dir(repository)}/home"}
