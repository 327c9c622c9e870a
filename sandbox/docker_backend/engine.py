"""Connecting to the Docker engine, and saying how to fix it when that fails."""

from __future__ import annotations

import os

import docker

from sandbox.interface import SandboxUnavailable

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT_SECONDS = 60
_HOW_TO_START = (
    "install and start it, on Debian as root: apt-get install -y docker.io && "
    "(setsid dockerd >/var/log/dockerd.log 2>&1 &) - or set DOCKER_HOST to a running engine"
)


def unavailable(url: str, reason: object) -> SandboxUnavailable:
    """The error for an engine that does not answer at url."""
    return SandboxUnavailable(f"Docker engine not reachable at {url}: {_HOW_TO_START} ({reason})")


def connect(base_url: str | None, timeout_seconds: int) -> docker.DockerClient:
    """A client for base_url (or the environment's DOCKER_HOST), or SandboxUnavailable."""
    try:
        if base_url is None:
            return docker.from_env(timeout=timeout_seconds)
        return docker.DockerClient(base_url=base_url, timeout=timeout_seconds)
    except (docker.errors.DockerException, OSError) as exc:
        raise unavailable(base_url or env_docker_host(), exc) from exc


def env_docker_host() -> str:
    """The engine address the environment names, or Docker's default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def client_url(client: docker.DockerClient) -> str:
    """A readable address for an existing client (its unix socket path when it has one)."""
    adapter = getattr(client.api, "_custom_adapter", None)
    socket_path = getattr(adapter, "socket_path", None)
    if isinstance(socket_path, str):
        return f"unix://{socket_path}"
    return str(client.api.base_url)
