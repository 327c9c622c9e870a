"""Fixtures for the forge tests: a running fake GitHub and a forge pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestration.forge.github_forge import GitHubForge
from tests.fakes.github import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fake GitHub on 127.0.0.1, stopped and removed after the test."""
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def forge(fake_github: FakeGitHub) -> Iterator[GitHubForge]:
    """A GitHubForge for the fake, without throttling or retries."""
    client = GitHubForge(
        fake_github.api_url,
        fake_github.token,
        fake_github.web_host,
        seconds_between_requests=None,
        seconds_between_writes=None,
        retry=None,
    )
    yield client
    client.close()
