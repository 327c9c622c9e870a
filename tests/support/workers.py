"""Real `fixbot worker` processes for tests that kill and restart things."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from orchestration.runtime.settings import Settings


def worker_env(settings: Settings, address: str) -> dict[str, str]:
    """The settings of an in-test worker, as the environment of a `fixbot worker` process."""
    assert settings.anthropic_api_key and settings.github_token
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FIXBOT_", "TEMPORAL_", "GITHUB_", "ANTHROPIC_", "SLACK_"))
    }
    return {
        **clean,
        "TEMPORAL_ADDRESS": address,
        "FIXBOT_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "FIXBOT_DATA_DIR": str(settings.data_dir),
        "ANTHROPIC_BASE_URL": settings.anthropic_base_url,
        "ANTHROPIC_API_KEY": settings.anthropic_api_key.get_secret_value(),
        "GITHUB_TOKEN": settings.github_token.get_secret_value(),
        "GITHUB_API_URL": settings.github_api_url,
        "FIXBOT_GITHUB_WEB_HOST": settings.github_web_host,
        "FIXBOT_GITHUB_REQUEST_RETRIES": "0",
        "FIXBOT_GITHUB_THROTTLE": "false",
        "FIXBOT_SANDBOX__IMAGE": settings.sandbox.image,
        "FIXBOT_SANDBOX__SERVICES_ROOT": str(settings.sandbox.services_root),
        "FIXBOT_GIT__ALLOWED_HOSTS": f'["{settings.github_web_host}"]',
        "FIXBOT_GIT__ALLOWED_SCHEMES": '["http"]',
        "FIXBOT_LOG_LEVEL": "warning",
        "FIXBOT_APPROVAL__ALLOW_SKIP": "true",
    }


class Workers:
    """`fixbot worker` processes this test starts (and stops, by pid)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"worker-{len(self.processes)}.log").open("wb")
        fixbot = str(Path(sys.executable).with_name("fixbot"))
        process = subprocess.Popen([fixbot, "worker"], env=self._env, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
