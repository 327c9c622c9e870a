"""What only the in-memory double promises beyond the contract: where its honesty ends.

The double maps a few sandbox paths to host directories and runs commands on the host; these
tests pin the limits its docstring states, so a change to them is a deliberate one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.testing.memory_sandbox import InMemorySandbox
from sandbox.interface import ImageMissing, SandboxError, SandboxInfo, SandboxSpec

from .contract import tar_of, tar_with_symlinks


@pytest.fixture
def memory() -> Iterator[InMemorySandbox]:
    """A double of its own, closed after the test."""
    with InMemorySandbox() as backend:
        yield backend


def spec(task_id: str = "t-1", **overrides: object) -> SandboxSpec:
    """A spec for the double (the image name is not looked at unless images are given)."""
    return SandboxSpec(task_id=task_id, workflow_id="wf", image="any").model_copy(update=overrides)


def is_alive(pid: int) -> bool:
    """Whether a process of this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def background_pid(memory: InMemorySandbox, info: SandboxInfo) -> int:
    """Start `sleep 60` in the background and return its pid once it has written it."""
    memory.start_background(info.sandbox_id, ["sh", "-c", "echo $$ > bg.pid; exec sleep 60"])
    pid_file = memory.host_path(info.sandbox_id, "/workspace/bg.pid")
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the background command never started"
        time.sleep(0.05)
    return int(pid_file.read_text())


def test_paths_outside_the_mapped_ones_are_refused(memory: InMemorySandbox) -> None:
    """workdir and archive paths outside /workspace, /tmp and the home say what exists."""
    info = memory.create(spec())
    with pytest.raises(SandboxError, match="not in the in-memory sandbox"):
        memory.exec(info.sandbox_id, ["true"], workdir="/etc")
    with pytest.raises(SandboxError, match="/workspace, /tmp, /home/agent"):
        memory.get_archive(info.sandbox_id, "/etc/passwd")


def test_only_whole_argument_paths_are_translated(memory: InMemorySandbox) -> None:
    """`/workspace/x` as an argument is the workspace file; inside a script it is not."""
    info = memory.create(spec())
    memory.exec(info.sandbox_id, ["sh", "-c", "echo here > x"])
    assert memory.exec(info.sandbox_id, ["cat", "/workspace/x"]).stdout == b"here\n"
    embedded = memory.exec(info.sandbox_id, ["sh", "-c", "cat /workspace/x"])
    assert embedded.exit_code != 0 or embedded.stdout != b"here\n"


def test_the_workers_environment_does_not_leak(
    memory: InMemorySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable of the worker's process is not in the command's environment."""
    monkeypatch.setenv("FIXBOT_WORKER_ONLY", "secret-ish")
    info = memory.create(spec())
    names = memory.exec(info.sandbox_id, ["env"]).stdout.decode()
    assert "FIXBOT_WORKER_ONLY" not in names
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in names.splitlines()


def test_services_dir_is_mapped(memory: InMemorySandbox, tmp_path: Path) -> None:
    """The spec's services directory appears at /run/fixbot."""
    (tmp_path / "hello").write_text("from the worker\n")
    info = memory.create(spec(services_dir=str(tmp_path)))
    result = memory.exec(info.sandbox_id, ["cat", "/run/fixbot/hello"])
    assert result.stdout == b"from the worker\n"


def test_unknown_image_is_missing_when_images_are_given() -> None:
    """Given the images it has, the double refuses others as Docker does an unbuilt one."""
    with InMemorySandbox(images=["fixbot-sandbox:test"]) as memory:
        with pytest.raises(ImageMissing):
            memory.create(spec(image="fixbot-sandbox:other"))
        assert memory.find("t-1") is None
        assert memory.create(spec(image="fixbot-sandbox:test")).running is True


def test_destroy_and_stop_end_background_commands(memory: InMemorySandbox) -> None:
    """Background commands end with their sandbox, as a container's processes do."""
    stopped, destroyed = memory.create(spec("t-stop")), memory.create(spec("t-destroy"))
    stopped_pid, destroyed_pid = background_pid(memory, stopped), background_pid(memory, destroyed)
    memory.stop(stopped.sandbox_id)
    memory.destroy(destroyed.sandbox_id)
    assert not is_alive(stopped_pid)
    assert not is_alive(destroyed_pid)


def test_an_abandoned_stream_ends_its_command(memory: InMemorySandbox) -> None:
    """Stopping to read a stream kills the command rather than leaving it running."""
    info = memory.create(spec())
    stream = memory.exec_stream(info.sandbox_id, ["sh", "-c", "echo $$; exec sleep 60"])
    chunks = iter(stream)
    pid = int(next(chunks).data)
    chunks.close()  # type: ignore[attr-defined]
    assert not is_alive(pid)


def test_close_removes_everything_it_made() -> None:
    """After close() the root directory is gone and no command it started runs."""
    memory = InMemorySandbox()
    info = memory.create(spec())
    pid = background_pid(memory, info)
    root = memory.root
    memory.close()
    assert not root.exists()
    assert not is_alive(pid)


def test_nothing_is_written_through_a_symlink_out_of_the_sandbox(
    memory: InMemorySandbox, tmp_path: Path
) -> None:
    """A symlink may point at a host folder, but a later member cannot be written through it."""
    info = memory.create(spec())
    outside = tmp_path / "host-folder"
    outside.mkdir()
    memory.put_archive(
        info.sandbox_id, "/workspace", tar_with_symlinks("repo", {"out": str(outside)})
    )
    with pytest.raises(SandboxError):
        memory.put_archive(info.sandbox_id, "/workspace", tar_of({"repo/out/planted": b"x"}))
    with pytest.raises(SandboxError, match="outside the sandbox"):
        memory.put_archive(info.sandbox_id, "/workspace/repo/out", tar_of({"planted": b"x"}))
    assert not (outside / "planted").exists()
