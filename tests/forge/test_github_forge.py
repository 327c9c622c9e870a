"""GitHubForge through real PyGithub against the fake GitHub."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest

from orchestration.forge.github_forge import GitHubForge, parse_github_repository
from orchestration.forge.port import ForgeError, PullRequestSpec
from orchestration.models import PullRequestRef, RepositorySpec
from tests.fakes.github import FakeGitHub
from tests.forge.gitrepo import BRANCH, make_change, push_fix


@pytest.fixture
def spec(fake_github: FakeGitHub, tmp_path: Path) -> PullRequestSpec:
    """acme/shop on the fake with the fix branch already pushed."""
    url = fake_github.create_repo("acme", "shop", {"cart.py": "total = 0\n"})
    repository = RepositorySpec(url=url, name="shop")
    change = make_change(
        fake_github.repo_path("acme", "shop"), {"cart.py": "total = 1\n"}, tmp_path, repository
    )
    push_fix(fake_github, change, tmp_path / "work")
    return PullRequestSpec(
        repository=repository,
        owner="acme",
        repo="shop",
        head_branch=BRANCH,
        base_branch="main",
        title="fixbot: empty cart",
        body="The fix.",
        draft=True,
    )


def _posts(fake: FakeGitHub) -> list[int]:
    """Statuses of the create-pull-request calls so far."""
    return [s for m, p, s in fake.requests if (m, p) == ("POST", "/api/v3/repos/acme/shop/pulls")]


def test_open_creates_a_pull_request(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """A new branch gets a new pull request with the spec's title, body, base and draft flag."""
    ref = forge.open_pull_request(spec)
    assert ref.created and ref.number == 1
    assert ref.url == f"{fake_github.web_url}/acme/shop/pull/1"
    assert (ref.repository, ref.branch) == ("shop", BRANCH)
    [pull] = fake_github.pulls("acme", "shop")
    assert (pull.title, pull.body, pull.head, pull.base, pull.draft) == (
        "fixbot: empty cart",
        "The fix.",
        BRANCH,
        "main",
        True,
    )
    assert pull.head_sha == fake_github.branch_sha("acme", "shop", BRANCH)


def test_open_reuses_the_open_pull_request(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """A retried open finds the existing pull request and creates no second one."""
    first = forge.open_pull_request(spec)
    second = forge.open_pull_request(spec)
    assert second.model_copy(update={"created": True}) == first
    assert not second.created
    assert len(fake_github.pulls("acme", "shop")) == 1
    assert _posts(fake_github) == [201]


def test_already_exists_answer_returns_the_existing_pull_request(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """When the lookup misses but create says 422 "already exists", the PR is looked up again."""
    first = forge.open_pull_request(spec)
    fake_github.fail_next("GET", r"/repos/acme/shop/pulls$", 200, body=[])
    again = forge.open_pull_request(spec)
    assert (again.number, again.url, again.created) == (first.number, first.url, False)
    assert len(fake_github.pulls("acme", "shop")) == 1
    assert _posts(fake_github) == [201, 422]


async def test_forge_works_from_asyncio(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """The blocking forge runs in a worker thread while the fake serves from its own thread."""
    ref = await asyncio.to_thread(forge.open_pull_request, spec)
    await asyncio.to_thread(forge.update_body, ref, "from asyncio")
    assert [p.body for p in fake_github.pulls("acme", "shop")] == ["from asyncio"]


def test_closed_pull_request_is_not_reused(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """Only an open pull request counts; after closing, a new one is opened."""
    first = forge.open_pull_request(spec)
    _close(fake_github, first.number or 0)
    second = forge.open_pull_request(spec)
    assert second.created and second.number == 2


def test_missing_head_branch_is_a_clear_error(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """Opening a pull request for an unpushed branch fails with GitHub's validation message."""
    unpushed = spec.model_copy(update={"head_branch": "fixbot/never-pushed"})
    with pytest.raises(ForgeError, match="HTTP 422: Validation Failed; head invalid") as caught:
        forge.open_pull_request(unpushed)
    assert not caught.value.retryable


def test_wrong_token_is_refused(fake_github: FakeGitHub, spec: PullRequestSpec) -> None:
    """A bad token gives a non-retryable ForgeError about bad credentials, without the token."""
    token = "ghp_not_the_right_token_0123456789"
    client = GitHubForge(
        fake_github.api_url,
        token,
        fake_github.web_host,
        seconds_between_requests=None,
        seconds_between_writes=None,
        retry=None,
    )
    with pytest.raises(ForgeError, match="HTTP 401: Bad credentials") as caught:
        client.open_pull_request(spec)
    assert not caught.value.retryable
    assert token not in str(caught.value)
    assert fake_github.pulls("acme", "shop") == []


def test_server_error_is_retryable(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """A 502 while creating is reported as retryable (the activity retries it)."""
    fake_github.fail_next("POST", r"/pulls$", 502)
    with pytest.raises(ForgeError) as caught:
        forge.open_pull_request(spec)
    assert caught.value.retryable


def test_production_retry_rides_out_a_bad_gateway(
    fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """The default retry policy repeats a request that got a 502 and then succeeds."""
    client = GitHubForge(
        fake_github.api_url,
        fake_github.token,
        fake_github.web_host,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    fake_github.fail_next("GET", r"^/api/v3/repos/acme/shop/pulls$", 502)
    ref = client.open_pull_request(spec)
    client.close()
    assert ref.created
    calls = [
        s for m, p, s in fake_github.requests if (m, p) == ("GET", "/api/v3/repos/acme/shop/pulls")
    ]
    assert calls == [502, 200]


def test_enable_auto_merge_reaches_the_pull_request(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """PyGithub's enablePullRequestAutoMerge mutation lands on the fake's pull request."""
    ref = forge.open_pull_request(spec)
    forge.enable_auto_merge(ref)
    [pull] = fake_github.pulls("acme", "shop")
    assert pull.auto_merge is not None and pull.auto_merge["merge_method"] == "merge"
    assert ("POST", "/api/graphql", 200) in fake_github.requests


def test_update_body_replaces_the_description(
    forge: GitHubForge, fake_github: FakeGitHub, spec: PullRequestSpec
) -> None:
    """update_body PATCHes the pull request's body and leaves its title alone."""
    ref = forge.open_pull_request(spec)
    forge.update_body(ref, "New body with [a link](https://example.com).")
    [pull] = fake_github.pulls("acme", "shop")
    assert pull.body == "New body with [a link](https://example.com)."
    assert pull.title == "fixbot: empty cart"


def test_spec_without_owner_is_refused(forge: GitHubForge, spec: PullRequestSpec) -> None:
    """A spec meant for the local forge cannot be opened on GitHub."""
    with pytest.raises(ForgeError, match="no GitHub owner/repo"):
        forge.open_pull_request(spec.model_copy(update={"owner": ""}))


@pytest.mark.parametrize(
    ("url", "host", "expected"),
    [
        ("https://github.com/acme/shop", "github.com", ("acme", "shop")),
        ("https://github.com/acme/shop.git", "github.com", ("acme", "shop")),
        ("https://GitHub.com/acme/shop.js/", "github.com", ("acme", "shop.js")),
        ("https://ghe.example.com/team/api.git", "ghe.example.com", ("team", "api")),
        ("http://127.0.0.1:8080/acme/shop.git", "127.0.0.1:8080", ("acme", "shop")),
    ],
)
def test_parse_github_repository(url: str, host: str, expected: tuple[str, str]) -> None:
    """Owner and repository come from https URLs on the configured host."""
    assert parse_github_repository(url, host) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("git@github.com:acme/shop.git", "not an https repository URL"),
        ("https://gitlab.com/acme/shop", "is not on github.com"),
        ("https://x:tok@github.com/acme/shop", "must not carry credentials"),
        ("https://github.com/acme", "not of the form"),
        ("https://github.com/acme/shop/tree/main", "not of the form"),
        ("https://github.com/acme/shop?x=1", "query or fragment"),
        ("https://github.com/-acme/shop", "invalid owner or repository"),
        ("https://github.com/acme/..", "invalid owner or repository"),
    ],
)
def test_parse_github_repository_rejects(url: str, message: str) -> None:
    """Anything that is not https://HOST/OWNER/REPO is a ValueError saying why."""
    with pytest.raises(ValueError, match=message):
        parse_github_repository(url, "github.com")


def _close(fake: FakeGitHub, number: int) -> None:
    """Close a pull request with a plain REST PATCH."""
    request = urllib.request.Request(  # noqa: S310 - a loopback URL to the fake
        f"{fake.api_url}/repos/acme/shop/pulls/{number}",
        data=json.dumps({"state": "closed"}).encode(),
        method="PATCH",
        headers={"Authorization": f"token {fake.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_reference_from_another_host_is_refused(forge: GitHubForge) -> None:
    """A pull request URL that is not on this forge's host is a ForgeError, not a request."""
    ref = PullRequestRef(
        repository="shop", branch=BRANCH, url="https://elsewhere.example/acme/shop/pull/1", number=1
    )
    with pytest.raises(ForgeError, match="is not a pull request on"):
        forge.update_body(ref, "x")
