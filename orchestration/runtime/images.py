"""Building the sandbox image with the deployment's settings (`fixbot sandbox build`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestration.runtime.backend import docker_backend
from orchestration.runtime.settings import Settings
from sandbox.docker_backend import (
    DockerSandbox,
    ImageBuildResult,
    build_sandbox_image,
    default_dockerfile,
)


def build_image(
    settings: Settings,
    *,
    base_image: str | None,
    tag: str | None,
    on_log: Callable[[str], None],
) -> ImageBuildResult:
    """Build the sandbox image unless an identical build already exists (blocking)."""
    backend = docker_backend()
    if not isinstance(backend, DockerSandbox):
        raise TypeError("building images needs the Docker backend")
    return build_sandbox_image(
        backend.client,
        tag=tag or settings.sandbox.image,
        base_image=base_image or settings.sandbox.base_image,
        dockerfile=default_dockerfile(),
        extra_ca_file=_existing(settings.sandbox.extra_ca_file),
        claude_code_version=settings.sandbox.claude_code_version,
        on_log=on_log,
    )


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None
