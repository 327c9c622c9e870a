"""Running commands: argv verbatim, exit codes, separate streams, timeouts, streaming, stdin."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time

import pytest

from sandbox.docker_backend import DockerSandbox
from sandbox.interface import SandboxError, SandboxInfo

pytestmark = pytest.mark.docker


def test_argv_arrives_verbatim(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    hostile = ["$(whoami); rm -rf /", "`id`", "a b\tc", "'\"", "*", "$HOME", "--x=;|&"]
    result = backend.exec(shared_sandbox.sandbox_id, ["printf", "%s\\0", *hostile])
    assert result.exit_code == 0
    assert result.stdout.split(b"\0")[:-1] == [arg.encode() for arg in hostile]


def test_exit_code_and_separate_streams(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    result = backend.exec(shared_sandbox.sandbox_id, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.exit_code, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert result.timed_out is False


def test_missing_command_exit_code(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    bare = backend.exec(shared_sandbox.sandbox_id, ["no-such-command-here"])
    wrapped = backend.exec(shared_sandbox.sandbox_id, ["no-such-command-here"], timeout_seconds=5)
    # The engine itself reports a missing executable: 126, its message on stdout.
    assert bare.exit_code == 126
    # runc says "executable file not found"; runsc "... in PATH [...]: no such file"
    assert b"executable file not found" in bare.stdout or b"in PATH" in bare.stdout
    assert (wrapped.exit_code, wrapped.timed_out) == (127, False)


def test_env_and_workdir(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    result = backend.exec(
        shared_sandbox.sandbox_id,
        ["sh", "-c", 'echo "$GREETING"; pwd'],
        env={"GREETING": "hello; $(id)"},
        workdir="/tmp",
    )
    assert result.stdout == b"hello; $(id)\n/tmp\n"


@pytest.mark.parametrize("argv", ["echo hi", [], ["echo", "a\0b"]])
def test_bad_argv_is_refused(
    backend: DockerSandbox, shared_sandbox: SandboxInfo, argv: object
) -> None:
    with pytest.raises(SandboxError):
        backend.exec(shared_sandbox.sandbox_id, argv)  # type: ignore[arg-type]


def test_bad_env_name_is_refused(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    with pytest.raises(SandboxError, match="environment variable"):
        backend.exec(shared_sandbox.sandbox_id, ["true"], env={"A=B": "c"})


def test_timeout_ends_the_whole_process_group(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    started = time.monotonic()
    result = backend.exec(
        shared_sandbox.sandbox_id, ["sh", "-c", "sleep 31; echo late"], timeout_seconds=1
    )
    elapsed = time.monotonic() - started
    assert result.timed_out is True
    assert result.exit_code == 124
    assert result.stdout == b""
    assert elapsed < 5
    processes = backend.exec(shared_sandbox.sandbox_id, ["ps", "-eo", "args="]).stdout.decode()
    assert "sleep 31" not in processes


def test_timeout_kills_a_command_that_ignores_term(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    started = time.monotonic()
    result = backend.exec(
        shared_sandbox.sandbox_id, ["sh", "-c", "trap '' TERM; sleep 32"], timeout_seconds=0.5
    )
    elapsed = time.monotonic() - started
    assert (result.timed_out, result.exit_code) == (True, 137)
    assert 5 <= elapsed < 10
    processes = backend.exec(shared_sandbox.sandbox_id, ["ps", "-eo", "args="]).stdout.decode()
    assert "sleep 32" not in processes


def test_exit_124_before_the_deadline_is_not_a_timeout(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    result = backend.exec(shared_sandbox.sandbox_id, ["sh", "-c", "exit 124"], timeout_seconds=30)
    assert (result.exit_code, result.timed_out) == (124, False)


def test_stream_yields_output_before_the_command_ends(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    script = "for i in 1 2 3 4; do echo tick $i; echo tock $i >&2; sleep 0.25; done; exit 3"
    started = time.monotonic()
    stream = backend.exec_stream(shared_sandbox.sandbox_id, ["sh", "-c", script])
    arrivals: list[float] = []
    output = {"stdout": b"", "stderr": b""}
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        output[chunk.stream] += chunk.data
    total = time.monotonic() - started
    print(f"first chunk after {arrivals[0]:.3f}s, command took {total:.3f}s")
    assert arrivals[0] < 0.5 < 0.75 < total
    assert output["stdout"] == b"".join(f"tick {i}\n".encode() for i in range(1, 5))
    assert output["stderr"] == b"".join(f"tock {i}\n".encode() for i in range(1, 5))
    assert stream.result().exit_code == 3


def test_stream_result_before_the_end_is_an_error(
    backend: DockerSandbox, shared_sandbox: SandboxInfo
) -> None:
    stream = backend.exec_stream(shared_sandbox.sandbox_id, ["echo", "x"])
    with pytest.raises(SandboxError):
        stream.result()
    assert [chunk.data for chunk in stream] == [b"x\n"]
    assert stream.result().exit_code == 0


def test_stdin_reaches_the_command(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB, every byte value
    result = backend.exec(shared_sandbox.sandbox_id, ["sha256sum"], stdin=data)
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_command_that_ignores_stdin(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    result = backend.exec(shared_sandbox.sandbox_id, ["true"], stdin=b"x" * 4_000_000)
    assert result.exit_code == 0


def test_tar_through_stdin(backend: DockerSandbox, shared_sandbox: SandboxInfo) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        payload = b"through stdin\n"
        info = tarfile.TarInfo("via-stdin/file.txt")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    extract = backend.exec(
        shared_sandbox.sandbox_id,
        ["tar", "-x", "--no-same-owner", "-C", "/workspace"],
        stdin=buffer.getvalue(),
    )
    assert extract.exit_code == 0, extract.stderr
    content = backend.exec(
        shared_sandbox.sandbox_id,
        ["find", "/workspace/via-stdin/file.txt", "-maxdepth", "0", "-printf", "%U\\n"],
    )
    assert content.stdout == b"1000\n"


def test_exec_in_missing_sandbox(backend: DockerSandbox) -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        backend.exec("fixbot-no-such-sandbox-here", ["true"])
