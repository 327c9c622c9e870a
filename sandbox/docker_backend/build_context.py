"""The sandbox image's build context (in memory) and the content hash that caches it."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from sandbox.interface import LABEL_PREFIX, SandboxError

LABEL_CONTENT_HASH = f"{LABEL_PREFIX}.content-hash"
EXTRA_CA_NAME = "extra-ca.crt"
_HASH_VERSION = b"fixbot-sandbox-image/1"


def read_extra_ca(path: Path | None) -> bytes:
    """The extra CA bundle's bytes (empty without one), refusing a file that is not PEM."""
    if path is None:
        return b""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SandboxError(f"cannot read extra CA file {path}: {exc.strerror or exc}") from exc
    if data.strip() and b"-----BEGIN CERTIFICATE-----" not in data:
        raise SandboxError(f"extra CA file {path} holds no PEM certificate")
    return data


def read_dockerfile(path: Path) -> str:
    """The Dockerfile's text, or SandboxError naming the missing file."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SandboxError(f"cannot read Dockerfile {path}: {exc.strerror or exc}") from exc


def content_hash(dockerfile: str, base_image_id: str, extra_ca: bytes, claude_version: str) -> str:
    """A sha256 over everything that decides the image's content."""
    digest = hashlib.sha256(_HASH_VERSION)
    for part in (dockerfile.encode(), base_image_id.encode(), extra_ca, claude_version.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def context_tar(dockerfile: str, extra_ca: bytes) -> bytes:
    """A tar holding Dockerfile and extra-ca.crt, with fixed metadata."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add_file(archive, "Dockerfile", dockerfile.encode())
        _add_file(archive, EXTRA_CA_NAME, extra_ca)
    return buffer.getvalue()


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add one regular file, owned by root, mode 0644, mtime 0."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))
