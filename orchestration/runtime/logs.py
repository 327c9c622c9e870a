"""structlog setup, once per process: readable console output, or JSON lines by setting.

Known secret values and token-shaped strings are redacted by a processor before anything
is rendered, so a secret that slips into an event never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
_TOKEN_PATTERN = re.compile(
    r"(ghp_|gho_|ghs_|ghu_|github_pat_|xoxb-|xoxp-|xapp-|sk-ant-)[A-Za-z0-9_\-]{6,}"
)


class Redactor:
    """Replaces known secret values and token-shaped strings with a marker."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return _TOKEN_PATTERN.sub(REDACTED, value)

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            event[key] = self.value(value)
        return event

    def value(self, value: Any, depth: int = 0) -> Any:
        """A log value with secrets removed; lists, dicts and other objects are searched too."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth < 5 and isinstance(value, dict):
            return {self.value(k, depth + 1): self.value(v, depth + 1) for k, v in value.items()}
        if depth < 5 and isinstance(value, list | tuple | set | frozenset):
            items = [self.value(v, depth + 1) for v in value]
            return items if isinstance(value, list) else tuple(items)
        shown = repr(value)  # what the renderers print for other objects (exceptions, paths, ...)
        redacted = self.text(shown)
        return value if redacted == shown else redacted


def configure_logging(
    level: str = "info", fmt: str = "console", secrets: Iterable[str] = ()
) -> None:
    """Configure structlog and the stdlib root logger for this process."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric_level, logging.WARNING), stream=sys.stderr)
    # the workflow's own lines (the audit trail) at the configured level, libraries quieter
    logging.getLogger("temporalio.workflow").setLevel(numeric_level)
