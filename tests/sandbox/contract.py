"""What the contract suite needs from each backend: the backend, and two engine-level acts.

A backend joins the contract by adding one Subject factory to `test_contract.py`'s fixture.
The two acts are things the Sandbox port does not offer but engines do to sandboxes (a stop,
a crash that leaves a workspace volume behind); each backend says how it does them.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sandbox.interface import AGENT_UID, Sandbox, SandboxInfo, SandboxSpec

SpecFor = Callable[..., SandboxSpec]


@dataclass
class Subject:
    """One backend under the contract, with a spec factory and its engine-level acts."""

    name: str
    backend: Sandbox
    spec_for: SpecFor
    stop: Callable[[SandboxInfo], None]  # what stopping the container does
    remove_keeping_volume: Callable[[SandboxInfo], None]  # a crash mid-destroy
    task_ids: list[str] = field(default_factory=list)

    def spec(self, **overrides: object) -> SandboxSpec:
        """A fresh spec (no network) that cleanup() will find again."""
        spec = self.spec_for(network="none").model_copy(update=overrides)
        self.task_ids.append(spec.task_id)
        return spec

    def create(self, **overrides: object) -> SandboxInfo:
        """Create a sandbox of a fresh spec."""
        return self.backend.create(self.spec(**overrides))

    def cleanup(self) -> None:
        """Destroy every sandbox and volume of the tasks handed out so far."""
        for task_id in self.task_ids:
            info = self.backend.find(task_id)
            if info is not None:
                self.backend.destroy(info.sandbox_id)
            self.backend.destroy(f"fixbot-{task_id}")  # a volume left without its sandbox
        self.task_ids.clear()


@contextmanager
def cleaned(subject: Subject) -> Iterator[Subject]:
    """The subject, with what was created inside the block destroyed at its end."""
    before = list(subject.task_ids)
    subject.task_ids.clear()
    try:
        yield subject
    finally:
        subject.cleanup()
        subject.task_ids.extend(before)


def tar_of(files: dict[str, bytes], *, modes: dict[str, int] | None = None) -> bytes:
    """A tar of files and their folders, owned by the agent user (nobody in a sandbox can
    chown, and Docker keeps a tar's ownership)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in sorted({str(p) for name in files for p in PurePosixPath(name).parents}):
            if folder not in (".", "/"):
                archive.addfile(_owned(folder, tarfile.DIRTYPE, 0o755))
        for name, data in files.items():
            info = _owned(name, tarfile.REGTYPE, (modes or {}).get(name, 0o644))
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with_symlinks(folder: str, links: dict[str, str]) -> bytes:
    """A tar of one folder holding symlinks (name: where it points)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(_owned(folder, tarfile.DIRTYPE, 0o755))
        for link, target in links.items():
            symlink = _owned(f"{folder}/{link}", tarfile.SYMTYPE, 0o777)
            symlink.linkname = target
            archive.addfile(symlink)
    return buffer.getvalue()


def _owned(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    """A tar entry of the agent user."""
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    info.uid = info.gid = AGENT_UID
    return info


def members(tar: bytes) -> dict[str, tarfile.TarInfo]:
    """A tar's members by name."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return {member.name: member for member in archive.getmembers()}


def member_bytes(tar: bytes, name: str) -> bytes:
    """The content of one regular file in a tar."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None, f"{name} is not a regular file in the tar"
        return extracted.read()
