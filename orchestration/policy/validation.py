"""Task validation: pure code that runs before anything connects or starts.

Every problem is collected and reported at once, with the field it concerns, so a person
fixes their input in one go. URL and ref rules exist to keep input from being read by git
as an option or a transport (`--upload-pack=...`, `ext::...`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from orchestration.models import RepositorySpec, TaskInput
from orchestration.policy.sanitize import (
    clean_text,
    codepoint,
    first_hidden_character,
    is_confusable_host,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_REPOSITORIES = 10
MAX_URL = 2048
MAX_BRANCH = 255
MAX_BUDGET_USD = 500.0
MIN_APPROVAL_TIMEOUT = 60
MAX_APPROVAL_TIMEOUT = 30 * 24 * 3600

# fullmatch everywhere: with match(), '$' would also accept a trailing newline
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
_SCP_LIKE = re.compile(r"(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^:]+)")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_SSH_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*")
_HOST_PORT = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>[1-9][0-9]{0,4}))?"
)
_URL_PATH = re.compile(r"[A-Za-z0-9._~+/-]*")
_TITLE_CONTROLS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
_SHOWN = 120  # longest value quoted back in a problem


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
    problems = _title_problems(task.title) + _description_problems(task.description)
    if not _NAME.fullmatch(task.task_id):
        problems.append(f"task id {_shown(task.task_id)}: letters, digits, '.', '_' and '-' only")
    if not 0 < task.budget_usd <= MAX_BUDGET_USD:
        problems.append(f"budget: must be above 0 and at most {MAX_BUDGET_USD} USD")
    if not MIN_APPROVAL_TIMEOUT <= task.approval_timeout_seconds <= MAX_APPROVAL_TIMEOUT:
        problems.append("approval timeout: must be between 1 minute and 30 days")
    if not 2 <= task.heartbeat_timeout_seconds <= 600:
        problems.append("heartbeat timeout: must be between 2 and 600 seconds")
    if task.agent_timeout_seconds < 30:
        problems.append("agent timeout: must be at least 30 seconds")
    if task.ticket_url:
        problems += [f"ticket URL: {p}" for p in _ticket_problems(task.ticket_url)]
    return problems


def _title_problems(title: str) -> list[str]:
    """Blank, NUL bytes, control characters, and the length once hidden content is removed."""
    if not title.strip():
        return ["title: must not be empty"]
    problems = []
    if "\x00" in title:
        problems.append("title: must not contain NUL bytes")
    control = _TITLE_CONTROLS.search(title)
    if control:
        found = codepoint(control.group())
        problems.append(f"title: must not contain control characters (found {found})")
    length = _cleaned_length(title, MAX_TITLE)
    if length == 0:
        problems.append(
            "title: must not be empty once invisible and control characters are removed"
        )
    elif length > MAX_TITLE:
        problems.append(f"title: {length} characters, at most {MAX_TITLE}")
    return problems


def _description_problems(description: str) -> list[str]:
    """NUL bytes, and the length once hidden content is removed."""
    problems = []
    if "\x00" in description:
        problems.append("description: must not contain NUL bytes")
    length = _cleaned_length(description, MAX_DESCRIPTION)
    if length > MAX_DESCRIPTION:
        problems.append(f"description: {length} characters, at most {MAX_DESCRIPTION}")
    return problems


def _cleaned_length(text: str, limit: int) -> int:
    """Length after clean_text; text ten times over the limit is not worth cleaning first."""
    if len(text) > 10 * limit:
        return len(text)
    return len(clean_text(text, limit=sys.maxsize).text)


def _ticket_problems(url: str) -> list[str]:
    """A ticket link is shown to the agent and to people: one plain http(s) URL."""
    if _scheme(url) not in ("http", "https"):
        return ["must be an http(s) URL"]
    if len(url) > MAX_URL:
        return [f"must be at most {MAX_URL} characters (it has {len(url)})"]
    if _has_space_or_control(url) or first_hidden_character(url):
        return ["must not contain spaces, control or invisible characters"]
    return []


def repository_problems(repo: RepositorySpec, rules: RepositoryRules) -> list[str]:
    """Problems with one repository's URL, branch and folder name."""
    url = _shown(_masked(repo.url))
    problems = [f"repository {url}: {p}" for p in url_problems(repo.url, rules)]
    problems += [f"branch {_shown(repo.branch)}: {p}" for p in branch_problems(repo.branch)]
    if not _NAME.fullmatch(repo.name) or repo.name in (".", ".."):
        problems.append(
            f"repository name {_shown(repo.name)}: letters, digits, '.', '_' and '-' only, "
            "not starting with '.' or '-'"
        )
    return problems


def _shown(value: str) -> str:
    """The value quoted for a problem message, shortened when long."""
    if len(value) <= _SHOWN:
        return repr(value)
    return f"{value[:_SHOWN]!r}… ({len(value)} characters)"


def _masked(url: str) -> str:
    """The URL with a credential in its user part replaced by '***', so it is not echoed back."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not _carries_credentials(parts.scheme, parts.netloc):
        return url
    return url.replace(parts.netloc.rpartition("@")[0] + "@", "***@", 1)


def url_problems(url: str, rules: RepositoryRules) -> list[str]:
    """Why git must not be given this URL (empty when it is acceptable)."""
    fatal = _fatal_url_problem(url)
    if fatal:
        return [fatal]
    if is_local_repository(url):
        if rules.allow_local:
            return []
        return ["local paths and file:// URLs are disabled (FIXBOT_GIT__ALLOW_LOCAL_REPOSITORIES)"]
    non_ascii = _non_ascii_problem(url)
    if non_ascii:
        return [non_ascii]
    problems = []
    if "?" in url or "#" in url:
        problems.append("must not contain a query ('?') or a fragment ('#')")
    scp = _SCP_LIKE.fullmatch(url)
    if scp:
        return problems + _host_problems("ssh", scp["host"], rules) + _path_problems(scp["path"])
    return problems + _remote_url_problems(url, rules)


def _fatal_url_problem(url: str) -> str | None:
    """A problem that makes every other check on the URL pointless."""
    if url.startswith("-"):
        return "must not start with '-' (git would read it as an option)"
    if "::" in url:
        return "remote helper transports such as 'ext::' are not allowed"
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters (it has {len(url)})"
    if not url or _has_space_or_control(url):
        return "must be a non-empty URL without spaces or control characters"
    hidden = first_hidden_character(url)
    if hidden:
        found = codepoint(hidden)
        return f"must not contain invisible or bidirectional control characters (found {found})"
    return None


def _has_space_or_control(text: str) -> bool:
    """True when any character is whitespace (ASCII or Unicode), a C0 control or DEL."""
    return any(ord(c) <= 0x20 or c == "\x7f" or c.isspace() for c in text)


def _non_ascii_problem(url: str) -> str | None:
    """Non-ASCII in a remote URL: a look-alike host (Cyrillic or fullwidth letters) or other."""
    if url.isascii():
        return None
    host = _host_of(url)
    if is_confusable_host(host):
        return (
            f"host {host!r} has non-ASCII characters, which can imitate another host "
            "(e.g. Cyrillic 'і' in 'gіthub.com'); only ASCII host names are accepted"
        )
    return "must be plain ASCII (non-ASCII letters are not accepted in repository URLs)"


def _host_of(url: str) -> str:
    """The host (and port) part of a URL or of the scp-like `user@host:path` form."""
    if "://" not in url:
        return url.partition(":")[0].rpartition("@")[2]
    try:
        return urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:  # e.g. characters that NFKC-normalise to '/', '@' or ':'
        return url.partition("://")[2].partition("/")[0].rpartition("@")[2]


def _remote_url_problems(url: str, rules: RepositoryRules) -> list[str]:
    """Credentials, scheme, host and path of a `scheme://host/path` URL."""
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
    problems += _path_problems(parts.path)
    if len([p for p in parts.path.split("/") if p]) < 2:
        problems.append("must name an owner and a repository, e.g. https://github.com/owner/repo")
    return problems


def _carries_credentials(scheme: str, netloc: str) -> bool:
    """True when the URL's user part holds a secret; ssh's account name (`git@`) is not one."""
    if "@" not in netloc:
        return False
    userinfo = netloc.rpartition("@")[0]
    if scheme.lower() == "ssh":
        return not _SSH_USER.fullmatch(userinfo)  # a ':password' or anything odd is refused
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
    return problems + _allowed_host_problems(scheme, host, rules)


def _allowed_host_problems(scheme: str, host_port: str, rules: RepositoryRules) -> list[str]:
    """The host must be on the allowlist; a port must be the scheme's default or allowed too."""
    if "%" in host_port:
        return [f"host {host_port!r} must not contain percent-encoded characters such as '%40'"]
    match = _HOST_PORT.fullmatch(host_port)
    if not match:
        return [
            f"host {host_port!r} is not a plain host name "
            "(letters, digits, '.' and '-', with an optional :port)"
        ]
    host, port = match["host"], match["port"]
    allowed = {h.lower() for h in rules.allowed_hosts}
    if host.lower() not in allowed and host_port.lower() not in allowed:
        return [
            f"host {host!r} is not allowed "
            f"(allowed: {', '.join(rules.allowed_hosts)}; FIXBOT_GIT__ALLOWED_HOSTS)"
        ]
    if port is None or host_port.lower() in allowed:
        return []
    return _port_problems(scheme, host.lower(), int(port))


def _port_problems(scheme: str, host: str, port: int) -> list[str]:
    """An explicit port on an allowed host is accepted when it is the scheme's default port."""
    if not 0 < port < 65536:
        return [f"port {port} is not a valid port number"]
    default = _DEFAULT_PORTS.get(scheme.lower())
    if port == default:
        return []
    return [
        f"port {port} is not allowed for {host!r} (only {scheme}'s default port; "
        f"add '{host}:{port}' to FIXBOT_GIT__ALLOWED_HOSTS to allow it)"
    ]


def _path_problems(path: str) -> list[str]:
    """A repository path: plain ASCII parts, none option-like, no '.' or '..'."""
    problems = []
    if not _URL_PATH.fullmatch(path):
        problems.append("path may contain only ASCII letters, digits, '/' and . _ ~ + -")
    parts = [p for p in path.split("/") if p]
    option = next((p for p in parts if p.startswith("-")), None)
    if option is not None:
        problems.append(
            f"path part {_shown(option)} must not start with '-' (git could read it as an option)"
        )
    if any(p in (".", "..") for p in parts):
        problems.append("path must not contain '.' or '..' parts")
    return problems


def is_local_repository(url: str) -> bool:
    """True for file: URLs (any case) and filesystem paths."""
    return url[:5].lower() == "file:" or url.startswith(("/", "./", "../", "~"))


def branch_problems(branch: str) -> list[str]:
    """The rules of `git check-ref-format --branch`, plus: no leading '-', no hidden characters."""
    if not branch:
        return ["must not be empty"]
    if len(branch) > MAX_BRANCH:
        return [f"must be at most {MAX_BRANCH} characters (it has {len(branch)})"]
    if branch.startswith("-"):
        return ["must not start with '-' (git would read it as an option)"]
    if branch == "@" or "@{" in branch:
        return ["must not be '@' or contain '@{'"]
    if branch == "HEAD":
        return ["must not be 'HEAD'"]
    if _REF_FORBIDDEN.search(branch):
        return ["must not contain spaces, control characters or any of ~ ^ : ? * [ \\"]
    hidden = first_hidden_character(branch) or next((c for c in branch if c.isspace()), None)
    if hidden:
        found = codepoint(hidden)
        return [f"must not contain invisible, bidi control or space characters (found {found})"]
    return _ref_shape_problems(branch)


def _ref_shape_problems(branch: str) -> list[str]:
    """git's rules on dots and slashes in a ref name."""
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
    scp = _SCP_LIKE.fullmatch(url)
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


def cleaned_task(task: TaskInput) -> TaskInput:
    """The task with its text cleaned of hidden content, for commit messages and PR bodies."""
    return task.model_copy(
        update={
            "title": clean_text(task.title, limit=MAX_TITLE).text,
            "description": clean_text(task.description, limit=MAX_DESCRIPTION).text,
        }
    )
