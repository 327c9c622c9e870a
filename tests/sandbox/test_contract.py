"""The Sandbox port's contract: every backend, the in-memory double included, passes it.

Docker-only behaviour (hardening, ownership from tars, the engine's error messages) is tested
in the other modules here; what any backend must do is tested once, below.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from orchestration.testing.memory_sandbox import InMemorySandbox
from sandbox.docker_backend import DockerSandbox
from sandbox.interface import SandboxError, SandboxInfo

from .contract import SpecFor, Subject, cleaned, member_bytes, members, tar_of, tar_with_symlinks


def memory_subject(request: pytest.FixtureRequest, spec_for: SpecFor) -> Iterator[Subject]:
    """The in-memory double, closed (and its directory removed) afterwards."""
    with InMemorySandbox() as backend:
        yield Subject(
            name="memory",
            backend=backend,
            spec_for=spec_for,
            stop=lambda info: backend.stop(info.sandbox_id),
            remove_keeping_volume=lambda info: backend.remove_keeping_volume(info.sandbox_id),
        )
        assert not backend.list_sandboxes()


def docker_subject(request: pytest.FixtureRequest, spec_for: SpecFor) -> Iterator[Subject]:
    """The Docker backend on the test image (the leftover guard checks its cleanup)."""
    request.getfixturevalue("sandbox_image")
    backend: DockerSandbox = request.getfixturevalue("backend")
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    yield Subject(
        name="docker",
        backend=backend,
        spec_for=spec_for,
        stop=lambda info: client.api.stop(info.sandbox_id, timeout=1),
        remove_keeping_volume=lambda info: client.api.remove_container(info.sandbox_id, force=True),
    )


SUBJECTS: dict[str, Callable[[pytest.FixtureRequest, SpecFor], Iterator[Subject]]] = {
    "memory": memory_subject,
    "docker": docker_subject,
}


@pytest.fixture(scope="module", params=["memory", pytest.param("docker", marks=pytest.mark.docker)])
def contract_subject(request: pytest.FixtureRequest, spec_for: SpecFor) -> Iterator[Subject]:
    """Each backend in turn, for a whole module."""
    yield from SUBJECTS[request.param](request, spec_for)


@pytest.fixture
def subject(contract_subject: Subject) -> Iterator[Subject]:
    """The backend; sandboxes a test creates through it are destroyed after the test."""
    with cleaned(contract_subject) as each:
        yield each


@pytest.fixture(scope="module")
def shared(contract_subject: Subject) -> Iterator[SandboxInfo]:
    """One sandbox for a module's tests that only run commands."""
    with cleaned(contract_subject) as each:
        yield each.create(env={"FIXBOT_TEST": "1"})


# --- lifecycle ---------------------------------------------------------------------------


def test_create_describes_a_running_labelled_sandbox(subject: Subject) -> None:
    """create() returns the task's running sandbox; find and list describe it alike."""
    spec = subject.spec()
    info = subject.backend.create(spec)
    assert (info.task_id, info.workflow_id, info.owner) == (
        spec.task_id,
        spec.workflow_id,
        spec.owner,
    )
    assert info.running is True
    assert info.name == f"fixbot-{spec.task_id}"
    assert info.volume == f"fixbot-ws-{spec.task_id}"
    assert subject.backend.find(spec.task_id) == info
    listed = [each for each in subject.backend.list_sandboxes() if each.task_id == spec.task_id]
    assert [(each.sandbox_id, each.owner) for each in listed] == [(info.sandbox_id, spec.owner)]


def test_create_is_idempotent_per_task_even_when_concurrent(subject: Subject) -> None:
    """Creating the same task again, or from several threads at once, gives one sandbox."""
    spec = subject.spec()
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = [
            future.result()
            for future in [pool.submit(subject.backend.create, spec) for _ in range(4)]
        ]
    again = subject.backend.create(spec)
    assert {info.sandbox_id for info in made} == {again.sandbox_id}
    assert all(info.running for info in made)
    assert [s.task_id for s in subject.backend.list_sandboxes()].count(spec.task_id) == 1


def test_tasks_get_separate_workspaces(subject: Subject) -> None:
    """A file one task writes into its workspace is not in another task's."""
    first, second = subject.create(), subject.create()
    assert first.sandbox_id != second.sandbox_id
    assert subject.backend.exec(first.sandbox_id, ["touch", "mine"]).exit_code == 0
    assert subject.backend.exec(first.sandbox_id, ["test", "-e", "mine"]).exit_code == 0
    assert subject.backend.exec(second.sandbox_id, ["test", "-e", "mine"]).exit_code == 1


def test_bad_task_id_is_refused(subject: Subject) -> None:
    """A task id that cannot name a sandbox is refused before anything is created."""
    with pytest.raises(SandboxError, match="cannot name a sandbox"):
        subject.backend.create(subject.spec_for().model_copy(update={"task_id": "../../etc"}))
    with pytest.raises(SandboxError, match="cannot name a sandbox"):
        subject.backend.find("a b")


def test_a_stopped_sandbox_refuses_commands_and_create_starts_it(subject: Subject) -> None:
    """Stopped: exec fails and find says so; create() starts the same sandbox again, with a
    size-capped (tmpfs) workspace emptied and a disk workspace kept."""
    capped = subject.create()
    disk_limits = subject.spec_for().limits.model_copy(update={"workspace_size_mb": None})
    on_disk = subject.create(limits=disk_limits)
    for info, kept in ((capped, 1), (on_disk, 0)):
        assert subject.backend.exec(info.sandbox_id, ["touch", "mark"]).exit_code == 0
        subject.stop(info)
        stopped = subject.backend.find(info.task_id)
        assert stopped is not None and stopped.running is False
        with pytest.raises(SandboxError):
            subject.backend.exec(info.sandbox_id, ["true"])
        again = subject.backend.create(
            subject.spec_for().model_copy(update={"task_id": info.task_id})
        )
        assert (again.sandbox_id, again.running) == (info.sandbox_id, True)
        assert subject.backend.exec(info.sandbox_id, ["test", "-e", "mark"]).exit_code == kept


def test_destroy_removes_sandbox_and_volume_and_is_idempotent(subject: Subject) -> None:
    """destroy() removes both; again, by name, or for a sandbox never made, it is a no-op."""
    info = subject.create()
    subject.backend.destroy(info.sandbox_id)
    assert subject.backend.find(info.task_id) is None
    assert info.sandbox_id not in {each.sandbox_id for each in subject.backend.list_sandboxes()}
    assert info.volume not in subject.backend.list_orphan_volumes()
    subject.backend.destroy(info.sandbox_id)
    subject.backend.destroy(info.name)
    subject.backend.destroy("fixbot-never-existed")
    with pytest.raises(SandboxError, match="does not exist"):
        subject.backend.exec(info.sandbox_id, ["true"])


def test_orphan_volumes_are_listed_by_owner_and_removed(subject: Subject) -> None:
    """A workspace volume whose sandbox is gone is an orphan of its owner until removed."""
    info = subject.create()
    subject.remove_keeping_volume(info)
    assert subject.backend.find(info.task_id) is None
    assert info.volume in subject.backend.list_orphan_volumes()
    assert info.volume in subject.backend.list_orphan_volumes(info.owner)
    assert info.volume not in subject.backend.list_orphan_volumes(f"{info.owner}-other")
    subject.backend.remove_volume(info.volume)
    assert info.volume not in subject.backend.list_orphan_volumes()
    subject.backend.remove_volume(info.volume)


def test_destroy_by_name_removes_a_leftover_volume(subject: Subject) -> None:
    """Destroying a sandbox by name after it vanished still removes its volume."""
    info = subject.create()
    subject.remove_keeping_volume(info)
    subject.backend.destroy(info.name)
    assert info.volume not in subject.backend.list_orphan_volumes()


def test_a_volume_in_use_is_not_removed(subject: Subject) -> None:
    """remove_volume() refuses the workspace of a live sandbox, which keeps working."""
    info = subject.create()
    with pytest.raises(SandboxError):
        subject.backend.remove_volume(info.volume)
    assert subject.backend.exec(info.sandbox_id, ["touch", "still-here"]).exit_code == 0


def test_ping_answers(subject: Subject) -> None:
    """ping() returns without error on a backend that works."""
    subject.backend.ping()


# --- commands ----------------------------------------------------------------------------


def test_exit_code_and_separate_streams(subject: Subject, shared: SandboxInfo) -> None:
    """exec() returns the exit code and stdout and stderr apart."""
    result = subject.backend.exec(shared.sandbox_id, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == (
        7,
        b"out\n",
        b"err\n",
        False,
    )


def test_output_beyond_the_limit_is_dropped_and_said(subject: Subject, shared: SandboxInfo) -> None:
    """A command that floods both streams keeps `output_limit` bytes of each; the command
    still runs to its end (the rest is read and dropped) and the result says so."""
    flood = "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; echo done >&2; exit 3"
    result = subject.backend.exec(shared.sandbox_id, ["sh", "-c", flood], output_limit=1000)
    assert (result.exit_code, result.truncated) == (3, True)
    assert result.stdout == b"\0" * 1000
    assert result.stderr == b"\0" * 1000
    small = subject.backend.exec(shared.sandbox_id, ["printf", "12345"], output_limit=5)
    assert (small.stdout, small.truncated) == (b"12345", False)


def test_argv_arrives_verbatim(subject: Subject, shared: SandboxInfo) -> None:
    """Each argv item reaches the command as it is: no shell sees it."""
    hostile = ["$(whoami); rm -rf /", "`id`", "a b\tc", "'\"", "*", "$HOME", "--x=;|&"]
    result = subject.backend.exec(shared.sandbox_id, ["printf", "%s\\0", *hostile])
    assert result.stdout.split(b"\0")[:-1] == [arg.encode() for arg in hostile]


def test_environment_of_spec_and_call(subject: Subject, shared: SandboxInfo) -> None:
    """The spec's env and the call's env reach the command verbatim; HOME is writable."""
    script = 'echo "$FIXBOT_TEST|$GREETING"; echo x > "$HOME/probe" && cat "$HOME/probe"'
    result = subject.backend.exec(
        shared.sandbox_id, ["sh", "-c", script], env={"GREETING": "hi; $(id)"}
    )
    assert result.stdout == b"1|hi; $(id)\nx\n", result.stderr


@pytest.mark.parametrize("argv", ["echo hi", [], ["echo", "a\0b"]])
def test_bad_argv_is_refused(subject: Subject, shared: SandboxInfo, argv: object) -> None:
    """A shell string, an empty argv and NUL bytes are refused before anything runs."""
    with pytest.raises(SandboxError):
        subject.backend.exec(shared.sandbox_id, argv)  # type: ignore[arg-type]


def test_bad_env_name_is_refused(subject: Subject, shared: SandboxInfo) -> None:
    """An environment name a shell could not hold is refused."""
    with pytest.raises(SandboxError, match="environment variable"):
        subject.backend.exec(shared.sandbox_id, ["true"], env={"A=B": "c"})


def test_workdir_and_workspace_paths(subject: Subject, shared: SandboxInfo) -> None:
    """Commands start in the workspace; workdir moves them; whole-argument workspace and /tmp
    paths name the same files as relative ones."""
    backend, sandbox_id = subject.backend, shared.sandbox_id
    backend.put_archive(sandbox_id, "/workspace", tar_of({"paths/inner/file.txt": b"found\n"}))
    assert backend.exec(sandbox_id, ["cat", "paths/inner/file.txt"]).stdout == b"found\n"
    inner = backend.exec(sandbox_id, ["cat", "file.txt"], workdir="/workspace/paths/inner")
    assert inner.stdout == b"found\n"
    absolute = backend.exec(sandbox_id, ["cat", "/workspace/paths/inner/file.txt"])
    assert absolute.stdout == b"found\n"
    in_tmp = backend.exec(sandbox_id, ["sh", "-c", "echo t > made-in-tmp"], workdir="/tmp")
    assert in_tmp.exit_code == 0
    assert backend.exec(sandbox_id, ["cat", "/tmp/made-in-tmp"]).stdout == b"t\n"


def test_missing_command_and_workdir_are_exit_codes(subject: Subject, shared: SandboxInfo) -> None:
    """A command or workdir that does not exist fails the command, not the call."""
    missing = subject.backend.exec(shared.sandbox_id, ["no-such-command-here"])
    assert (missing.exit_code in (126, 127), missing.timed_out) == (True, False)
    nowhere = subject.backend.exec(shared.sandbox_id, ["true"], workdir="/workspace/no-such-dir")
    assert nowhere.exit_code == 126


def test_exec_in_a_missing_sandbox_is_refused(subject: Subject) -> None:
    """exec() names a sandbox that does not exist."""
    with pytest.raises(SandboxError, match="does not exist"):
        subject.backend.exec("fixbot-no-such-sandbox-here", ["true"])


def test_timeout_ends_the_command_and_what_it_started(
    subject: Subject, shared: SandboxInfo
) -> None:
    """At the deadline the command and its children end: exit 124, timed_out."""
    script = "(sleep 1.5; echo late > late-marker) & sleep 30"
    started = time.monotonic()
    result = subject.backend.exec(shared.sandbox_id, ["sh", "-c", script], timeout_seconds=0.5)
    assert (result.exit_code, result.timed_out) == (124, True)
    assert time.monotonic() - started < 15  # far sooner than the 30 s the command asks for
    time.sleep(2)
    assert subject.backend.exec(shared.sandbox_id, ["test", "-e", "late-marker"]).exit_code == 1


def test_timeout_kills_a_command_that_ignores_term(subject: Subject, shared: SandboxInfo) -> None:
    """A command that ignores TERM is killed 5 s after the deadline: exit 137, timed_out."""
    started = time.monotonic()
    result = subject.backend.exec(
        shared.sandbox_id, ["sh", "-c", "trap '' TERM; sleep 33"], timeout_seconds=0.5
    )
    assert (result.exit_code, result.timed_out) == (137, True)
    assert 5 <= time.monotonic() - started < 20  # killed, long before its 33 s sleep ends


def test_exit_124_before_the_deadline_is_not_a_timeout(
    subject: Subject, shared: SandboxInfo
) -> None:
    """Only the deadline makes timed_out true, not the exit code alone."""
    result = subject.backend.exec(shared.sandbox_id, ["sh", "-c", "exit 124"], timeout_seconds=30)
    assert (result.exit_code, result.timed_out) == (124, False)


@pytest.mark.parametrize("seconds", [0, -1])
def test_timeout_must_be_positive(subject: Subject, shared: SandboxInfo, seconds: float) -> None:
    """A deadline that is already over is refused."""
    with pytest.raises(SandboxError, match="positive"):
        subject.backend.exec(shared.sandbox_id, ["true"], timeout_seconds=seconds)


def test_stdin_reaches_the_command(subject: Subject, shared: SandboxInfo) -> None:
    """stdin arrives whole (every byte value); a command that ignores it is fine."""
    data = bytes(range(256)) * 4096
    result = subject.backend.exec(shared.sandbox_id, ["sha256sum"], stdin=data)
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    ignored = subject.backend.exec(shared.sandbox_id, ["true"], stdin=b"x" * 4_000_000)
    assert ignored.exit_code == 0


def test_stream_yields_output_before_the_command_ends(
    subject: Subject, shared: SandboxInfo
) -> None:
    """exec_stream() hands out chunks as they are written, then the exit code."""
    script = "for i in 1 2 3 4; do echo tick $i; echo tock $i >&2; sleep 0.25; done; exit 3"
    started = time.monotonic()
    stream = subject.backend.exec_stream(shared.sandbox_id, ["sh", "-c", script])
    with pytest.raises(SandboxError):
        stream.result()
    arrivals: list[float] = []
    output = {"stdout": b"", "stderr": b""}
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        output[chunk.stream] += chunk.data
    assert arrivals[0] < 0.6 < 0.75 < time.monotonic() - started
    assert output["stdout"] == b"".join(f"tick {i}\n".encode() for i in range(1, 5))
    assert output["stderr"] == b"".join(f"tock {i}\n".encode() for i in range(1, 5))
    assert stream.result().exit_code == 3
    with pytest.raises(SandboxError):
        iter(stream)


def test_stream_timeout(subject: Subject, shared: SandboxInfo) -> None:
    """A streamed command that outlives its deadline reports timed_out."""
    stream = subject.backend.exec_stream(
        shared.sandbox_id, ["sh", "-c", "echo begun; sleep 30"], timeout_seconds=0.5
    )
    assert b"".join(chunk.data for chunk in stream) == b"begun\n"
    assert (stream.result().exit_code, stream.result().timed_out) == (124, True)


def test_background_command_keeps_running(subject: Subject) -> None:
    """start_background() returns at once and the command goes on until the sandbox ends."""
    info = subject.create()
    started = time.monotonic()
    subject.backend.start_background(
        info.sandbox_id, ["sh", "-c", "sleep 0.5; echo alive > bg-marker; exec sleep 30"]
    )
    assert time.monotonic() - started < 15  # did not wait for the 30 s command
    deadline = time.monotonic() + 10
    while subject.backend.exec(info.sandbox_id, ["test", "-e", "bg-marker"]).exit_code != 0:
        assert time.monotonic() < deadline, "the background command never wrote its marker"
        time.sleep(0.2)
    assert subject.backend.exec(info.sandbox_id, ["cat", "bg-marker"]).stdout == b"alive\n"


# --- archives ----------------------------------------------------------------------------


def test_archive_round_trip(subject: Subject, shared: SandboxInfo) -> None:
    """A tar put into the workspace comes back with edits, modes and symlinks intact (a
    symlink pointing outside the workspace is data, kept as it is)."""
    backend, sandbox_id = subject.backend, shared.sandbox_id
    files = {"round/hello.txt": b"hello\n", "round/run.sh": b"#!/bin/sh\necho ran\n"}
    links = {"to-hello": "../hello.txt", "to-env": "/usr/bin/env"}
    backend.put_archive(sandbox_id, "/workspace", tar_of(files, modes={"round/run.sh": 0o755}))
    backend.put_archive(sandbox_id, "/workspace/round", tar_with_symlinks("links", links))
    script = "echo more >> hello.txt && touch new && cat links/to-hello"
    edit = backend.exec(sandbox_id, ["sh", "-c", script], workdir="/workspace/round")
    assert (edit.exit_code, edit.stdout) == (0, b"hello\nmore\n"), edit.stderr
    assert backend.exec(sandbox_id, ["./round/run.sh"]).stdout == b"ran\n"
    tar = backend.get_archive(sandbox_id, "/workspace/round")
    found = members(tar)
    expected = {"round", "round/hello.txt", "round/run.sh", "round/new", "round/links/to-hello"}
    assert expected <= set(found)
    assert member_bytes(tar, "round/hello.txt") == b"hello\nmore\n"
    assert found["round/run.sh"].mode & 0o111
    assert {name: found[f"round/links/{name}"].linkname for name in links} == links
    assert all(found[f"round/links/{name}"].issym() for name in links)


def test_put_archive_accepts_chunks(subject: Subject, shared: SandboxInfo) -> None:
    """The tar may come as an iterable of byte chunks."""
    data = tar_of({"chunked/file.txt": b"in pieces\n"})
    chunks = (data[i : i + 1000] for i in range(0, len(data), 1000))
    subject.backend.put_archive(shared.sandbox_id, "/workspace", chunks)
    assert (
        subject.backend.exec(shared.sandbox_id, ["cat", "chunked/file.txt"]).stdout
        == b"in pieces\n"
    )


def test_get_archive_of_one_file(subject: Subject, shared: SandboxInfo) -> None:
    """A tar of a single file holds that file under its own name."""
    subject.backend.put_archive(shared.sandbox_id, "/workspace", tar_of({"single.txt": b"one\n"}))
    tar = subject.backend.get_archive(shared.sandbox_id, "/workspace/single.txt")
    assert list(members(tar)) == ["single.txt"]
    assert member_bytes(tar, "single.txt") == b"one\n"


def test_a_copy_out_larger_than_its_limit_is_refused(subject: Subject, shared: SandboxInfo) -> None:
    """get_archive stops reading at its limit and says so, instead of holding it all."""
    made = subject.backend.exec(
        shared.sandbox_id,
        ["sh", "-c", "head -c 3000000 /dev/urandom > large.bin"],
        workdir="/workspace",
    )
    assert made.exit_code == 0, made.stderr
    with pytest.raises(SandboxError, match="stopped at the limit of 1,000,000 bytes"):
        subject.backend.get_archive(shared.sandbox_id, "/workspace/large.bin", limit=1_000_000)
    whole = subject.backend.get_archive(shared.sandbox_id, "/workspace/large.bin")
    assert len(whole) > 3_000_000


def test_archive_paths_that_do_not_exist(subject: Subject, shared: SandboxInfo) -> None:
    """Reading a missing path or extracting into a missing folder fails, naming the path."""
    with pytest.raises(SandboxError, match="no-such-file"):
        subject.backend.get_archive(shared.sandbox_id, "/workspace/no-such-file")
    with pytest.raises(SandboxError, match="no-such-dir"):
        subject.backend.put_archive(
            shared.sandbox_id, "/workspace/no-such-dir", tar_of({"x": b"x"})
        )


def test_put_archive_outside_writable_places_fails(subject: Subject, shared: SandboxInfo) -> None:
    """The system folders of the sandbox cannot be written."""
    with pytest.raises(SandboxError, match="/usr"):
        subject.backend.put_archive(shared.sandbox_id, "/usr", tar_of({"planted": b"x"}))


def test_put_archive_keeps_members_inside_the_target(subject: Subject, shared: SandboxInfo) -> None:
    """A member climbing out with .. is refused; an absolute member lands under the target."""
    backend, sandbox_id = subject.backend, shared.sandbox_id
    backend.exec(sandbox_id, ["mkdir", "-p", "contained"])
    with pytest.raises(SandboxError):
        backend.put_archive(sandbox_id, "/workspace/contained", tar_of({"../../escaped.txt": b"x"}))
    assert backend.exec(sandbox_id, ["test", "-e", "../escaped.txt"]).exit_code == 1
    backend.put_archive(sandbox_id, "/workspace/contained", tar_of({"/absolute.txt": b"a\n"}))
    assert backend.exec(sandbox_id, ["cat", "contained/absolute.txt"]).stdout == b"a\n"
