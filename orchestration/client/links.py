"""Links to a task's run in the Temporal Web UI."""

from __future__ import annotations

from collections.abc import Callable

from orchestration.runtime.settings import Settings


def run_url_for(settings: Settings) -> Callable[[str, str], str | None]:
    """Links to a run in the Temporal Web UI, when its address is configured."""

    def url(workflow_id: str, run_id: str) -> str | None:
        base = settings.temporal_ui_url
        if not base:
            return None
        namespace = settings.temporal_namespace
        return f"{base.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}/{run_id}"

    return url
