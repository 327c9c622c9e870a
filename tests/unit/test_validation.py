"""orchestration.policy.validation: every bad input gets a problem naming its field."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration.models import RepositorySpec, TaskInput
from orchestration.policy.validation import (
    MAX_APPROVAL_TIMEOUT,
    MAX_DESCRIPTION,
    MAX_TITLE,
    MIN_APPROVAL_TIMEOUT,
    RepositoryRules,
    TaskValidationError,
    branch_problems,
    parse_repository_argument,
    repository_name_from_url,
    url_problems,
    validate_task,
)

GITHUB = RepositoryRules()
WITH_SSH = RepositoryRules(allowed_schemes=("https", "ssh"))
LOCAL = RepositoryRules(allow_local=True)


def repo(url: str = "https://github.com/acme/calc", branch: str = "main", name: str = "calc"):
    return RepositorySpec(url=url, branch=branch, name=name)


def task(**changes: object) -> TaskInput:
    values: dict[str, object] = {
        "task_id": "20261124-3fa9c2",
        "title": "add() subtracts",
        "description": "add(1, 2) returns -1",
        "repositories": [repo()],
        "requester": "alice",
        "created_at": datetime(2026, 11, 24, tzinfo=UTC),
    }
    values.update(changes)
    return TaskInput.model_validate(values)


def problems_of(t: TaskInput, rules: RepositoryRules = GITHUB) -> list[str]:
    with pytest.raises(TaskValidationError) as caught:
        validate_task(t, rules)
    return caught.value.problems


# --- the task's own fields -------------------------------------------------------------


def test_valid_task_passes() -> None:
    """A well-formed task on an allowed GitHub repository raises nothing."""
    validate_task(task(), GITHUB)


def test_error_message_lists_every_problem() -> None:
    """The exception's text carries each problem, so one run shows everything to fix."""
    with pytest.raises(TaskValidationError) as caught:
        validate_task(task(title=" ", budget_usd=0), GITHUB)
    assert "title: must not be empty" in str(caught.value)
    assert "budget" in str(caught.value)
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_empty_title_is_refused(title: str) -> None:
    """A blank title is a problem naming the title."""
    assert problems_of(task(title=title)) == ["title: must not be empty"]


def test_over_long_title_is_refused() -> None:
    """A title one character over the limit is refused, naming the title and the limit."""
    [problem] = problems_of(task(title="x" * (MAX_TITLE + 1)))
    assert problem.startswith("title:")
    assert str(MAX_TITLE) in problem


def test_title_at_the_limit_passes() -> None:
    """A title exactly at the limit is fine."""
    validate_task(task(title="x" * MAX_TITLE), GITHUB)


def test_over_long_description_is_refused() -> None:
    """A description over the limit is refused, naming the description."""
    [problem] = problems_of(task(description="x" * (MAX_DESCRIPTION + 1)))
    assert problem.startswith("description:")


def test_no_repository_is_refused() -> None:
    """A task needs at least one repository."""
    assert problems_of(task(repositories=[])) == [
        "repositories: at least one repository is required"
    ]


def test_two_repositories_with_the_same_name_are_refused() -> None:
    """Two repositories that would share a /workspace folder are refused, naming the folder."""
    twins = [repo("https://github.com/acme/calc"), repo("https://github.com/other/calc")]
    [problem] = problems_of(task(repositories=twins))
    assert problem.startswith("repositories:")
    assert "'calc'" in problem


def test_too_many_repositories_are_refused() -> None:
    """More than the per-task maximum of repositories is refused."""
    many = [repo(f"https://github.com/acme/r{i}", name=f"r{i}") for i in range(11)]
    assert any(p.startswith("repositories: at most") for p in problems_of(task(repositories=many)))


@pytest.mark.parametrize("budget", [0, -1, -0.01, 500.01, float("nan"), float("inf")])
def test_bad_budget_is_refused(budget: float) -> None:
    """A budget at or below zero, above the maximum, or not a number is refused."""
    [problem] = problems_of(task(budget_usd=budget))
    assert problem.startswith("budget:")


@pytest.mark.parametrize("budget", [0.01, 5.0, 500.0])
def test_reasonable_budget_passes(budget: float) -> None:
    """Budgets inside (0, 500] are accepted."""
    validate_task(task(budget_usd=budget), GITHUB)


@pytest.mark.parametrize("seconds", [0, MIN_APPROVAL_TIMEOUT - 1, MAX_APPROVAL_TIMEOUT + 1, -3600])
def test_approval_timeout_out_of_range_is_refused(seconds: int) -> None:
    """An approval timeout under a minute or over 30 days is refused, naming the field."""
    [problem] = problems_of(task(approval_timeout_seconds=seconds))
    assert problem.startswith("approval timeout:")


@pytest.mark.parametrize("seconds", [MIN_APPROVAL_TIMEOUT, MAX_APPROVAL_TIMEOUT])
def test_approval_timeout_bounds_pass(seconds: int) -> None:
    """The approval timeout's bounds themselves are accepted."""
    validate_task(task(approval_timeout_seconds=seconds), GITHUB)


def test_short_agent_timeout_is_refused() -> None:
    """An agent timeout under 30 seconds is refused, naming the field."""
    [problem] = problems_of(task(agent_timeout_seconds=29))
    assert problem.startswith("agent timeout:")


@pytest.mark.parametrize("task_id", ["-rf", ".hidden", "a/b", "a b", "", "x" * 101])
def test_bad_task_id_is_refused(task_id: str) -> None:
    """Task ids that are not a safe name (option-like, hidden, a path, too long) are refused."""
    [problem] = problems_of(task(task_id=task_id))
    assert problem.startswith("task id")


@pytest.mark.parametrize("ticket", ["javascript:alert(1)", "ftp://x/y", "file:///etc/passwd", "x"])
def test_non_http_ticket_url_is_refused(ticket: str) -> None:
    """A ticket link must be http(s)."""
    assert problems_of(task(ticket_url=ticket)) == ["ticket URL: must be an http(s) URL"]


def test_unparsable_ticket_url_is_a_problem_not_a_crash() -> None:
    """A ticket URL urllib cannot split (an unclosed IPv6 bracket) is reported, not raised."""
    assert problems_of(task(ticket_url="http://[oops/1")) == ["ticket URL: must be an http(s) URL"]


def test_repository_problems_name_the_url() -> None:
    """A bad repository's problem quotes the URL so the person knows which one."""
    [problem] = problems_of(task(repositories=[repo("http://github.com/acme/calc")]))
    assert problem.startswith("repository 'http://github.com/acme/calc':")
    assert "scheme 'http'" in problem


def test_bad_branch_problem_names_the_branch() -> None:
    """A bad branch's problem quotes the branch."""
    [problem] = problems_of(task(repositories=[repo(branch="a..b")]))
    assert problem.startswith("branch 'a..b':")


@pytest.mark.parametrize("name", ["-calc", ".calc", ".", "..", "a/b", "", "a b", "x" * 101])
def test_bad_repository_folder_name_is_refused(name: str) -> None:
    """A folder name that is option-like, hidden, a path or empty is refused, naming it."""
    [problem] = problems_of(task(repositories=[repo(name=name)]))
    assert problem.startswith(f"repository name {name!r}:")


# --- repository URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/calc",
        "https://github.com/acme/calc.git",
        "https://GitHub.com/acme/calc/",
        "HTTPS://github.com/acme/calc",
    ],
)
def test_github_https_urls_pass(url: str) -> None:
    """Ordinary https GitHub URLs are accepted (host and scheme case-insensitively)."""
    assert url_problems(url, GITHUB) == []


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("http://github.com/acme/calc", "http"),
        ("git://github.com/acme/calc", "git"),
        ("ssh://git@github.com/acme/calc.git", "ssh"),
        ("ftp://github.com/acme/calc", "ftp"),
    ],
)
def test_unsupported_scheme_is_refused(url: str, scheme: str) -> None:
    """Schemes other than the allowed ones are refused, naming the scheme."""
    assert f"scheme {scheme!r} is not allowed (allowed: https)" in url_problems(url, GITHUB)


def test_ssh_url_with_account_passes_when_ssh_is_allowed() -> None:
    """ssh://git@host/... is the normal ssh form: the account name is not a credential."""
    assert url_problems("ssh://git@github.com/acme/calc.git", WITH_SSH) == []


def test_ssh_url_with_password_is_refused() -> None:
    """A password in an ssh URL is a credential and is refused even when ssh is allowed."""
    problems = url_problems("ssh://git:hunter2@github.com/acme/calc.git", WITH_SSH)
    assert any("credentials" in p for p in problems)


def test_ssh_url_with_option_like_account_is_refused() -> None:
    """An ssh account such as '-oProxyCommand=…' is refused."""
    problems = url_problems("ssh://-oProxyCommand=x@github.com/acme/calc", WITH_SSH)
    assert problems != []


def test_scp_like_url_passes_when_ssh_is_allowed() -> None:
    """`git@github.com:o/r.git` is accepted when ssh is an allowed scheme."""
    assert url_problems("git@github.com:acme/calc.git", WITH_SSH) == []


def test_scp_like_url_is_refused_when_ssh_is_not_allowed() -> None:
    """`git@github.com:o/r.git` is refused as ssh when only https is allowed."""
    problems = url_problems("git@github.com:acme/calc.git", GITHUB)
    assert problems == ["scheme 'ssh' is not allowed (allowed: https)"]


def test_scp_like_url_on_another_host_is_refused() -> None:
    """The scp-like form is held to the host allowlist too."""
    problems = url_problems("git@evil.example:acme/calc.git", WITH_SSH)
    assert problems == [
        "host 'evil.example' is not allowed (allowed: github.com; FIXBOT_GIT__ALLOWED_HOSTS)"
    ]


@pytest.mark.parametrize(
    "url",
    ["file:///srv/git/calc", "/srv/git/calc", "./calc", "../calc", "~/src/calc"],
)
def test_local_repositories_refused_by_default(url: str) -> None:
    """file:// URLs and filesystem paths are refused unless local repositories are enabled."""
    [problem] = url_problems(url, GITHUB)
    assert "local paths and file:// URLs are disabled" in problem
    assert "FIXBOT_GIT__ALLOW_LOCAL_REPOSITORIES" in problem


@pytest.mark.parametrize(
    "url",
    ["file:///srv/git/calc", "/srv/git/calc", "./calc", "../calc", "~/src/calc"],
)
def test_local_repositories_pass_when_allowed(url: str) -> None:
    """With allow_local, file:// URLs and paths are accepted."""
    assert url_problems(url, LOCAL) == []


@pytest.mark.parametrize(
    "url", ["--upload-pack=touch /tmp/x", "--upload-pack=evil", "-u", "-", "-/srv/git/calc"]
)
def test_option_like_url_is_refused(url: str) -> None:
    """A URL starting with '-' is refused (even with local paths allowed): git reads options."""
    assert url_problems(url, LOCAL) == ["must not start with '-' (git would read it as an option)"]


@pytest.mark.parametrize(
    "url", ["ext::sh -c touch% /tmp/pwned", "ext::sh", "fd::17", "github.com::acme/calc"]
)
def test_remote_helper_transports_are_refused(url: str) -> None:
    """`ext::`-style transport syntax is refused whatever schemes are allowed."""
    rules = RepositoryRules(allowed_schemes=("https", "ssh", "ext"), allow_local=True)
    assert url_problems(url, rules) == ["remote helper transports such as 'ext::' are not allowed"]


@pytest.mark.parametrize(
    "url",
    [
        "https://user:tok@github.com/acme/calc",
        "https://tok@github.com/acme/calc",
        "https://ghp_abcdef123456@github.com/acme/calc",
        "https://evil.example@github.com/acme/calc",
    ],
)
def test_credentials_inside_urls_are_refused(url: str) -> None:
    """Tokens or user:password in a URL are refused; the worker authenticates itself."""
    assert "must not carry credentials; fixbot's worker authenticates itself" in url_problems(
        url, GITHUB
    )


def test_credentials_before_another_host_also_name_the_host() -> None:
    """`https://github.com@evil.example/...` is refused for credentials and for the host."""
    problems = url_problems("https://github.com@evil.example/acme/calc", GITHUB)
    assert any("credentials" in p for p in problems)
    assert any("host 'evil.example'" in p for p in problems)


@pytest.mark.parametrize(
    "url", ["https://gitlab.com/acme/calc", "https://github.com.evil.example/acme/calc"]
)
def test_host_not_allowed_is_refused(url: str) -> None:
    """Hosts not on the allowlist are refused, naming the setting to change."""
    [problem] = url_problems(url, GITHUB)
    assert problem.startswith("host ")
    assert "FIXBOT_GIT__ALLOWED_HOSTS" in problem


def test_extra_allowed_host_passes() -> None:
    """A host added to the allowlist is accepted."""
    rules = RepositoryRules(allowed_hosts=("github.com", "git.example.org"))
    assert url_problems("https://git.example.org/team/calc", rules) == []


@pytest.mark.parametrize(
    "url",
    [
        "",
        " https://github.com/acme/calc",
        "https://github.com/acme/calc ",
        "https://github.com/acme/ca lc",
        "https://github.com/acme/calc\n",
        "https://github.com/acme/\x00calc",
        "https://github.com/acme/calc\x7f",
    ],
)
def test_spaces_and_control_characters_are_refused(url: str) -> None:
    """Empty URLs and URLs with whitespace or control characters anywhere are refused."""
    assert url_problems(url, GITHUB) == [
        "must be a non-empty URL without spaces or control characters"
    ]


@pytest.mark.parametrize(
    "url", ["https://github.com/acme", "https://github.com/", "https://github.com"]
)
def test_url_without_owner_and_repository_is_refused(url: str) -> None:
    """A URL must name an owner and a repository."""
    assert any("owner and a repository" in p for p in url_problems(url, GITHUB))


@pytest.mark.parametrize("url", ["github.com/acme/calc", "calc", "https:///acme/calc"])
def test_not_a_url_is_refused(url: str) -> None:
    """Something that is neither a URL nor a local path is refused."""
    assert any("must be a URL" in p for p in url_problems(url, GITHUB))


def test_unparsable_url_is_a_problem_not_a_crash() -> None:
    """A URL urllib cannot split (an unclosed IPv6 bracket) is reported as a problem."""
    [problem] = url_problems("https://[github.com/acme/calc", GITHUB)
    assert "not a valid URL" in problem


# --- branches: the same rules as `git check-ref-format --branch` -----------------------

BRANCHES = [
    "main",
    "feature/x",
    "release-1.2",
    "v1.0.0",
    "fix_12",
    "a./b",
    "a.lockx",
    "a@b",
    "x-",
    "a{b}",
    "a,b+c=d",
    "é",
    "日本/ブランチ",
    "heads/HEAD",
    "HEAD",
    "a..b",
    "a/.b",
    ".a",
    "x.lock",
    "x.lock/y",
    "a@{1}",
    "@{-1}",
    "a b",
    "a\tb",
    "a~1",
    "a^",
    "a^{}",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
    "a/",
    "a.",
    "a//b",
    "/a",
    "a/..",
    "...",
    "a\x7fb",
    "a\x01b",
    "",
]


GIT = shutil.which("git") or "git"


@pytest.fixture(scope="module")
def outside_any_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("not-a-repository")


def git_accepts_branch(name: str, cwd: Path) -> bool:
    """`git check-ref-format --branch NAME` outside any repository (so `@{-1}` is not expanded).

    With exactly `--branch NAME`, git takes NAME literally (it does not accept `--` there, and
    a NAME starting with '-' is not parsed as an option), so argv needs no separator.
    """
    result = subprocess.run(
        [GIT, "check-ref-format", "--branch", name],
        cwd=cwd,
        capture_output=True,
        check=False,
        env={"HOME": str(cwd), "GIT_CEILING_DIRECTORIES": str(cwd.parent)},
    )
    return result.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("name", BRANCHES)
def test_branch_rules_match_git(name: str, outside_any_repository: Path) -> None:
    """branch_problems accepts exactly the names `git check-ref-format --branch` accepts."""
    assert (branch_problems(name) == []) is git_accepts_branch(name, outside_any_repository)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_lone_at_sign_is_refused_although_git_accepts_it(outside_any_repository: Path) -> None:
    """Stricter than git on purpose: '@' means HEAD in git's revision syntax, so it is refused."""
    assert git_accepts_branch("@", outside_any_repository)
    assert branch_problems("@") == ["must not be '@' or contain '@{'"]


@pytest.mark.parametrize("name", ["-x", "--upload-pack=evil", "-"])
def test_option_like_branch_is_refused(name: str) -> None:
    """A branch starting with '-' is refused, saying git would read it as an option."""
    assert branch_problems(name) == ["must not start with '-' (git would read it as an option)"]


# --- names and the command-line argument -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/acme/calc", "calc"),
        ("https://github.com/acme/calc.git", "calc"),
        ("https://github.com/acme/calc/", "calc"),
        ("https://github.com/acme/calc.git/", "calc"),
        ("git@github.com:acme/calc.git", "calc"),
        ("ssh://git@github.com/acme/calc.git", "calc"),
        ("file:///srv/git/calc.git", "calc"),
        ("/srv/git/calc", "calc"),
        ("./calc", "calc"),
        ("https://github.com", "repository"),
        ("https://github.com/acme/.git", "repository"),
        ("https://[broken/acme/calc", "repository"),
    ],
)
def test_repository_name_from_url(url: str, name: str) -> None:
    """The folder name is the URL's last path part without '.git' ('repository' if none)."""
    assert repository_name_from_url(url) == name


def test_parse_repository_argument_with_branch() -> None:
    """`URL#branch` splits into URL, branch and folder name."""
    spec = parse_repository_argument("https://github.com/acme/calc.git#release/1.2")
    assert spec == RepositorySpec(
        url="https://github.com/acme/calc.git", branch="release/1.2", name="calc"
    )


@pytest.mark.parametrize(
    "argument",
    [
        "https://github.com/acme/calc",
        "  https://github.com/acme/calc  ",
        "https://github.com/acme/calc#",
    ],
)
def test_parse_repository_argument_defaults_to_main(argument: str) -> None:
    """Without a branch (or with an empty one) the branch is main; spaces around are dropped."""
    spec = parse_repository_argument(argument)
    assert (spec.url, spec.branch, spec.name) == ("https://github.com/acme/calc", "main", "calc")


def test_parse_repository_argument_scp_like() -> None:
    """The scp-like ssh form works with `#branch` too."""
    spec = parse_repository_argument("git@github.com:acme/calc.git#dev")
    assert (spec.url, spec.branch, spec.name) == ("git@github.com:acme/calc.git", "dev", "calc")


def test_parsed_argument_is_still_validated() -> None:
    """A branch smuggled after '#' is caught by validation, not trusted."""
    spec = parse_repository_argument("https://github.com/acme/calc#--upload-pack=x")
    [problem] = problems_of(task(repositories=[spec]))
    assert problem.startswith("branch '--upload-pack=x':")
