"""Which runtime isolates the sandboxes: gVisor where the engine has it, runc otherwise (said
at start, since runc shares the host's kernel with code nobody here wrote)."""

from __future__ import annotations

import structlog

from orchestration.runtime.settings import SettingsError

log = structlog.get_logger(__name__)

AUTO = "auto"
GVISOR = "runsc"
FALLBACK_WARNING = (
    "gVisor (runsc) is not registered with the Docker engine: sandboxes run under runc and "
    "share the host's kernel. Run scripts/setup-machine (or see SECURITY.md, 'gVisor') to "
    "register it, or set FIXBOT_SANDBOX__RUNTIME=runc to choose runc and silence this."
)


def choose_runtime(setting: str, registered: frozenset[str]) -> str | None:
    """The runtime to create sandboxes under (None: the engine's default, runc). `auto`
    takes gVisor when registered; a named runtime must be registered."""
    if setting == AUTO:
        if GVISOR in registered:
            return GVISOR
        log.warning("sandbox runtime falls back to runc", reason=FALLBACK_WARNING)
        return None
    if setting not in registered:
        names = ", ".join(sorted(registered)) or "none"
        raise SettingsError(
            f"FIXBOT_SANDBOX__RUNTIME={setting} is not registered with the Docker engine "
            f"(registered: {names}); use one of those, or auto"
        )
    return setting
