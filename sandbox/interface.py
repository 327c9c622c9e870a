"""What orchestration needs from a sandbox, independent of the engine behind it.

Docker is one implementation (`sandbox.docker_backend`); the interface leaves room for
others (a remote Docker host, Kubernetes). All methods are blocking: callers in async code
run them in a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

LABEL_PREFIX = "dev.fixbot"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_TASK = f"{LABEL_PREFIX}.task-id"
LABEL_WORKFLOW = f"{LABEL_PREFIX}.workflow-id"
# Which deployment (Temporal cluster + namespace) a sandbox belongs to: a reaper only judges
# its own, since another deployment's workflows are unknown to its Temporal server.
LABEL_OWNER = f"{LABEL_PREFIX}.owner"

WORKSPACE_PATH = "/workspace"
# The task's side channel to the worker (the model proxy's unix socket), mounted read-only.
SERVICES_PATH = "/run/fixbot"
AGENT_USER = "agent"
AGENT_UID = 1000


class SandboxError(RuntimeError):
    """A sandbox operation failed; the message says what and why."""


class SandboxUnavailable(SandboxError):
    """The engine does not answer; the message says how to install or start it."""


class ImageMissing(SandboxError):
    """The sandbox image is not built; the message says how to build it."""


class SandboxLimits(BaseModel):
    memory_mb: int = 4096
    cpus: float = 2.0
    pids: int = 512
    tmp_size_mb: int = 512
    home_size_mb: int = 256
    workspace_size_mb: int | None = 2048  # a tmpfs-backed volume of this size; None: disk


class SandboxSpec(BaseModel):
    """How to create one task's sandbox."""

    task_id: str
    workflow_id: str
    image: str
    owner: str = "fixbot"
    network: str = "none"  # "none", "bridge", "host" or a network name
    services_dir: str | None = None  # host directory mounted read-only at SERVICES_PATH
    runtime: str | None = None  # e.g. "runsc" (gVisor) where the engine has it
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    env: dict[str, str] = Field(default_factory=dict)  # never secrets


class SandboxInfo(BaseModel):
    sandbox_id: str
    name: str
    task_id: str
    workflow_id: str
    owner: str = ""
    volume: str
    running: bool
    created_at: datetime
    image_id: str = ""  # the image's content id, when the engine tells it
    out_of_memory: bool = False  # stopped by the kernel at its memory limit (inspect data only)


class OutputChunk(BaseModel):
    stream: Literal["stdout", "stderr"]
    data: bytes


# What `exec` keeps of each output stream: everything from the sandbox is hostile, and a
# command that floods its output must not grow the worker. Callers that expect more pass more.
DEFAULT_OUTPUT_LIMIT = 4 << 20
DEFAULT_ARCHIVE_LIMIT = 64 << 20


def archive_too_large(path: str, limit: int) -> SandboxError:
    """The refusal of a copy out of the sandbox that is larger than its caller reads."""
    return SandboxError(
        f"copying {path} out of the sandbox stopped at the limit of {limit:,} bytes"
    )


class ExecResult(BaseModel):
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    truncated: bool = False  # a stream wrote more than the limit: its rest was dropped


class ExecStream(Protocol):
    """Output of a running command; `result()` is valid once iteration ends."""

    def __iter__(self) -> Iterator[OutputChunk]: ...

    def result(self) -> ExecResult: ...


class Sandbox(Protocol):
    """A backend that runs hardened, labelled sandboxes, one per task."""

    def runtimes(self) -> frozenset[str]:
        """The isolation runtimes sandboxes can be created under here (e.g. runc, runsc)."""
        ...

    def ping(self) -> None:
        """Raise SandboxUnavailable with instructions when the engine does not answer."""

    def create(self, spec: SandboxSpec) -> SandboxInfo:
        """Create and start the task's sandbox; idempotent (returns the existing one)."""

    def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = WORKSPACE_PATH,
        timeout_seconds: float | None = None,
        stdin: bytes | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> ExecResult:
        """Run argv as the agent user and collect its output, at most output_limit bytes of
        each stream (the rest is read and dropped, and the result says `truncated`)."""

    def exec_stream(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = WORKSPACE_PATH,
        timeout_seconds: float | None = None,
    ) -> ExecStream:
        """Run argv as the agent user and stream its output as it comes."""

    def start_background(
        self, sandbox_id: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> None:
        """Start argv as the agent user and leave it running (e.g. a forwarder)."""

    def put_archive(self, sandbox_id: str, path: str, tar: bytes | Iterable[bytes]) -> None:
        """Extract a tar stream at path inside the sandbox (ownership as in the tar)."""

    def get_archive(
        self, sandbox_id: str, path: str, *, limit: int = DEFAULT_ARCHIVE_LIMIT
    ) -> bytes:
        """A tar of path inside the sandbox; a tar over limit bytes raises SandboxError."""

    def destroy(self, sandbox_id: str) -> None:
        """Remove the container and its workspace volume; missing ones are fine."""

    def image_id(self, image: str) -> str:
        """The image's content id, "" when the engine has no such image or cannot tell."""
        ...

    def find(self, task_id: str) -> SandboxInfo | None:
        """The task's sandbox, if one exists."""

    def list_sandboxes(self) -> list[SandboxInfo]:
        """Every sandbox this backend manages (by label)."""

    def list_orphan_volumes(self, owner: str | None = None) -> list[str]:
        """Workspace volumes whose container is gone (of one owner, when given)."""

    def remove_volume(self, name: str) -> None: ...
