"""The fake GitHub itself: git access rules, fault injection and cleanup."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github import FakeGitHub


def _clone(url: str, dest: Path, header: str | None = None) -> subprocess.CompletedProcess[str]:
    """`git clone` with prompts off and an optional extra header."""
    config = ["-c", f"http.extraHeader={header}"] if header else []
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(
        ["git", *config, "clone", "--quiet", url, str(dest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _get(fake: FakeGitHub, path: str, token: str | None) -> tuple[int, Any]:
    """GET a REST path; return status and JSON."""
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(f"{fake.api_url}{path}", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_public_clone_needs_no_auth(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """Anyone may clone a public repository and gets its files."""
    url = fake_github.create_repo("acme", "shop", {"a/b.txt": "hello\n"})
    assert _clone(url, tmp_path / "c").returncode == 0
    assert (tmp_path / "c" / "a" / "b.txt").read_text() == "hello\n"


def test_private_clone_needs_the_token(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """A private repository answers 401 without credentials and serves them with the token."""
    url = fake_github.create_repo("acme", "secret", {"a.txt": "x\n"}, private=True)
    assert _clone(url, tmp_path / "no").returncode != 0
    basic = base64.b64encode(f"x-access-token:{fake_github.token}".encode()).decode()
    assert _clone(url, tmp_path / "yes", f"Authorization: Basic {basic}").returncode == 0
    assert ("GET", "/acme/secret.git/info/refs", 401) in fake_github.requests


def test_repository_json_points_at_the_fake(fake_github: FakeGitHub) -> None:
    """GET /repos/o/r has the fields PyGithub needs, with URLs on this server."""
    fake_github.create_repo("acme", "shop", {"a.txt": "x\n"}, branch="trunk")
    status, data = _get(fake_github, "/repos/acme/shop", fake_github.token)
    assert status == 200
    assert data["clone_url"] == fake_github.clone_url("acme", "shop")
    assert data["url"] == f"{fake_github.api_url}/repos/acme/shop"
    assert (data["full_name"], data["default_branch"]) == ("acme/shop", "trunk")


def test_api_needs_the_token(fake_github: FakeGitHub) -> None:
    """The REST API answers 401 Bad credentials without the right token."""
    fake_github.create_repo("acme", "shop", {"a.txt": "x\n"})
    assert _get(fake_github, "/repos/acme/shop", None) == (
        401,
        {
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        },
    )
    assert _get(fake_github, "/repos/acme/shop", "wrong")[0] == 401


def test_fail_next_answers_the_given_times(fake_github: FakeGitHub) -> None:
    """A fault answers the next matching requests, then normal service resumes."""
    fake_github.create_repo("acme", "shop", {"a.txt": "x\n"})
    fake_github.fail_next("GET", r"/repos/acme/shop$", 503, headers={"Retry-After": "1"}, times=2)
    statuses = [_get(fake_github, "/repos/acme/shop", fake_github.token)[0] for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_stop_removes_everything() -> None:
    """After stop the port is closed and the temporary root is gone."""
    fake = FakeGitHub().start()
    fake.create_repo("acme", "shop", {"a.txt": "x\n"})
    root, api = fake.root, fake.api_url
    fake.stop()
    assert not root.exists()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{api}/repos/acme/shop", timeout=2)  # noqa: S310


def test_pull_list_filters_and_pages(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """GET pulls filters by head, sorts newest first and pages with per_page/page."""
    url = fake_github.create_repo("acme", "shop", {"a.txt": "x\n"})
    work = tmp_path / "w"
    assert _clone(url, work).returncode == 0
    basic = base64.b64encode(f"x:{fake_github.token}".encode()).decode()
    for n in range(3):
        (work / "a.txt").write_text(f"{n}\n")
        _git_in(work, "commit", "--quiet", "--all", "-m", f"change {n}")
        _git_in(
            work,
            "-c",
            f"http.extraHeader=Authorization: Basic {basic}",
            "push",
            "--quiet",
            "origin",
            f"HEAD:refs/heads/fixbot/{n}",
        )
        _post_pull(fake_github, f"fixbot/{n}")
    status, page = _get(fake_github, "/repos/acme/shop/pulls?per_page=2", fake_github.token)
    assert status == 200 and [p["number"] for p in page] == [3, 2]
    _, rest = _get(fake_github, "/repos/acme/shop/pulls?per_page=2&page=2", fake_github.token)
    assert [p["number"] for p in rest] == [1]
    _, only = _get(fake_github, "/repos/acme/shop/pulls?head=acme:fixbot/1", fake_github.token)
    assert [p["head"]["ref"] for p in only] == ["fixbot/1"]


def _git_in(cwd: Path, *args: str) -> None:
    """Run git in a clone with a test identity."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", *identity, *args], cwd=cwd, env=env, check=True, capture_output=True)


def _post_pull(fake: FakeGitHub, head: str) -> None:
    """Open a pull request with a plain REST POST."""
    request = urllib.request.Request(  # noqa: S310
        f"{fake.api_url}/repos/acme/shop/pulls",
        data=json.dumps({"head": head, "base": "main", "title": head}).encode(),
        method="POST",
        headers={"Authorization": f"token {fake.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 201
