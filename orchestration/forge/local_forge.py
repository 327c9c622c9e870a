"""The local adapter of the forge port: a repository on this machine, where a "pull request" is a
patch file next to the branch that `git_push.commit_and_push` pushed into that repository.

Only for repositories given as a local path or `file://` URL, and only when the task allows local
repositories (the caller checks that).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from orchestration.forge.port import ForgeError, PullRequestSpec
from orchestration.models import PullRequestRef

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_GIT_TIMEOUT_SECONDS = 120


def local_repository_path(url: str) -> Path:
    """The directory of a local repository given as an absolute path or a `file://` URL."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise ValueError(f"file URL {url!r} names another host")
        path = Path(unquote(parts.path))
    elif parts.scheme == "":
        path = Path(url)
    else:
        raise ValueError(f"{url!r} is not a local repository path or file:// URL")
    if not path.is_absolute():
        raise ValueError(f"local repository path {url!r} must be absolute")
    return path


def patch_file_name(branch: str, repository: str) -> str:
    """`<branch>--<repository>.patch` with anything but letters, digits, `._-` replaced."""
    return f"{_safe(branch)}--{_safe(repository)}.patch"


def _safe(text: str) -> str:
    """A file-name-safe form of `text`."""
    return _UNSAFE.sub("-", text).strip("-.") or "unnamed"


class LocalForge:
    """Pull requests as patch files for branches in local repositories."""

    def __init__(self, patch_dir: Path) -> None:
        """Write patch files into `patch_dir` (created when needed)."""
        self._patch_dir = patch_dir

    def open_pull_request(self, req: PullRequestSpec) -> PullRequestRef:
        """Write `git format-patch base..head` to the patch file (rewritten on a retry)."""
        repo = local_repository_path(req.repository.url)
        patch = _format_patch(repo, req.base_branch, req.head_branch)
        target = self._patch_dir / patch_file_name(req.head_branch, req.repository.name)
        created = not target.exists()
        _write_atomically(target, patch)
        return PullRequestRef(
            repository=req.repository.name,
            branch=req.head_branch,
            url=f"{repo.as_uri()}#{req.head_branch}",
            number=None,
            created=created,
            patch_file=str(target),
        )

    def update_body(self, ref: PullRequestRef, body: str) -> None:
        """No-op: a patch file has no description to update."""

    def enable_auto_merge(self, ref: PullRequestRef) -> None:
        """No-op: nothing merges a local patch file; a person applies it with `git am`."""


def _format_patch(repo: Path, base: str, head: str) -> str:
    """The commits on `head` that are not on `base`, as a mailbox patch."""
    for branch in (base, head):
        try:
            _git(repo, ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"])
        except ForgeError as exc:
            raise ForgeError(f"branch {branch!r} is not in the local repository {repo}") from exc
    patch = _git(
        repo,
        ["format-patch", "--stdout", "--binary", f"refs/heads/{base}..refs/heads/{head}"],
    )
    if not patch.strip():
        raise ForgeError(f"no commits between {base} and {head} in {repo}")
    return patch


def _git(repo: Path, args: list[str]) -> str:
    """Run git in `repo`; ForgeError with git's message on failure."""
    env = {k: v for k, v in os.environ.items() if k not in {"GIT_DIR", "GIT_WORK_TREE"}}
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        env=env,
        timeout=_GIT_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip()
        raise ForgeError(f"git {args[0]} in {repo} failed: {detail}")
    return result.stdout.decode("utf-8", "surrogateescape")


def _write_atomically(target: Path, text: str) -> None:
    """Replace `target` with `text` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            out.write(text)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
