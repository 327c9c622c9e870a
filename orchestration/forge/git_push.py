"""Worker-side git: commit an approved patch on its base commit and push it as the fix branch.

The commit is built in a throwaway bare clone that shares the source's objects, with the patch
applied to the index only (no checkout). Identity and dates are fixed by the caller, so the same
inputs always give the same commit sha and a retried push is a no-op. Credentials travel in the
child's environment as an `http.extraHeader` config entry, never in argv or the URL, and are
scrubbed from every error message.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from orchestration.models import RepositoryChange

BRANCH_PREFIX = "fixbot/"
GIT_TIMEOUT_SECONDS = 300
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_INHERITED_GIT_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
)


@dataclass(frozen=True)
class GitAuth:
    """HTTP credentials for git: any user name works on GitHub with a token as the password."""

    username: str
    token: str = field(repr=False)

    @property
    def header(self) -> str:
        """The `Authorization` header value git sends."""
        pair = f"{self.username}:{self.token}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


class GitPushError(RuntimeError):
    """A git step failed; the message never holds the token."""


class PushRefusedError(GitPushError):
    """The inputs break a push rule (branch outside fixbot/, bad URL or commit id)."""


class PatchDoesNotApplyError(GitPushError):
    """The approved patch does not apply to its base commit."""


def commit_and_push(
    *,
    source: str,
    change: RepositoryChange,
    branch: str,
    push_url: str,
    auth: GitAuth | None,
    author_name: str,
    author_email: str,
    commit_date: datetime,
    message: str,
    workdir: Path,
) -> str:
    """Commit `change.patch` on `change.base_commit`, force-push it to `branch`; return the sha."""
    _check_inputs(branch, push_url, change.base_commit)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fixbot-push-", dir=workdir) as tmp:
        git = _Git(Path(tmp) / "repo.git", git_environment(auth), _secrets_of(auth))
        _fetch_base(git, source, change.base_commit)
        tree = _apply_patch(git, change)
        identity = _identity(author_name, author_email, commit_date)
        sha = git.run(
            ["commit-tree", "--no-gpg-sign", tree, "-p", change.base_commit, "-F", "-"],
            stdin=message.rstrip("\n") + "\n",
            extra_env=identity,
        )
        git.run(
            ["push", "--force", "--quiet", "--no-verify", "--", push_url, _refspec(sha, branch)]
        )
    return sha


def git_environment(auth: GitAuth | None) -> dict[str, str]:
    """This process's environment plus no prompts, no credential helpers, and the auth header."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_GIT_VARS}
    env["GIT_TERMINAL_PROMPT"] = "0"
    entries = [
        ("credential.helper", ""),
        ("core.askPass", ""),
        ("http.followRedirects", "false"),
        ("gc.auto", "0"),
    ]
    if auth is not None:
        entries.append(("http.extraHeader", f"Authorization: {auth.header}"))
    start = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    for offset, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{start + offset}"] = key
        env[f"GIT_CONFIG_VALUE_{start + offset}"] = value
    env["GIT_CONFIG_COUNT"] = str(start + len(entries))
    return env


def _check_inputs(branch: str, push_url: str, base_commit: str) -> None:
    """Refuse branches outside fixbot/, option-like URLs and malformed commit ids."""
    if not branch.startswith(BRANCH_PREFIX) or branch == BRANCH_PREFIX:
        raise PushRefusedError(
            f"refusing to push {branch!r}: branches must start with {BRANCH_PREFIX}"
        )
    if not push_url or push_url.startswith("-"):
        raise PushRefusedError("refusing to push: the push URL is empty or looks like an option")
    if not _SHA.match(base_commit):
        raise PushRefusedError(f"base commit {base_commit!r} is not a full commit sha")
    valid = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{branch}"],
        capture_output=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=False,
    )
    if valid.returncode != 0:
        raise PushRefusedError(f"refusing to push {branch!r}: not a valid branch name")


def _refspec(sha: str, branch: str) -> str:
    """Push exactly this commit to the branch."""
    return f"{sha}:refs/heads/{branch}"


def _secrets_of(auth: GitAuth | None) -> list[str]:
    """Every form of the token that could show up in git's output."""
    if auth is None or not auth.token:
        return []
    header = auth.header
    return [auth.token, quote(auth.token, safe=""), header, header.removeprefix("Basic ")]


def _identity(name: str, email: str, when: datetime) -> dict[str, str]:
    """Author and committer, both at the fixed date, for a reproducible commit."""
    date = _git_date(when)
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": date,
    }


def _git_date(when: datetime) -> str:
    """`<unix seconds> <+hhmm>` (git's internal date format) for an aware datetime."""
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("commit_date must be timezone-aware")
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{int(when.timestamp())} {sign}{minutes // 60:02d}{minutes % 60:02d}"


def _local_source(source: str) -> Path | None:
    """The directory of a local source (a path or a file:// URL), or None for a remote one."""
    parts = urlsplit(source)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" and Path(source).exists():
        return Path(source)
    return None


def _fetch_base(git: _Git, source: str, base_commit: str) -> None:
    """Make a bare repository holding `base_commit`: shared objects when local, a fetch if not."""
    local = _local_source(source)
    if local is not None:
        git.run_outside(["clone", "--bare", "--shared", "--no-tags", "--quiet", "--", str(local)])
    else:
        git.run_outside(["init", "--bare", "--quiet", "--"])
        git.run(["fetch", "--quiet", "--no-tags", "--", source, base_commit])
    if not git.succeeds(["cat-file", "-e", f"{base_commit}^{{commit}}"]):
        raise GitPushError(f"base commit {base_commit} is not in {_redact_url(source)}")


def _apply_patch(git: _Git, change: RepositoryChange) -> str:
    """Apply the patch to the base commit's tree in the index; return the new tree id."""
    git.run(["read-tree", change.base_commit])
    try:
        git.run(["apply", "--cached", "--whitespace=nowarn", "-"], stdin=change.patch)
    except GitPushError as exc:
        raise PatchDoesNotApplyError(
            f"the patch for repository {change.repository.name!r} does not apply to "
            f"{change.base_commit[:12]}: {exc}"
        ) from exc
    tree = git.run(["write-tree"])
    if tree == git.run(["rev-parse", f"{change.base_commit}^{{tree}}"]):
        raise GitPushError(f"the patch for repository {change.repository.name!r} changes nothing")
    return tree


def _redact_url(url: str) -> str:
    """The URL without any user:password@ part."""
    return _URL_USERINFO.sub("***@", url)


class _Git:
    """Runs git in one bare repository with a fixed environment, scrubbing secrets from errors."""

    def __init__(self, repo: Path, env: dict[str, str], secrets: list[str]) -> None:
        """Remember the repository, the environment and what to scrub."""
        self.repo = repo
        self.env = env
        self.secrets = sorted(secrets, key=len, reverse=True)

    def run(
        self, args: list[str], *, stdin: str | None = None, extra_env: dict[str, str] | None = None
    ) -> str:
        """Run `git <args>` in the repository; return stripped stdout or raise GitPushError."""
        argv = ["--git-dir", str(self.repo), *args]
        return self._checked(argv, args[0], stdin, extra_env)

    def run_outside(self, args: list[str]) -> None:
        """Run a git command that creates the repository (its path is appended)."""
        self._checked([*args, str(self.repo)], args[0], None, None)

    def succeeds(self, args: list[str]) -> bool:
        """Whether `git <args>` exits 0 in the repository."""
        result = self._call(["--git-dir", str(self.repo), *args], None, None)
        return result.returncode == 0

    def _checked(
        self, argv: list[str], command: str, stdin: str | None, extra_env: dict[str, str] | None
    ) -> str:
        """Run and raise a scrubbed GitPushError on failure."""
        result = self._call(argv, stdin, extra_env)
        if result.returncode != 0:
            detail = self.scrub(result.stderr.decode("utf-8", "replace").strip())[-2000:]
            raise GitPushError(f"git {command} failed (exit {result.returncode}): {detail}")
        return result.stdout.decode("utf-8", "replace").strip()

    def _call(
        self, argv: list[str], stdin: str | None, extra_env: dict[str, str] | None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git with a timeout; a timeout becomes GitPushError."""
        env = {**self.env, **(extra_env or {})}
        data = stdin.encode("utf-8") if stdin is not None else None
        try:
            return subprocess.run(
                ["git", *argv],
                input=data,
                stdin=None if data is not None else subprocess.DEVNULL,
                capture_output=True,
                env=env,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GitPushError(f"git timed out after {GIT_TIMEOUT_SECONDS}s") from exc

    def scrub(self, text: str) -> str:
        """Replace every form of the token, and URL credentials, with ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _redact_url(text)
