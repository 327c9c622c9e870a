"""Worker settings for tests that run the real loop against local stand-ins."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pydantic import SecretStr

from orchestration.runtime.settings import ApprovalSettings, GitSettings, SandboxSettings, Settings
from tests.fakes.github import FakeGitHub
from tests.support.images import TEST_IMAGE


def services_root_for_tests() -> Path:
    """This test process's own (short) root for sandbox sockets; removed when its session ends.

    Stopping a worker keeps task socket directories for the next worker, so tests must not
    share the deployment default (/tmp/fixbot-services) or they would leave it full."""
    return Path("/tmp") / f"fixbot-test-services-{os.getpid()}"


def e2e_settings(data_dir: Path, github: FakeGitHub, model_url: str, queue: str) -> Settings:
    """Worker settings pointing every external service at the local stand-ins."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        anthropic_base_url=model_url,
        anthropic_api_key=SecretStr(f"sk-ant-e2e-{uuid.uuid4().hex}"),
        github_token=SecretStr(github.token),
        github_api_url=github.api_url,
        github_web_host=github.web_host,
        github_request_retries=0,
        github_throttle=False,
        temporal_task_queue=queue,
        temporal_ui_url="http://127.0.0.1:8233",
        sandbox=SandboxSettings(image=TEST_IMAGE, services_root=services_root_for_tests()),
        git=GitSettings(allowed_hosts=[github.web_host], allowed_schemes=["http"]),
        approval=ApprovalSettings(allow_skip=True),  # most tests open PRs without approving
    )
