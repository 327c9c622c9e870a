"""The real `fixbot` console script: bad input gets a clear error and starts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

FIXBOT = str(Path(sys.executable).with_name("fixbot"))


def fixbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FIXBOT_", "TEMPORAL_"))}
    return subprocess.run(
        [FIXBOT, *args],
        env={**clean, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_invalid_task_is_refused_before_connecting_to_anything() -> None:
    """Every problem is listed at once, and no Temporal connection is attempted (none exists)."""
    started = time.monotonic()
    done = fixbot(
        "start",
        "--title",
        "   ",
        "--repo",
        "--upload-pack=touch /tmp/pwned",
        "--repo",
        "ext::sh -c touch% /tmp/pwned",
        "--repo",
        "https://tok@github.com/a/b#a..b",
        "--repo",
        "file:///etc",
        TEMPORAL_ADDRESS="127.0.0.1:9",
    )
    output = done.stderr + done.stdout
    assert done.returncode == 2, output
    assert "title: must not be empty" in output
    assert "must not start with '-'" in output
    assert "'ext::' are not allowed" in output
    assert "must not carry credentials" in output
    assert "branch 'a..b'" in output
    assert "file:// URLs are disabled" in output
    assert "cannot reach Temporal" not in output
    assert time.monotonic() - started < 30


def test_unreachable_temporal_names_the_setting() -> None:
    """A valid task with no Temporal server says which variable to set."""
    done = fixbot(
        "start",
        "--title",
        "Broken",
        "--repo",
        "https://github.com/acme/shop",
        TEMPORAL_ADDRESS="127.0.0.1:9",
    )
    assert done.returncode == 1
    assert "cannot reach Temporal at 127.0.0.1:9" in done.stderr
    assert "TEMPORAL_ADDRESS" in done.stderr


def test_invalid_setting_names_the_variable() -> None:
    """A malformed setting stops the command with the exact variable name."""
    done = fixbot("status", "x", FIXBOT_SANDBOX__MEMORY_MB="lots")
    assert done.returncode == 2
    assert "FIXBOT_SANDBOX__MEMORY_MB" in done.stderr


@pytest.mark.parametrize("command", [["status"], ["approve"], ["cancel"], ["answer", "--", "hi"]])
def test_unknown_task_id_is_named(temporal_env: WorkflowEnvironment, command: list[str]) -> None:
    """status, approve, cancel and answer on an unknown id say there is no such task."""
    address = temporal_env.client.service_client.config.target_host
    verb, *rest = command
    done = fixbot(verb, "nope-404", *rest, TEMPORAL_ADDRESS=address)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no task 'nope-404'" in done.stderr
