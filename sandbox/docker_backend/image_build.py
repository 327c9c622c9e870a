"""Building the sandbox image, skipped when an image with the same content hash exists."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from pydantic import BaseModel

from sandbox.interface import ImageMissing, SandboxError

from .build_context import (
    LABEL_CONTENT_HASH,
    content_hash,
    context_tar,
    read_dockerfile,
    read_extra_ca,
)
from .engine import client_url
from .errors import explain, translated

FALLBACK_BASE_IMAGE = "fixbot-base:bookworm"
DEFAULT_BUILD_TIMEOUT_SECONDS = 1800
LogSink = Callable[[str], None]


class ImageBuildResult(BaseModel):
    """What `build_sandbox_image` produced, or found already built."""

    tag: str
    image_id: str
    content_hash: str
    base_image: str
    cached: bool
    seconds: float

    @property
    def built(self) -> bool:
        """Whether this call ran a build (not a cache hit)."""
        return not self.cached


def default_dockerfile() -> Path:
    """Dockerfile.sandbox as installed in the wheel, else at the source tree's root."""
    package_dir = Path(__file__).resolve().parents[1]
    installed = package_dir / "image" / "Dockerfile.sandbox"
    return installed if installed.is_file() else package_dir.parent / "Dockerfile.sandbox"


def build_sandbox_image(
    client: docker.DockerClient,
    *,
    tag: str,
    base_image: str,
    dockerfile: Path,
    extra_ca_file: Path | None,
    claude_code_version: str,
    on_log: LogSink | None = None,
    timeout_seconds: int = DEFAULT_BUILD_TIMEOUT_SECONDS,
) -> ImageBuildResult:
    """Build tag from dockerfile unless an image with the same content hash is there."""
    started = time.monotonic()
    log = on_log or _ignore
    text = read_dockerfile(dockerfile)
    extra_ca = read_extra_ca(extra_ca_file)
    with translated(f"building sandbox image {tag}", client_url(client)):
        base, base_id = _resolve_base(client, base_image, log)
        digest = content_hash(text, base_id, extra_ca, claude_code_version)
        build = _BuildInputs(tag, base, text, extra_ca, claude_code_version, digest)
        image_id, cached = _build_unless_cached(client, build, log, timeout_seconds)
    return ImageBuildResult(
        tag=tag,
        image_id=image_id,
        content_hash=digest,
        base_image=base,
        cached=cached,
        seconds=round(time.monotonic() - started, 3),
    )


@dataclass(frozen=True)
class _BuildInputs:
    """Everything one build needs."""

    tag: str
    base_image: str
    dockerfile: str
    extra_ca: bytes
    claude_code_version: str
    digest: str


def _run_build(
    client: docker.DockerClient, build: _BuildInputs, log: LogSink, timeout_seconds: int
) -> str:
    """Run the build, streaming its output to log; the new image's id."""
    log(f"building {build.tag} from {build.base_image} (Claude Code {build.claude_code_version})")
    stream = client.api.build(
        fileobj=io.BytesIO(context_tar(build.dockerfile, build.extra_ca)),
        custom_context=True,
        tag=build.tag,
        buildargs={
            "BASE_IMAGE": build.base_image,
            "CLAUDE_CODE_VERSION": build.claude_code_version,
        },
        labels={LABEL_CONTENT_HASH: build.digest},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
        timeout=timeout_seconds,
    )
    return _follow_build(stream, log, build.tag)


def _build_unless_cached(
    client: docker.DockerClient, build: _BuildInputs, log: LogSink, timeout_seconds: int
) -> tuple[str, bool]:
    """(image id, whether it was cached): the tagged image if its hash matches, else a build."""
    current = _inspect_image(client, build.tag)
    if current is not None and _labels(current).get(LABEL_CONTENT_HASH) == build.digest:
        log(f"{build.tag} is up to date (content hash {build.digest[:12]})")
        return str(current["Id"]), True
    image_id = _run_build(client, build, log, timeout_seconds)
    if current is not None and current["Id"] != image_id:
        _drop_superseded(client, str(current["Id"]))
    return image_id, False


def _drop_superseded(client: docker.DockerClient, old_id: str) -> None:
    """Remove the image the tag pointed at before, unless a container still uses it."""
    with contextlib.suppress(docker.errors.APIError):
        client.api.remove_image(old_id)


def _ignore(_line: str) -> None:
    """A log sink that drops lines."""


def _resolve_base(client: docker.DockerClient, base_image: str, log: LogSink) -> tuple[str, str]:
    """(base image to build from, its id): local, else pulled, else the offline fallback."""
    local_id = _local_image_id(client, base_image)
    if local_id is not None:
        return base_image, local_id
    pull_error = _try_pull(client, base_image, log)
    pulled_id = _local_image_id(client, base_image) if pull_error is None else None
    if pulled_id is not None:
        return base_image, pulled_id
    fallback_id = _local_image_id(client, FALLBACK_BASE_IMAGE)
    if fallback_id is None or base_image == FALLBACK_BASE_IMAGE:
        raise ImageMissing(_no_base_message(base_image, pull_error))
    log(f"cannot pull {base_image} ({pull_error}); building from {FALLBACK_BASE_IMAGE} instead")
    return FALLBACK_BASE_IMAGE, fallback_id


def _no_base_message(base_image: str, pull_error: str | None) -> str:
    """How to get a base image when there is none to build from."""
    return (
        f"base image {base_image} is not present and cannot be pulled ({pull_error}); "
        f"build {FALLBACK_BASE_IMAGE} from Debian's mirror with scripts/build-base-image, "
        "or set FIXBOT_SANDBOX__BASE_IMAGE to an image that is present"
    )


def _try_pull(client: docker.DockerClient, image: str, log: LogSink) -> str | None:
    """Pull image; None on success, else why it failed."""
    log(f"pulling {image}")
    try:
        client.images.pull(image)
    except (docker.errors.DockerException, OSError) as exc:
        return explain(exc)
    return None


def _local_image_id(client: docker.DockerClient, image: str) -> str | None:
    """The id of image if present locally."""
    attrs = _inspect_image(client, image)
    return None if attrs is None else str(attrs["Id"])


def _inspect_image(client: docker.DockerClient, image: str) -> dict[str, Any] | None:
    """The engine's description of image, or None when it is not present."""
    try:
        attrs: dict[str, Any] = client.api.inspect_image(image)
    except docker.errors.NotFound:
        return None
    return attrs


def _labels(attrs: dict[str, Any]) -> dict[str, str]:
    """An image's labels."""
    labels: dict[str, str] = (attrs.get("Config") or {}).get("Labels") or {}
    return labels


def _follow_build(stream: Iterable[dict[str, Any]], log: LogSink, tag: str) -> str:
    """Pass build output to log line by line; the new image's id, or SandboxError."""
    image_id: str | None = None
    pending = ""
    recent: list[str] = []
    for event in stream:
        if "error" in event:
            raise SandboxError(_failure_message(tag, str(event["error"]), recent))
        pending += str(event.get("stream", ""))
        *lines, pending = pending.split("\n")
        for line in filter(None, (raw.rstrip() for raw in lines)):
            log(line)
            recent = [*recent[-19:], line]
        image_id = str(event["aux"].get("ID")) if "aux" in event else image_id
    if pending.strip():
        log(pending.rstrip())
    if image_id is None:
        raise SandboxError(_failure_message(tag, "the engine reported no image id", recent))
    return image_id


def _failure_message(tag: str, error: str, recent: list[str]) -> str:
    """A build failure with the last log lines that led to it."""
    tail = "\n".join(recent[-10:])
    return f"building {tag} failed: {error.strip()}" + (f"\nlast output:\n{tail}" if tail else "")
