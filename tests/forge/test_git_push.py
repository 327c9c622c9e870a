"""commit_and_push against the fake GitHub through real git."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from orchestration.forge.git_push import (
    GitAuth,
    GitPushError,
    PatchDoesNotApplyError,
    PushRefusedError,
    git_environment,
)
from orchestration.models import RepositoryChange, RepositorySpec
from tests.fakes.github import FakeGitHub
from tests.forge.gitrepo import BRANCH, git, make_change, push_fix

FILES = {"shop/cart.py": "def average(xs):\n    return sum(xs) / len(xs)\n", "README.md": "Shop\n"}
FIXED = "def average(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n"


@pytest.fixture
def change(fake_github: FakeGitHub, tmp_path: Path) -> RepositoryChange:
    """A fix to acme/shop: one edited file, one new file, one deleted file."""
    url = fake_github.create_repo("acme", "shop", FILES)
    spec = RepositorySpec(url=url, name="shop")
    edits: dict[str, str | None] = {
        "shop/cart.py": FIXED,
        "tests/t.py": "x = 1\n",
        "README.md": None,
    }
    return make_change(fake_github.repo_path("acme", "shop"), edits, tmp_path, spec)


def test_same_inputs_push_the_same_commit_once(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """Pushing twice gives one branch at one sha whose diff from the base is exactly the patch."""
    first = push_fix(fake_github, change, tmp_path / "work")
    second = push_fix(fake_github, change, tmp_path / "work")
    assert first == second == fake_github.branch_sha("acme", "shop", BRANCH)
    bare = fake_github.repo_path("acme", "shop")
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/fixbot/") == (
        f"refs/heads/{BRANCH}"
    )
    assert fake_github.diff("acme", "shop", change.base_commit, BRANCH) == change.patch
    assert fake_github.read_file("acme", "shop", BRANCH, "shop/cart.py") == FIXED


def test_commit_has_the_bot_identity_and_fixed_dates(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """Author and committer are the bot at the given date; the parent is the base commit."""
    sha = push_fix(fake_github, change, tmp_path / "work")
    bare = fake_github.repo_path("acme", "shop")
    shown = git(bare, "show", "-s", "--format=%an|%ae|%at|%cn|%ce|%ct|%P|%s", sha)
    stamp = "1735787045"
    assert shown == (
        f"fixbot|fixbot@example.invalid|{stamp}|fixbot|fixbot@example.invalid|{stamp}"
        f"|{change.base_commit}|fixbot: crash when the cart is empty"
    )


def test_temporary_clone_is_removed(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """Nothing is left in the work directory after a push."""
    push_fix(fake_github, change, tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []


def test_source_may_be_a_url(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """Fetching the base commit over HTTP gives the same commit as a local mirror."""
    local = push_fix(fake_github, change, tmp_path / "a")
    remote = push_fix(
        fake_github, change, tmp_path / "b", source=fake_github.clone_url("acme", "shop")
    )
    assert local == remote


def test_patch_that_does_not_apply_is_a_clear_error(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """A patch against other content fails naming the repository, and nothing is pushed."""
    broken = change.model_copy(update={"patch": change.patch.replace("sum(xs)", "max(xs)")})
    with pytest.raises(PatchDoesNotApplyError, match="repository 'shop' does not apply"):
        push_fix(fake_github, broken, tmp_path / "work")
    assert fake_github.branch_sha("acme", "shop", BRANCH) is None


@pytest.mark.parametrize("branch", ["main", "feature/x", "fixbot/", "fixbot/bad..name"])
def test_branch_outside_fixbot_is_refused(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path, branch: str
) -> None:
    """Only valid branches under fixbot/ may be pushed; nothing reaches the server otherwise."""
    before = len(fake_github.requests)
    with pytest.raises(PushRefusedError, match="refusing to push"):
        push_fix(fake_github, change, tmp_path / "work", branch=branch)
    assert len(fake_github.requests) == before


def test_wrong_token_fails_without_revealing_it(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """A refused push raises GitPushError whose message holds neither the token nor its header."""
    auth = GitAuth("x-access-token", "ghp_wrongwrongwrong0123456789")
    with pytest.raises(GitPushError) as caught:
        push_fix(fake_github, change, tmp_path / "work", auth=auth)
    message = str(caught.value)
    assert "git push failed" in message
    assert auth.token not in message
    assert auth.header.removeprefix("Basic ") not in message
    assert "ghp_wrongwrongwrong0123456789" not in repr(auth)
    assert ("GET", "/acme/shop.git/info/refs", 401) in fake_github.requests


def test_push_without_credentials_is_refused(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """The fake demands a token for receive-pack; without one git fails fast (no prompt)."""
    with pytest.raises(GitPushError, match="git push failed"):
        push_fix(fake_github, change, tmp_path / "work", auth=None)
    assert fake_github.branch_sha("acme", "shop", BRANCH) is None


def test_naive_commit_date_is_rejected(
    fake_github: FakeGitHub, change: RepositoryChange, tmp_path: Path
) -> None:
    """A date without a time zone would make the commit depend on the machine, so it is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        push_fix(fake_github, change, tmp_path / "work", commit_date=datetime(2025, 1, 2))


def test_credentials_travel_in_environment_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The header goes in GIT_CONFIG_* after any entries already set; prompts are off."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "someone")
    env = git_environment(GitAuth("x-access-token", "secret-token"))
    count = int(env["GIT_CONFIG_COUNT"])
    entries = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}
    assert entries["user.name"] == "someone"
    assert (
        entries["http.extraHeader"] == "Authorization: Basic eC1hY2Nlc3MtdG9rZW46c2VjcmV0LXRva2Vu"
    )
    assert entries["credential.helper"] == ""
    assert env["GIT_TERMINAL_PROMPT"] == "0"
