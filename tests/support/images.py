"""The sandbox image the tests run: built once per machine from the local Debian base, and
rebuilt only when its inputs change (the builder's content hash)."""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path

import docker

from sandbox.docker_backend import build_sandbox_image, default_dockerfile

TEST_IMAGE = "fixbot-sandbox:test"
TEST_BASE_IMAGE = "fixbot-base:bookworm"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def ensure_test_image() -> str:
    """Build (or reuse) the test image; a file lock keeps parallel test workers from racing."""
    lock_path = Path(tempfile.gettempdir()) / "fixbot-test-image.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        client = docker.from_env()
        try:
            build_sandbox_image(
                client,
                tag=TEST_IMAGE,
                base_image=TEST_BASE_IMAGE,
                dockerfile=default_dockerfile(),
                extra_ca_file=HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else None,
                claude_code_version="2.1.330",
            )
        finally:
            client.close()
    return TEST_IMAGE
