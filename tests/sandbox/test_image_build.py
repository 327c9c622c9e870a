"""Building the sandbox image: the content cache, the offline fallback, missing bases."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import docker
import pytest

from sandbox.docker_backend import (
    FALLBACK_BASE_IMAGE,
    ImageBuildResult,
    build_sandbox_image,
    default_dockerfile,
    image_status,
)
from sandbox.docker_backend import image_build as image_build_module
from sandbox.docker_backend.build_context import content_hash, context_tar, read_extra_ca
from sandbox.interface import ImageMissing, SandboxError

from .conftest import CLAUDE_CODE_VERSION, DOCKERFILE, HOST_CA_BUNDLE, TEST_IMAGE, build_test_image


@pytest.mark.docker
def test_second_build_is_a_cache_hit(
    docker_client: docker.DockerClient, sandbox_image: ImageBuildResult
) -> None:
    started = time.monotonic()
    again = build_test_image(docker_client)
    print(
        f"first call: {sandbox_image.seconds}s (cached={sandbox_image.cached}); "
        f"second call: {again.seconds}s, wall {time.monotonic() - started:.3f}s"
    )
    assert again.cached is True
    assert again.built is False
    assert again.seconds < 3
    assert (again.image_id, again.content_hash) == (
        sandbox_image.image_id,
        sandbox_image.content_hash,
    )


@pytest.mark.docker
def test_image_status(docker_client: docker.DockerClient, sandbox_image: ImageBuildResult) -> None:
    status = image_status(docker_client, TEST_IMAGE)
    assert status.present is True
    assert (status.image_id, status.content_hash) == (
        sandbox_image.image_id,
        sandbox_image.content_hash,
    )
    assert image_status(docker_client, "fixbot-sandbox:no-such-tag").present is False


@pytest.mark.docker
def test_unpullable_base_falls_back_to_the_local_base(
    docker_client: docker.DockerClient, sandbox_image: ImageBuildResult
) -> None:
    lines: list[str] = []
    started = time.monotonic()
    result = build_sandbox_image(
        docker_client,
        tag=TEST_IMAGE,
        base_image="fixbot-test.invalid/no-such-base:none",
        dockerfile=DOCKERFILE,
        extra_ca_file=HOST_CA_BUNDLE,
        claude_code_version=CLAUDE_CODE_VERSION,
        on_log=lines.append,
    )
    print(f"pull failure and fallback took {time.monotonic() - started:.3f}s")
    assert result.base_image == FALLBACK_BASE_IMAGE
    assert result.cached is True  # same inputs as the test image, which is built from it
    assert any(f"building from {FALLBACK_BASE_IMAGE} instead" in line for line in lines)


@pytest.mark.docker
def test_no_base_at_all_says_what_to_do(
    docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_build_module, "FALLBACK_BASE_IMAGE", "fixbot-test/no-base:none")
    with pytest.raises(ImageMissing) as caught:
        build_sandbox_image(
            docker_client,
            tag="fixbot-sandbox:never-built",
            base_image="fixbot-test.invalid/no-such-base:none",
            dockerfile=DOCKERFILE,
            extra_ca_file=None,
            claude_code_version=CLAUDE_CODE_VERSION,
        )
    assert "scripts/build-base-image" in str(caught.value)
    assert "FIXBOT_SANDBOX__BASE_IMAGE" in str(caught.value)


def test_content_hash_covers_every_input() -> None:
    base = content_hash("FROM x", "sha256:1", b"", "1.0")
    variants = [
        content_hash("FROM y", "sha256:1", b"", "1.0"),
        content_hash("FROM x", "sha256:2", b"", "1.0"),
        content_hash("FROM x", "sha256:1", b"ca", "1.0"),
        content_hash("FROM x", "sha256:1", b"", "1.1"),
        content_hash("FROM xsha256:1", "", b"", "1.0"),
    ]
    assert base == content_hash("FROM x", "sha256:1", b"", "1.0")
    assert len({base, *variants}) == len(variants) + 1


def test_context_holds_dockerfile_and_ca() -> None:
    with tarfile.open(fileobj=io.BytesIO(context_tar("FROM x\n", b"pem"))) as archive:
        assert archive.getnames() == ["Dockerfile", "extra-ca.crt"]
        dockerfile = archive.extractfile("Dockerfile")
        assert dockerfile is not None
        assert dockerfile.read() == b"FROM x\n"


def test_extra_ca_must_be_pem(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.crt"
    not_pem.write_bytes(b"hello")
    empty = tmp_path / "empty.crt"
    empty.write_bytes(b"")
    with pytest.raises(SandboxError, match="no PEM certificate"):
        read_extra_ca(not_pem)
    with pytest.raises(SandboxError, match="cannot read"):
        read_extra_ca(tmp_path / "missing.crt")
    assert read_extra_ca(empty) == b""
    assert read_extra_ca(None) == b""


def test_default_dockerfile_is_the_repository_one() -> None:
    assert default_dockerfile() == DOCKERFILE


@pytest.mark.docker
def test_small_build_logs_labels_caches_and_replaces(
    docker_client: docker.DockerClient, tmp_path: Path, run_id: str
) -> None:
    tag = f"fixbot-sandbox:{run_id}-small"
    dockerfile = tmp_path / "Dockerfile"
    lines: list[str] = []

    def build(text: str) -> ImageBuildResult:
        dockerfile.write_text(f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\n{text}\n")
        return build_sandbox_image(
            docker_client,
            tag=tag,
            base_image=FALLBACK_BASE_IMAGE,
            dockerfile=dockerfile,
            extra_ca_file=None,
            claude_code_version="0.0.0",
            on_log=lines.append,
        )

    try:
        first = build("LABEL step=one")
        second = build("LABEL step=one")
        third = build("LABEL step=two")
        assert (first.cached, second.cached, third.cached) == (False, True, False)
        assert second.image_id == first.image_id != third.image_id
        assert any(line.startswith("Step 2/") for line in lines)
        assert image_status(docker_client, tag).content_hash == third.content_hash
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(first.image_id)  # the superseded image is gone
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_failed_build_reports_the_error_and_last_output(
    docker_client: docker.DockerClient, tmp_path: Path, run_id: str
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about to fail && exit 3\n")
    with pytest.raises(SandboxError) as caught:
        build_sandbox_image(
            docker_client,
            tag=f"fixbot-sandbox:{run_id}-broken",
            base_image=FALLBACK_BASE_IMAGE,
            dockerfile=dockerfile,
            extra_ca_file=None,
            claude_code_version="0.0.0",
        )
    message = str(caught.value)
    assert message.startswith(f"building fixbot-sandbox:{run_id}-broken failed:")
    assert "returned a non-zero code: 3" in message
    assert "about to fail" in message
