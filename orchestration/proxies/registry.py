"""One proxy's open routes: a unix socket per task, opened once, closed once.

Both proxies (model, egress) keep their per-task state in a `Route` and leave the socket's
lifecycle to a `RouteRegistry`: opening is idempotent (the activity that opens a route may be
retried, and a new worker process opens the same task again), closing cuts the work in
progress because the task has ended, and stopping the worker leaves the sockets in place
because running sandboxes have their directories mounted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog

from orchestration.proxies.sockets import (
    SOCKET_MODE,
    SocketServer,
    check_task_id,
    prepare_dir,
    remove_socket,
    socket_path_for,
)

log = structlog.get_logger(__name__)

S = TypeVar("S")


@dataclass(eq=False)
class Route(Generic[S]):
    """One task's open route: the proxy's state for it and the work on its socket."""

    task_id: str
    socket_path: Path
    state: S
    closed: bool = False
    server: SocketServer | None = None
    _serving: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    @contextlib.contextmanager
    def serving(self) -> Iterator[bool]:
        """Track the current task while it serves the route, so closing the route can cut it.

        Yields False, and tracks nothing, once the route is closing: a connection accepted in
        that moment must not outlive the close.
        """
        task = asyncio.current_task()
        if self.closed or task is None:
            yield False
            return
        self._serving.add(task)
        try:
            yield True
        finally:
            self._serving.discard(task)

    async def cut(self) -> None:
        """Refuse new work, cancel what is being served and wait until it has ended."""
        self.closed = True
        tasks = list(self._serving)
        for task in tasks:
            task.cancel()  # the task has ended: its requests and downloads are of no use
        await asyncio.gather(*tasks, return_exceptions=True)


Listen = Callable[[Route[S]], Awaitable[SocketServer]]


class RouteRegistry(Generic[S]):
    """The open routes of one proxy, keyed by task id, each served on its own unix socket."""

    def __init__(
        self, *, proxy: str, socket_root: Path, socket_name: str, listen: Listen[S]
    ) -> None:
        """Keep the settings; ``listen`` starts the proxy's server on a new route's socket."""
        self._proxy = proxy
        self._socket_root = socket_root
        self._socket_name = socket_name
        self._listen = listen
        self._routes: dict[str, Route[S]] = {}
        self._lock = asyncio.Lock()
        self._started = False

    def __len__(self) -> int:
        """How many routes are open."""
        return len(self._routes)

    def get(self, task_id: str) -> Route[S] | None:
        """The open route of a task."""
        return self._routes.get(task_id)

    def start(self) -> None:
        """Allow routes to open; nothing listens until one is opened."""
        self._started = True

    async def stop(self) -> None:
        """Close every route. Sockets and task directories stay: running sandboxes have them
        mounted, and the next worker serves the same paths."""
        async with self._lock:
            self._started = False
            while self._routes:
                _, route = self._routes.popitem()
                await _shut(route, keep_socket=True)

    async def open(self, task_id: str, new: Callable[[Path], S]) -> Route[S]:
        """The task's route, listening; ``new`` makes the state of a route not yet open."""
        check_task_id(task_id)
        async with self._lock:  # checked under the lock: an open racing stop() must not listen
            if not self._started:
                raise RuntimeError(f"the {self._proxy} proxy is not started")
            existing = self._routes.get(task_id)
            if existing is not None:
                return existing
            socket_path = socket_path_for(self._socket_root, task_id, self._socket_name)
            route = Route(task_id, socket_path, new(socket_path))
            await self._start_server(route)
            self._routes[task_id] = route
        log.info("route opened", proxy=self._proxy, task_id=task_id, socket=str(socket_path))
        return route

    async def close(self, task_id: str) -> Route[S] | None:
        """Stop listening, cut the work in flight, remove the socket (and the directory once
        empty); the closed route, for its final state, or None if it was not open."""
        async with self._lock:
            route = self._routes.pop(task_id, None)
            if route is None:
                return None
            await _shut(route, keep_socket=False)
        log.info("route closed", proxy=self._proxy, task_id=task_id)
        return route

    async def _start_server(self, route: Route[S]) -> None:
        """Listen on the route's socket, reachable by any local user; clean up on failure."""
        prepare_dir(route.socket_path)
        try:
            route.server = await self._listen(route)
            route.socket_path.chmod(SOCKET_MODE)
        except BaseException:
            if route.server is not None:
                await route.server.close()
            remove_socket(route.socket_path)
            raise


async def _shut(route: Route[Any], *, keep_socket: bool) -> None:
    """Cut the route's work, stop its server and, unless kept, remove its socket."""
    try:
        await route.cut()
        if route.server is not None:
            await route.server.close()
    finally:
        if not keep_socket:
            remove_socket(route.socket_path)
