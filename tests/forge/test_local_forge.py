"""LocalForge: a fix pushed into a local repository becomes a patch file."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.forge.git_push import commit_and_push
from orchestration.forge.local_forge import LocalForge, local_repository_path, patch_file_name
from orchestration.forge.port import ForgeError, PullRequestSpec
from orchestration.models import RepositorySpec
from tests.forge.gitrepo import BRANCH, WHEN, git, init_repo, make_change


def _publish(tmp_path: Path) -> tuple[Path, PullRequestSpec, str]:
    """A local repository with the fix pushed to BRANCH; return it, a spec and the sha."""
    repo = tmp_path / "shop"
    init_repo(repo, {"cart.py": "total = 0\n", "logo.bin": "\x00\x01"})
    spec = RepositorySpec(url=repo.as_uri(), name="shop")
    change = make_change(repo, {"cart.py": "total = 1\n", "logo.bin": "\x00\x02"}, tmp_path, spec)
    sha = commit_and_push(
        source=str(repo),
        change=change,
        branch=BRANCH,
        push_url=str(repo),
        auth=None,
        author_name="fixbot",
        author_email="fixbot@example.invalid",
        commit_date=WHEN,
        message="fixbot: empty cart",
        workdir=tmp_path / "work",
    )
    request = PullRequestSpec(
        repository=spec, head_branch=BRANCH, base_branch="main", title="t", body="b"
    )
    return repo, request, sha


def test_patch_file_is_written_and_branch_exists(tmp_path: Path) -> None:
    """The branch is in the local repository and the patch file `git am`-applies to main."""
    repo, request, sha = _publish(tmp_path)
    ref = LocalForge(tmp_path / "patches").open_pull_request(request)
    assert git(repo, "rev-parse", f"refs/heads/{BRANCH}") == sha
    assert ref.patch_file == str(tmp_path / "patches" / "fixbot-task-123--shop.patch")
    assert (ref.url, ref.number, ref.created) == (f"{repo.as_uri()}#{BRANCH}", None, True)
    check = tmp_path / "check"
    git(tmp_path, "clone", "--quiet", "--branch", "main", str(repo), str(check))
    git(check, "am", "--quiet", ref.patch_file)
    assert git(check, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", f"{sha}^{{tree}}")


def test_open_again_rewrites_the_same_file(tmp_path: Path) -> None:
    """A retried open rewrites the same patch file and reports it as not created."""
    _, request, _ = _publish(tmp_path)
    forge = LocalForge(tmp_path / "patches")
    first = forge.open_pull_request(request)
    content = Path(first.patch_file or "").read_text()
    second = forge.open_pull_request(request)
    assert second.patch_file == first.patch_file and not second.created
    assert Path(second.patch_file or "").read_text() == content
    assert [p.name for p in (tmp_path / "patches").iterdir()] == ["fixbot-task-123--shop.patch"]


def test_unpushed_branch_is_an_error(tmp_path: Path) -> None:
    """Opening a "pull request" for a branch that is not in the repository fails clearly."""
    _, request, _ = _publish(tmp_path)
    missing = request.model_copy(update={"head_branch": "fixbot/other"})
    with pytest.raises(ForgeError, match="branch 'fixbot/other' is not in the local repository"):
        LocalForge(tmp_path / "patches").open_pull_request(missing)


def test_update_body_and_auto_merge_are_no_ops(tmp_path: Path) -> None:
    """A patch file has no description or merge button, so both calls do nothing."""
    _, request, _ = _publish(tmp_path)
    forge = LocalForge(tmp_path / "patches")
    ref = forge.open_pull_request(request)
    before = Path(ref.patch_file or "").read_text()
    forge.update_body(ref, "new body")
    forge.enable_auto_merge(ref)
    assert Path(ref.patch_file or "").read_text() == before


@pytest.mark.parametrize(
    ("url", "expected"),
    [("/srv/repos/shop", "/srv/repos/shop"), ("file:///srv/my%20repos/shop", "/srv/my repos/shop")],
)
def test_local_repository_path(url: str, expected: str) -> None:
    """Absolute paths and file:// URLs name local directories."""
    assert local_repository_path(url) == Path(expected)


@pytest.mark.parametrize("url", ["shop", "https://github.com/acme/shop", "file://host/srv/shop"])
def test_local_repository_path_rejects(url: str) -> None:
    """Relative paths, remote URLs and file URLs on other hosts are not local repositories."""
    with pytest.raises(ValueError, match=r"local repository|another host|not a local"):
        local_repository_path(url)


def test_patch_file_name_is_safe() -> None:
    """Branch and repository names become one flat, safe file name."""
    assert patch_file_name("fixbot/a b/../c", "../../etc") == "fixbot-a-b-..-c--etc.patch"
