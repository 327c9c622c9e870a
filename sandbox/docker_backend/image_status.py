"""Whether the sandbox image is present, and which content hash it was built from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import docker
from pydantic import BaseModel

from .build_context import LABEL_CONTENT_HASH
from .engine import client_url
from .errors import translated


class ImageStatus(BaseModel):
    """One image tag as the engine knows it."""

    tag: str
    present: bool
    image_id: str | None = None
    content_hash: str | None = None
    created_at: datetime | None = None
    size_bytes: int | None = None


def image_status(client: docker.DockerClient, tag: str) -> ImageStatus:
    """The engine's view of tag: absent, or its id, content hash, age and size."""
    with translated(f"looking up image {tag}", client_url(client)):
        try:
            attrs: dict[str, Any] = client.api.inspect_image(tag)
        except docker.errors.NotFound:
            return ImageStatus(tag=tag, present=False)
    image_labels = (attrs.get("Config") or {}).get("Labels") or {}
    return ImageStatus.model_validate(
        {
            "tag": tag,
            "present": True,
            "image_id": attrs["Id"],
            "content_hash": image_labels.get(LABEL_CONTENT_HASH),
            "created_at": attrs.get("Created"),
            "size_bytes": attrs.get("Size"),
        }
    )
