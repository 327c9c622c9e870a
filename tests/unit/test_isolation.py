"""Which runtime isolates the sandboxes: gVisor when the engine has it, runc said aloud."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from orchestration.runtime.isolation import FALLBACK_WARNING, choose_runtime
from orchestration.runtime.settings import SettingsError

WITH_GVISOR = frozenset({"runc", "runsc", "io.containerd.runc.v2"})
WITHOUT = frozenset({"runc", "io.containerd.runc.v2"})


def test_auto_takes_gvisor_when_registered_and_says_nothing() -> None:
    """`auto` on an engine with runsc creates sandboxes under gVisor, without a warning."""
    with capture_logs() as logs:
        assert choose_runtime("auto", WITH_GVISOR) == "runsc"
    assert logs == []


def test_auto_without_gvisor_falls_back_to_runc_with_a_warning() -> None:
    """Without runsc the engine's default is used, and the worker says why it matters."""
    with capture_logs() as logs:
        assert choose_runtime("auto", WITHOUT) is None
    assert [(e["log_level"], e["reason"]) for e in logs] == [("warning", FALLBACK_WARNING)]


def test_a_named_runtime_must_be_registered() -> None:
    """runc chosen by name is used quietly; an unknown name fails at start, naming the
    variable and what the engine has."""
    assert choose_runtime("runc", WITHOUT) == "runc"
    with pytest.raises(SettingsError) as refused:
        choose_runtime("kata", WITHOUT)
    assert str(refused.value) == (
        "FIXBOT_SANDBOX__RUNTIME=kata is not registered with the Docker engine "
        "(registered: io.containerd.runc.v2, runc); use one of those, or auto"
    )
