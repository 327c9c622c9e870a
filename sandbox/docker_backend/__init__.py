"""The Docker implementation of the sandbox interface (the only module that imports docker)."""

from .backend import DockerSandbox
from .build_context import LABEL_CONTENT_HASH
from .engine import connect
from .image_build import (
    FALLBACK_BASE_IMAGE,
    ImageBuildResult,
    build_sandbox_image,
    default_dockerfile,
)
from .image_status import ImageStatus, image_status

__all__ = [
    "FALLBACK_BASE_IMAGE",
    "LABEL_CONTENT_HASH",
    "DockerSandbox",
    "ImageBuildResult",
    "ImageStatus",
    "build_sandbox_image",
    "connect",
    "default_dockerfile",
    "image_status",
]
