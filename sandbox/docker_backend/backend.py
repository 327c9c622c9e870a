"""DockerSandbox: the Sandbox interface on a local or remote Docker engine."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import docker

from sandbox.commands import checked_argv, checked_env
from sandbox.interface import (
    DEFAULT_ARCHIVE_LIMIT,
    DEFAULT_OUTPUT_LIMIT,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_TASK,
    WORKSPACE_PATH,
    ExecResult,
    ImageMissing,
    Sandbox,
    SandboxError,
    SandboxInfo,
    SandboxSpec,
    archive_too_large,
)
from sandbox.naming import (
    container_name,
    is_managed,
    labels,
    task_id_from_container_name,
    volume_name,
)
from sandbox.streams import collect

from . import engine
from .container_config import create_kwargs, workspace_driver_opts
from .errors import explain, is_conflict, translated
from .exec_session import (
    DockerExecStream,
    env_items,
    start_detached,
    start_exec,
)
from .image_status import image_status
from .info import info_from_inspect, info_from_summary

_VOLUME_BUSY_ATTEMPTS = 10
_VOLUME_BUSY_PAUSE_SECONDS = 0.1
_RACE_ATTEMPTS = 50
_RACE_PAUSE_SECONDS = 0.1


class DockerSandbox:
    """Hardened, labelled sandboxes on Docker: one container and one volume per task."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        base_url: str | None = None,
        timeout_seconds: int = engine.DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Use client, or connect lazily to base_url (default: DOCKER_HOST or the local socket)."""
        self._client_value = client
        self._base_url = base_url
        self._timeout_seconds = timeout_seconds
        self._connecting = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        """The docker client, connected on first use (callers may be in several threads)."""
        with self._connecting:
            if self._client_value is None:
                self._client_value = engine.connect(self._base_url, self._timeout_seconds)
            return self._client_value

    @property
    def url(self) -> str:
        """Where the engine is expected, for messages."""
        if self._client_value is not None:
            return engine.client_url(self._client_value)
        return self._base_url or engine.env_docker_host()

    def runtimes(self) -> frozenset[str]:
        """The OCI runtimes registered with the engine (`docker info`)."""
        with translated("reading the engine's runtimes", self.url):
            registered = self.client.info().get("Runtimes") or {}
        return frozenset(registered)

    def ping(self) -> None:
        """Raise SandboxUnavailable with instructions when the engine does not answer."""
        try:
            self.client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            raise engine.unavailable(self.url, explain(exc)) from exc

    def create(self, spec: SandboxSpec) -> SandboxInfo:
        """Create and start the task's sandbox; idempotent (returns the existing one)."""
        existing = self._inspect_managed(container_name(spec.task_id))
        if existing is not None:
            return self._ensure_running(existing)
        self._require_image(spec.image)
        with translated(f"creating sandbox for task {spec.task_id}", self.url):
            self._create_volume(spec)
            return self._create_container(spec)

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
        """Run argv as the agent user and collect at most output_limit bytes of each stream."""
        stream = self._start(sandbox_id, argv, env, workdir, timeout_seconds, stdin)
        with translated(f"running {argv[0]!r} in sandbox {sandbox_id}", self.url):
            return collect(stream, output_limit)

    def exec_stream(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str = WORKSPACE_PATH,
        timeout_seconds: float | None = None,
    ) -> DockerExecStream:
        """Run argv as the agent user and stream its output as it comes."""
        return self._start(sandbox_id, argv, env, workdir, timeout_seconds, None)

    def start_background(
        self, sandbox_id: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> None:
        """Start argv as the agent user and leave it running (e.g. a forwarder)."""
        container_id = self._managed_id(sandbox_id)
        with translated(f"starting {argv[0] if argv else '?'!r} in sandbox {sandbox_id}", self.url):
            start_detached(
                self.client.api,
                container_id,
                checked_argv(argv),
                env=env_items(checked_env(env)),
                workdir=WORKSPACE_PATH,
            )

    def put_archive(self, sandbox_id: str, path: str, tar: bytes | Iterable[bytes]) -> None:
        """Extract a tar stream at path inside the sandbox (ownership as in the tar)."""
        container_id = self._managed_id(sandbox_id)
        with translated(f"copying into {path} in sandbox {sandbox_id}", self.url):
            if not self.client.api.put_archive(container_id, path, tar):
                raise SandboxError(f"copying into {path} in sandbox {sandbox_id} was refused")

    def get_archive(
        self, sandbox_id: str, path: str, *, limit: int = DEFAULT_ARCHIVE_LIMIT
    ) -> bytes:
        """A tar of path inside the sandbox, read no further than limit bytes."""
        container_id = self._managed_id(sandbox_id)
        with translated(f"copying {path} out of sandbox {sandbox_id}", self.url):
            chunks, _stat = self.client.api.get_archive(container_id, path)
            tar = bytearray()
            for chunk in chunks:
                tar += chunk
                if len(tar) > limit:
                    chunks.close()
                    raise archive_too_large(path, limit)
            return bytes(tar)

    def destroy(self, sandbox_id: str) -> None:
        """Remove the container and its workspace volume; missing ones are fine."""
        attrs = self._inspect(sandbox_id)
        if attrs is None:
            task_id = task_id_from_container_name(sandbox_id)
            if task_id is not None:
                self.remove_volume(volume_name(task_id))
            return
        _require_managed(attrs, sandbox_id)
        task_id = str(attrs["Config"]["Labels"].get(LABEL_TASK, ""))
        with translated(f"removing sandbox {sandbox_id}", self.url):
            self._remove_container(str(attrs["Id"]))
        if task_id:
            self.remove_volume(volume_name(task_id))

    def image_id(self, image: str) -> str:
        """The image's content id, "" when the engine has no such image."""
        return image_status(self.client, image).image_id or ""

    def find(self, task_id: str) -> SandboxInfo | None:
        """The task's sandbox, if one exists."""
        attrs = self._inspect_managed(container_name(task_id))
        return None if attrs is None else info_from_inspect(attrs)

    def list_sandboxes(self) -> list[SandboxInfo]:
        """Every sandbox this backend manages (by label)."""
        with translated("listing sandboxes", self.url):
            summaries = self.client.api.containers(
                all=True, filters={"label": f"{LABEL_MANAGED}=true"}
            )
        return [info_from_summary(summary) for summary in summaries]

    def list_orphan_volumes(self, owner: str | None = None) -> list[str]:
        """Workspace volumes whose container is gone (of one owner, when given)."""
        wanted = [f"{LABEL_MANAGED}=true"] + ([f"{LABEL_OWNER}={owner}"] if owner else [])
        with translated("listing workspace volumes", self.url):
            answer = self.client.api.volumes(filters={"label": wanted, "dangling": True})
        return sorted(str(volume["Name"]) for volume in (answer.get("Volumes") or []))

    def remove_volume(self, name: str) -> None:
        """Remove a fixbot workspace volume; a missing one is fine, a foreign one is refused."""
        with translated(f"removing volume {name}", self.url):
            try:
                attrs = self.client.api.inspect_volume(name)
            except docker.errors.NotFound:
                return
            if not is_managed(attrs.get("Labels")):
                raise SandboxError(f"volume {name} is not a fixbot volume; not removing it")
            self._remove_volume_when_free(name)

    def _start(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        workdir: str,
        timeout_seconds: float | None,
        stdin: bytes | None,
    ) -> DockerExecStream:
        """Validate the request and start the exec in a managed, running sandbox."""
        command = checked_argv(argv)
        environment = env_items(checked_env(env))
        container_id = self._managed_id(sandbox_id)
        with translated(f"starting {command[0]!r} in sandbox {sandbox_id}", self.url):
            return start_exec(
                self.client.api,
                container_id,
                command,
                env=environment,
                workdir=workdir,
                timeout_seconds=timeout_seconds,
                stdin=stdin,
            )

    def _inspect(self, name_or_id: str) -> dict[str, Any] | None:
        """The container's inspect data, or None when it does not exist."""
        with translated(f"looking up sandbox {name_or_id}", self.url):
            try:
                attrs: dict[str, Any] = self.client.api.inspect_container(name_or_id)
            except docker.errors.NotFound:
                return None
        return attrs

    def _inspect_managed(self, name_or_id: str) -> dict[str, Any] | None:
        """Like _inspect, refusing a container fixbot does not manage."""
        attrs = self._inspect(name_or_id)
        if attrs is not None:
            _require_managed(attrs, name_or_id)
        return attrs

    def _managed_id(self, sandbox_id: str) -> str:
        """The full id of a managed sandbox, or SandboxError when there is none."""
        attrs = self._inspect_managed(sandbox_id)
        if attrs is None:
            raise SandboxError(f"sandbox {sandbox_id} does not exist")
        return str(attrs["Id"])

    def _require_image(self, image: str) -> None:
        """Raise ImageMissing with the build command when image is not present."""
        with translated(f"looking up image {image}", self.url):
            try:
                self.client.api.inspect_image(image)
            except docker.errors.NotFound:
                raise ImageMissing(
                    f"sandbox image {image} is not built: run `fixbot sandbox build`"
                ) from None

    def _create_volume(self, spec: SandboxSpec) -> None:
        """The task's labelled workspace volume (an existing one is reused)."""
        self.client.api.create_volume(
            name=volume_name(spec.task_id),
            labels=labels(spec.task_id, spec.workflow_id, spec.owner),
            driver_opts=workspace_driver_opts(spec.limits.workspace_size_mb),
        )

    def _create_container(self, spec: SandboxSpec) -> SandboxInfo:
        """Create and start the container; a concurrent create of the same task wins."""
        try:
            container = self.client.containers.create(**create_kwargs(spec))
        except docker.errors.APIError as exc:
            if is_conflict(exc):
                return self._adopt_after_race(spec)
            self._discard_volume(spec.task_id)
            raise
        try:
            container.start()
        except docker.errors.APIError:
            self._discard(str(container.id), spec.task_id)
            raise
        return self._info(str(container.id))

    def _adopt_after_race(self, spec: SandboxSpec) -> SandboxInfo:
        """The container another caller created for the same task a moment ago.

        The engine reserves the name before the container can be inspected, so the winner's
        container may take a moment to appear.
        """
        for _ in range(_RACE_ATTEMPTS):
            attrs = self._inspect_managed(container_name(spec.task_id))
            if attrs is not None:
                return self._ensure_running(attrs)
            time.sleep(_RACE_PAUSE_SECONDS)
        raise SandboxError(f"sandbox for task {spec.task_id} vanished while being created")

    def _ensure_running(self, attrs: dict[str, Any]) -> SandboxInfo:
        """Start a stopped sandbox and describe it."""
        container_id = str(attrs["Id"])
        if not attrs["State"].get("Running"):
            with translated(f"starting sandbox {container_id[:12]}", self.url):
                self.client.api.start(container_id)
        return self._info(container_id)

    def _info(self, container_id: str) -> SandboxInfo:
        """Fresh SandboxInfo for an existing container."""
        attrs = self._inspect(container_id)
        if attrs is None:
            raise SandboxError(f"sandbox {container_id[:12]} disappeared")
        return info_from_inspect(attrs)

    def _discard(self, container_id: str, task_id: str) -> None:
        """Best-effort removal of a half-created sandbox."""
        with contextlib.suppress(docker.errors.APIError):
            self._remove_container(container_id)
        self._discard_volume(task_id)

    def _discard_volume(self, task_id: str) -> None:
        """Best-effort removal of a workspace volume nothing uses."""
        with contextlib.suppress(docker.errors.APIError):
            self.client.api.remove_volume(volume_name(task_id))

    def _remove_container(self, container_id: str) -> None:
        """Force-remove a container; a missing one is fine."""
        with contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(container_id, force=True, v=True)

    def _remove_volume_when_free(self, name: str) -> None:
        """Remove a volume, retrying briefly while a just-removed container still holds it."""
        for attempt in range(_VOLUME_BUSY_ATTEMPTS):
            try:
                self.client.api.remove_volume(name)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if not is_conflict(exc) or attempt == _VOLUME_BUSY_ATTEMPTS - 1:
                    raise
            time.sleep(_VOLUME_BUSY_PAUSE_SECONDS)


def _require_managed(attrs: dict[str, Any], name_or_id: str) -> None:
    """Refuse to touch a container without fixbot's label."""
    if not is_managed(attrs["Config"].get("Labels")):
        raise SandboxError(f"container {name_or_id} is not a fixbot sandbox; not touching it")


def _conforms(backend: DockerSandbox) -> Sandbox:
    """Let mypy check that DockerSandbox satisfies the Sandbox protocol."""
    return backend
