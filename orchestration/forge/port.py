"""The forge port: what the publish activity needs from a code host, whatever the host is.

A forge opens (or finds) the pull request for a branch that `git_push.commit_and_push` already
pushed, edits its description and turns on auto-merge. Adapters: `GitHubForge` (GitHub.com and
GitHub Enterprise) and `LocalForge` (a local repository; the "pull request" is a patch file).
The calls are synchronous and blocking; run them from a thread (a sync activity or
`asyncio.to_thread`), never directly on an event loop.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from orchestration.models import PullRequestRef, RepositorySpec


class PullRequestSpec(BaseModel):
    """One pull request to open: the branch `head_branch` into `base_branch` of owner/repo."""

    repository: RepositorySpec
    owner: str = ""  # empty for a local repository
    repo: str = ""  # empty for a local repository
    head_branch: str
    base_branch: str
    title: str
    body: str
    draft: bool = False


class ForgeError(Exception):
    """A forge call failed; `retryable` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        """Keep the message and whether a retry can help."""
        super().__init__(message)
        self.retryable = retryable


class Forge(Protocol):
    """A code host that turns a pushed branch into a pull request."""

    def open_pull_request(self, req: PullRequestSpec) -> PullRequestRef:
        """Open the pull request, or return the open one for the same branch (created=False)."""
        ...

    def update_body(self, ref: PullRequestRef, body: str) -> None:
        """Replace the pull request's description."""
        ...

    def enable_auto_merge(self, ref: PullRequestRef) -> None:
        """Merge the pull request by itself once its checks and reviews pass."""
        ...
