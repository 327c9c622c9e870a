"""Copying files in and out of the workspace with tar archives."""

from __future__ import annotations

import io
import tarfile

import pytest

from sandbox.docker_backend import DockerSandbox
from sandbox.interface import AGENT_UID, SandboxError, SandboxInfo

pytestmark = pytest.mark.docker


def agent_tar(files: dict[str, bytes]) -> bytes:
    """A tar of a folder `proj` holding files, all owned by the agent user."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folder = tarfile.TarInfo("proj")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.uid = folder.gid = AGENT_UID
        archive.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(f"proj/{name}")
            info.size = len(data)
            info.mode = 0o644
            info.uid = info.gid = AGENT_UID
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_round_trip_with_agent_ownership(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    sandbox_id = shared_sandbox.sandbox_id
    backend.put_archive(sandbox_id, "/workspace", agent_tar({"hello.txt": b"hello\n"}))
    listing = ["find", "proj", "proj/hello.txt", "-maxdepth", "0", "-printf", "%p %U:%G\\n"]
    owners = backend.exec(sandbox_id, listing)
    assert owners.stdout.decode().splitlines() == ["proj 1000:1000", "proj/hello.txt 1000:1000"]
    edit = backend.exec(sandbox_id, ["sh", "-c", "echo more >> proj/hello.txt && touch proj/new"])
    assert edit.exit_code == 0, edit.stderr
    with tarfile.open(
        fileobj=io.BytesIO(backend.get_archive(sandbox_id, "/workspace/proj"))
    ) as tar:
        hello = tar.extractfile("proj/hello.txt")
        assert hello is not None
        assert hello.read() == b"hello\nmore\n"
        assert "proj/new" in tar.getnames()


def test_put_archive_accepts_chunks(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    data = agent_tar({"chunked.txt": b"in pieces\n"})
    chunks = (data[i : i + 1000] for i in range(0, len(data), 1000))
    backend.put_archive(shared_sandbox.sandbox_id, "/workspace", chunks)
    result = backend.exec(shared_sandbox.sandbox_id, ["cat", "proj/chunked.txt"])
    assert result.stdout == b"in pieces\n"


def test_put_archive_outside_writable_places_fails(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    with pytest.raises(SandboxError, match="copying into /usr"):
        backend.put_archive(shared_sandbox.sandbox_id, "/usr", agent_tar({"x": b"x"}))


def test_get_archive_of_missing_path(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    with pytest.raises(SandboxError, match="no-such-file"):
        backend.get_archive(shared_sandbox.sandbox_id, "/workspace/no-such-file")
