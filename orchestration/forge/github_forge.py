"""The GitHub adapter of the forge port (GitHub.com and GitHub Enterprise), through PyGithub.

This is the only module that imports PyGithub. Every PyGithub error leaves it as a `ForgeError`.
The client is lazy: objects are fetched only when a field is needed, which keeps a publish to a
few requests (list open pulls, maybe create; PATCH for a body; GET + GraphQL for auto-merge).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, Protocol
from urllib.parse import urlsplit

from github import Auth, Consts, Github, GithubException, GithubRetry, RateLimitExceededException
from github.PullRequest import PullRequest
from github.Repository import Repository
from urllib3.util.retry import Retry

from orchestration.forge.port import ForgeError, PullRequestSpec
from orchestration.models import PullRequestRef

MergeMethod = Literal["MERGE", "SQUASH", "REBASE"]

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_PULL_PATH = re.compile(r"^(?P<repo>/[^/]+/[^/]+)/pull/(?P<number>[0-9]+)/?$")


class _Secret(Protocol):
    """Anything like pydantic's SecretStr."""

    def get_secret_value(self) -> str:
        """The secret itself."""
        ...


def production_retry() -> GithubRetry:
    """PyGithub's retry policy (5xx, 403 rate limits) with backoff and a bounded rate-limit wait."""
    return GithubRetry(total=5, backoff_factor=1.0, max_rate_limit_wait=300)


def parse_github_repository(url: str, web_host: str) -> tuple[str, str]:
    """(owner, repo) of `https://<web_host>/<owner>/<repo>[.git]`; ValueError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"https", "http"}:
        raise ValueError(f"not an https repository URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a repository URL must not carry credentials")
    if parts.netloc.lower() != web_host.lower():
        raise ValueError(f"repository URL {url!r} is not on {web_host}")
    if parts.query or parts.fragment:
        raise ValueError(f"repository URL {url!r} has a query or fragment")
    segments = parts.path.strip("/").split("/")
    if len(segments) != 2:
        raise ValueError(f"repository URL {url!r} is not of the form https://{web_host}/OWNER/REPO")
    owner, repo = segments[0], segments[1].removesuffix(".git")
    if not _OWNER.match(owner) or not _REPO.match(repo) or repo in {".", ".."}:
        raise ValueError(f"repository URL {url!r} has an invalid owner or repository name")
    return owner, repo


def _pull_location(ref: PullRequestRef, web_host: str) -> tuple[str, str, int]:
    """(owner, repo, number) of a GitHub pull request reference."""
    parts = urlsplit(ref.url)
    match = _PULL_PATH.match(parts.path)
    if match is None or ref.number is None:
        raise ForgeError(f"{ref.url!r} is not a GitHub pull request URL")
    try:
        owner, repo = parse_github_repository(
            f"{parts.scheme}://{parts.netloc}{match['repo']}", web_host
        )
    except ValueError as exc:
        raise ForgeError(f"{ref.url!r} is not a pull request on {web_host}: {exc}") from exc
    return owner, repo, int(match["number"])


def _error_text(exc: GithubException) -> str:
    """GitHub's message plus the messages of its validation errors."""
    data = exc.data if isinstance(exc.data, dict) else {}
    texts = [str(data.get("message") or exc.message or "")]
    for item in data.get("errors") or []:
        if isinstance(item, dict) and item.get("message"):
            texts.append(str(item["message"]))
        elif isinstance(item, dict):
            texts.append(f"{item.get('field', '?')} {item.get('code', 'invalid')}")
    return "; ".join(t for t in texts if t)


def _already_exists(exc: GithubException) -> bool:
    """Whether create answered 422 because an open pull request has the same head and base."""
    return exc.status == 422 and "already exists" in _error_text(exc).lower()


def _is_retryable(exc: GithubException) -> bool:
    """Server errors and rate limits may pass; the rest will not."""
    return isinstance(exc, RateLimitExceededException) or exc.status == 429 or exc.status >= 500


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn PyGithub's exceptions into ForgeError naming what we were doing."""
    try:
        yield
    except GithubException as exc:
        message = f"{action} failed: HTTP {exc.status}: {_error_text(exc)}"
        raise ForgeError(message, retryable=_is_retryable(exc)) from exc


class GitHubForge:
    """Pull requests on one GitHub host (github.com or a GitHub Enterprise server)."""

    def __init__(
        self,
        api_url: str,
        token: str | _Secret,
        web_host: str,
        *,
        seconds_between_requests: float | None = Consts.DEFAULT_SECONDS_BETWEEN_REQUESTS,
        seconds_between_writes: float | None = Consts.DEFAULT_SECONDS_BETWEEN_WRITES,
        retry: Retry | int | Literal["production"] | None = "production",
        timeout: int = Consts.DEFAULT_TIMEOUT,
        merge_method: MergeMethod = "MERGE",
    ) -> None:
        """Configure the client; no request is made until a method is called."""
        secret = token if isinstance(token, str) else token.get_secret_value()
        self._web_host = web_host
        self._merge_method: MergeMethod = merge_method
        self._github = Github(
            base_url=api_url.rstrip("/"),
            auth=Auth.Token(secret),
            timeout=timeout,
            retry=production_retry() if isinstance(retry, str) else retry,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
            lazy=True,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._github.close()

    def open_pull_request(self, req: PullRequestSpec) -> PullRequestRef:
        """Open the pull request, or return the open one with the same head and base."""
        full_name = _full_name(req)
        with _translated(f"opening a pull request on {full_name}"):
            repo = self._github.get_repo(full_name)
            existing = self._find_open(repo, req)
            if existing is not None:
                return self._ref(req, existing, created=False)
            pull = self._create(repo, req)
            if pull is not None:
                return self._ref(req, pull, created=True)
            existing = self._find_open(repo, req)
        if existing is None:
            raise ForgeError(
                f"GitHub says a pull request for {req.head_branch} on {full_name} exists, "
                "but no open one was found",
                retryable=True,
            )
        return self._ref(req, existing, created=False)

    def update_body(self, ref: PullRequestRef, body: str) -> None:
        """Replace the pull request's description."""
        with _translated(f"updating {ref.url}"):
            self._pull(ref).edit(body=body)

    def enable_auto_merge(self, ref: PullRequestRef) -> None:
        """Enable auto-merge (GraphQL enablePullRequestAutoMerge) with the configured method."""
        with _translated(f"enabling auto-merge on {ref.url}"):
            self._pull(ref).enable_automerge(merge_method=self._merge_method)

    def _find_open(self, repo: Repository, req: PullRequestSpec) -> PullRequest | None:
        """The open pull request from our head branch into the base branch, if any."""
        pulls = repo.get_pulls(
            state="open", head=f"{req.owner}:{req.head_branch}", base=req.base_branch
        )
        for pull in pulls:
            if pull.head.ref == req.head_branch and pull.base.ref == req.base_branch:
                return pull
        return None

    def _create(self, repo: Repository, req: PullRequestSpec) -> PullRequest | None:
        """Create the pull request; None when GitHub says it already exists."""
        try:
            return repo.create_pull(
                base=req.base_branch,
                head=req.head_branch,
                title=req.title,
                body=req.body,
                draft=req.draft,
            )
        except GithubException as exc:
            if _already_exists(exc):
                return None
            raise

    def _pull(self, ref: PullRequestRef) -> PullRequest:
        """The (lazy) PyGithub object for a reference: no request until it is used."""
        owner, repo, number = _pull_location(ref, self._web_host)
        return self._github.get_repo(f"{owner}/{repo}").get_pull(number)

    def _ref(self, req: PullRequestSpec, pull: PullRequest, *, created: bool) -> PullRequestRef:
        """Our reference to a GitHub pull request."""
        return PullRequestRef(
            repository=req.repository.name,
            branch=req.head_branch,
            url=pull.html_url,
            number=pull.number,
            created=created,
        )


def _full_name(req: PullRequestSpec) -> str:
    """`owner/repo`, refusing a spec without them."""
    if not req.owner or not req.repo:
        raise ForgeError(f"no GitHub owner/repo for repository {req.repository.name!r}")
    return f"{req.owner}/{req.repo}"
