"""Task validation: pure code that runs before anything connects or starts.

Every problem is collected and reported at once, with the field it concerns, so a person
fixes their input in one go. URL and ref rules exist to keep input from being read by git
as an option or a transport (`--upload-pack=...`, `ext::...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from orchestration.models import RepositorySpec, TaskInput

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_REPOSITORIES = 10
MAX_BUDGET_USD = 500.0
MIN_APPROVAL_TIMEOUT = 60
MAX_APPROVAL_TIMEOUT = 30 * 24 * 3600

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^:]+)$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_SSH_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")


class TaskValidationError(ValueError):
    """The task is invalid; `problems` lists each reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid task:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class RepositoryRules:
    """Which repository URLs are accepted (from settings)."""

    allowed_schemes: tuple[str, ...] = ("https",)
    allowed_hosts: tuple[str, ...] = ("github.com",)
    allow_local: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def validate_task(task: TaskInput, rules: RepositoryRules) -> None:
    """Raise TaskValidationError listing every problem with the task."""
    problems = _task_field_problems(task)
    if not task.repositories:
        problems.append("repositories: at least one repository is required")
    if len(task.repositories) > MAX_REPOSITORIES:
        problems.append(f"repositories: at most {MAX_REPOSITORIES} per task")
    names = [repo.name for repo in task.repositories]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"repositories: two repositories would share the folder name {name!r}")
    for repo in task.repositories:
        problems.extend(repository_problems(repo, rules))
    if problems:
        raise TaskValidationError(problems)


def _task_field_problems(task: TaskInput) -> list[str]:
    problems: list[str] = []
    if not task.title.strip():
        problems.append("title: must not be empty")
    if len(task.title) > MAX_TITLE:
        problems.append(f"title: {len(task.title)} characters, at most {MAX_TITLE}")
    if len(task.description) > MAX_DESCRIPTION:
        problems.append(
            f"description: {len(task.description)} characters, at most {MAX_DESCRIPTION}"
        )
    if not _NAME.match(task.task_id):
        problems.append(f"task id {task.task_id!r}: letters, digits, '.', '_' and '-' only")
    if not 0 < task.budget_usd <= MAX_BUDGET_USD:
        problems.append(f"budget: must be above 0 and at most {MAX_BUDGET_USD} USD")
    if not MIN_APPROVAL_TIMEOUT <= task.approval_timeout_seconds <= MAX_APPROVAL_TIMEOUT:
        problems.append("approval timeout: must be between 1 minute and 30 days")
    if task.agent_timeout_seconds < 30:
        problems.append("agent timeout: must be at least 30 seconds")
    if task.ticket_url and _scheme(task.ticket_url) not in ("http", "https"):
        problems.append("ticket URL: must be an http(s) URL")
    return problems


def repository_problems(repo: RepositorySpec, rules: RepositoryRules) -> list[str]:
    """Problems with one repository's URL, branch and folder name."""
    problems = [f"repository {repo.url!r}: {p}" for p in url_problems(repo.url, rules)]
    problems += [f"branch {repo.branch!r}: {p}" for p in branch_problems(repo.branch)]
    if not _NAME.match(repo.name) or repo.name in (".", ".."):
        problems.append(
            f"repository name {repo.name!r}: letters, digits, '.', '_' and '-' only, "
            "not starting with '.' or '-'"
        )
    return problems


def url_problems(url: str, rules: RepositoryRules) -> list[str]:
    """Why git must not be given this URL (empty when it is acceptable)."""
    if url.startswith("-"):
        return ["must not start with '-' (git would read it as an option)"]
    if "::" in url:
        return ["remote helper transports such as 'ext::' are not allowed"]
    if not url or any(ord(c) <= 0x20 or c == "\x7f" or c.isspace() for c in url):
        return ["must be a non-empty URL without spaces or control characters"]
    if is_local_repository(url):
        if rules.allow_local:
            return []
        return ["local paths and file:// URLs are disabled (FIXBOT_GIT__ALLOW_LOCAL_REPOSITORIES)"]
    scp = _SCP_LIKE.match(url)
    if scp:
        return _host_problems("ssh", scp["host"], rules)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for an unclosed '['
        return [f"is not a valid URL ({exc})"]
    problems: list[str] = []
    if _carries_credentials(parts.scheme, parts.netloc):
        problems.append("must not carry credentials; fixbot's worker authenticates itself")
    if not parts.scheme or not parts.netloc:
        problems.append("must be a URL such as https://github.com/owner/repo")
        return problems
    problems += _host_problems(parts.scheme, parts.netloc.rpartition("@")[2], rules)
    if len([p for p in parts.path.split("/") if p]) < 2:
        problems.append("must name an owner and a repository, e.g. https://github.com/owner/repo")
    return problems


def _carries_credentials(scheme: str, netloc: str) -> bool:
    """True when the URL's user part holds a secret; ssh's account name (`git@`) is not one."""
    if "@" not in netloc:
        return False
    userinfo = netloc.rpartition("@")[0]
    if scheme == "ssh":
        return not _SSH_USER.match(userinfo)  # a ':password' or anything odd is refused
    return True


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _host_problems(scheme: str, host: str, rules: RepositoryRules) -> list[str]:
    problems: list[str] = []
    if scheme not in rules.allowed_schemes:
        allowed = ", ".join(rules.allowed_schemes)
        problems.append(f"scheme {scheme!r} is not allowed (allowed: {allowed})")
    if host.lower() not in (h.lower() for h in rules.allowed_hosts):
        allowed = ", ".join(rules.allowed_hosts)
        problems.append(
            f"host {host!r} is not allowed (allowed: {allowed}; FIXBOT_GIT__ALLOWED_HOSTS)"
        )
    return problems


def is_local_repository(url: str) -> bool:
    """True for file:// URLs and filesystem paths."""
    return url.startswith(("file://", "/", "./", "../", "~"))


def branch_problems(branch: str) -> list[str]:
    """The rules of `git check-ref-format --branch`, plus: no leading '-'."""
    if not branch:
        return ["must not be empty"]
    if branch.startswith("-"):
        return ["must not start with '-' (git would read it as an option)"]
    if branch == "@" or "@{" in branch:
        return ["must not be '@' or contain '@{'"]
    if branch == "HEAD":
        return ["must not be 'HEAD'"]
    if _REF_FORBIDDEN.search(branch):
        return ["must not contain spaces, control characters or any of ~ ^ : ? * [ \\"]
    if ".." in branch or "//" in branch:
        return ["must not contain '..' or '//'"]
    if branch.startswith("/") or branch.endswith(("/", ".")):
        return ["must not start with '/' or end with '/' or '.'"]
    components = branch.split("/")
    if any(c.startswith(".") or c.endswith(".lock") for c in components):
        return ["no path component may start with '.' or end with '.lock'"]
    return []


def repository_name_from_url(url: str) -> str:
    """The folder name a repository gets in the sandbox: its last path part without .git."""
    scp = _SCP_LIKE.match(url)
    try:
        path = scp["path"] if scp else urlsplit(url).path if "://" in url else url
    except ValueError:  # not a URL at all; validation reports it
        path = ""
    name = PurePosixPath(path.rstrip("/")).name
    return name.removesuffix(".git") or "repository"


def parse_repository_argument(argument: str) -> RepositorySpec:
    """`URL[#branch]` as typed on the command line or in Slack."""
    url, _, branch = argument.strip().partition("#")
    return RepositorySpec(url=url, branch=branch or "main", name=repository_name_from_url(url))
