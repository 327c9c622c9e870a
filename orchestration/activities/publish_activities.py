"""Opening the pull requests: the worker commits, pushes `fixbot/<task>` and opens one PR per repo.

Re-running this activity is safe: the commit is byte-identical (fixed dates), the push is to
our own branch, and an open PR for the branch is reused instead of a second one opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from temporalio import activity

from orchestration.activities import contracts
from orchestration.activities.errors import permanent
from orchestration.activities.heartbeat import heartbeats
from orchestration.forge.git_push import (
    GitAuth,
    PatchDoesNotApplyError,
    PushRefusedError,
    commit_and_push,
    git_environment,
)
from orchestration.forge.port import Forge, ForgeError, PullRequestSpec
from orchestration.forge.pr_body import pull_request_body, pull_request_title
from orchestration.models import (
    PublishRequest,
    PublishResult,
    PullRequestRef,
    RepositoryChange,
    TaskInput,
)
from orchestration.policy.validation import cleaned_task
from orchestration.workspace.mirror import MirrorCache

BRANCH_PREFIX = "fixbot/"


class ForgeRoute:
    """Where one repository's change goes: the forge, the push URL, and git credentials."""

    def __init__(
        self, forge: Forge, push_url: str, owner: str, repo: str, auth: GitAuth | None
    ) -> None:
        self.forge = forge
        self.push_url = push_url
        self.owner = owner
        self.repo = repo
        self.auth = auth


ForgeRouter = Callable[[str], ForgeRoute]


class PublishActivities:
    """Holds the mirror cache, the forge router and the bot's git identity."""

    def __init__(
        self,
        mirrors: MirrorCache,
        router: ForgeRouter,
        *,
        author_name: str,
        author_email: str,
        run_url: Callable[[str, str], str | None],
        allow_protected: bool = False,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._allow_protected = allow_protected
        self._redact = redact
        self._mirrors = mirrors
        self._router = router
        self._author = (author_name, author_email)
        self._run_url = run_url

    @activity.defn(name=contracts.OPEN_PULL_REQUESTS.name)
    @heartbeats
    async def publish(self, request: PublishRequest) -> PublishResult:
        """Push each changed repository's branch and open (or reuse) its pull request."""
        _refuse_unapproved(request, self._allow_protected)
        request = self._redacted(request.model_copy(update={"task": cleaned_task(request.task)}))
        info = activity.info()
        run_url = request.run_url or self._run_url(
            info.workflow_id or "", info.workflow_run_id or ""
        )
        request = request.model_copy(update={"run_url": run_url})
        opened: list[tuple[ForgeRoute, PullRequestRef, RepositoryChange]] = []
        for change in request.changes.repositories:
            activity.heartbeat(f"publishing {change.repository.name}")
            route, ref = await asyncio.to_thread(self._publish_one, request, change)
            opened.append((route, ref, change))
        with _permanent_unless_retryable():
            if len(opened) > 1:
                await asyncio.to_thread(self._link, request, opened)
            if request.task.auto_merge:
                for route, ref, _ in opened:
                    await asyncio.to_thread(route.forge.enable_auto_merge, ref)
        return PublishResult(pull_requests=[ref for _, ref, _ in opened])

    def _publish_one(
        self, request: PublishRequest, change: RepositoryChange
    ) -> tuple[ForgeRoute, PullRequestRef]:
        task = request.task
        try:
            route = self._router(change.repository.url)
        except ValueError as exc:
            raise permanent(str(exc), "NoForge") from None
        branch = branch_name(task)
        mirror = self._mirrors.update(change.repository.url, env=_auth_env(route.auth))
        with (
            tempfile.TemporaryDirectory(prefix="fixbot-publish-") as scratch,
            _permanent_unless_retryable(),
        ):
            commit_and_push(
                source=str(mirror),
                change=change,
                branch=branch,
                push_url=route.push_url,
                auth=route.auth,
                author_name=self._author[0],
                author_email=self._author[1],
                commit_date=task.created_at,
                message=_commit_message(task, request.summary),
                workdir=Path(scratch),
            )
        spec = PullRequestSpec(
            repository=change.repository,
            owner=route.owner,
            repo=route.repo,
            head_branch=branch,
            base_branch=change.repository.branch,
            title=pull_request_title(task),
            body=self._redact(_body(request, change, [], route)),
            draft=task.draft,
        )
        with _permanent_unless_retryable():
            return route, route.forge.open_pull_request(spec)

    def _link(
        self,
        request: PublishRequest,
        opened: list[tuple[ForgeRoute, PullRequestRef, RepositoryChange]],
    ) -> None:
        refs = [ref for _, ref, _ in opened]
        for route, ref, change in opened:
            others = [r for r in refs if r.url != ref.url]
            route.forge.update_body(ref, self._redact(_body(request, change, others, route)))

    def _redacted(self, request: PublishRequest) -> PublishRequest:
        """Tokens are removed from the raw texts before they are escaped into markdown,
        where an escaped character could hide a token from the redactor."""
        task = request.task
        texts = {"title": self._redact(task.title), "description": self._redact(task.description)}
        return request.model_copy(
            update={"summary": self._redact(request.summary), "task": task.model_copy(update=texts)}
        )


@contextlib.contextmanager
def _permanent_unless_retryable() -> Iterator[None]:
    """Forge and push errors that a retry cannot fix fail the step at once."""
    try:
        yield
    except ForgeError as exc:
        if exc.retryable:
            raise
        raise permanent(str(exc), "ForgeError") from None
    except (PatchDoesNotApplyError, PushRefusedError) as exc:
        raise permanent(str(exc), type(exc).__name__) from None


def _refuse_unapproved(request: PublishRequest, allow_protected: bool) -> None:
    """Push exactly what was approved, and nothing under protected paths unless allowed."""
    if request.task.require_approval and request.approved_digest != request.changes.digest:
        raise permanent(
            "refusing to push: the change differs from the one that was approved "
            f"(approved {str(request.approved_digest)[:12]}, "
            f"now {request.changes.digest[:12]})",
            "ChangeNotApproved",
        )
    protected = request.changes.protected_files
    if protected and not allow_protected:
        raise permanent(
            f"refusing to push protected paths: {', '.join(protected[:10])}", "ProtectedPath"
        )


def branch_name(task: TaskInput) -> str:
    return f"{BRANCH_PREFIX}{task.task_id}"


def _body(
    request: PublishRequest,
    change: RepositoryChange,
    related: list[PullRequestRef],
    route: ForgeRoute,
) -> str:
    return pull_request_body(
        request.task,
        change,
        request.summary,
        request.cost_usd,
        request.run_url,
        related,
        forge_host=_forge_host(route),
        verification=request.verification,
    )


def _forge_host(route: ForgeRoute) -> str:
    """The forge's web host, from the push URL the router checked against it; none if local."""
    parts = urlsplit(route.push_url)
    return parts.netloc if parts.scheme in {"http", "https"} else ""


def _commit_message(task: TaskInput, summary: str) -> str:
    return f"fixbot: {task.title}\n\n{summary}\n\nfixbot-task: {task.task_id}\n"


def _auth_env(auth: GitAuth | None) -> dict[str, str]:
    return git_environment(auth) if auth is not None else {}
