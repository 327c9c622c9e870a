"""How exec requests become engine arguments (no engine needed)."""

from __future__ import annotations

import pytest

from sandbox.commands import checked_argv, checked_env
from sandbox.docker_backend.exec_session import env_items, with_timeout
from sandbox.interface import SandboxError


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0001, "0.001"), (0.5, "0.5"), (1, "1"), (1800.25, "1800.25"), (1e7, "10000000")],
)
def test_timeout_wrapping(seconds: float, expected: str) -> None:
    assert with_timeout(["make", "-j2"], seconds) == [
        "timeout",
        "--kill-after=5",
        expected,
        "make",
        "-j2",
    ]


def test_no_timeout_leaves_argv_alone() -> None:
    assert with_timeout(["true"], None) == ["true"]


@pytest.mark.parametrize("seconds", [0, -1])
def test_timeout_must_be_positive(seconds: float) -> None:
    with pytest.raises(SandboxError, match="positive"):
        with_timeout(["true"], seconds)


def test_argv_checks() -> None:
    assert checked_argv(("a", "b c")) == ["a", "b c"]
    for bad in ("echo hi", b"echo", [], ["a", 1], ["a\0"]):
        with pytest.raises(SandboxError):
            checked_argv(bad)  # type: ignore[arg-type]


def test_env_checks() -> None:
    assert env_items(checked_env({"A_1": "x=y; $(z)"})) == ["A_1=x=y; $(z)"]
    assert env_items(checked_env(None)) == []
    for bad in ({"1A": "x"}, {"A B": "x"}, {"": "x"}, {"A": "x\0"}):
        with pytest.raises(SandboxError):
            checked_env(bad)
