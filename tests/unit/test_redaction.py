"""orchestration.runtime.logs: secrets and token-shaped strings never reach the log output."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from orchestration.runtime.logs import REDACTED, Redactor, configure_logging

SECRET = "s3cr3t-value-for-tests"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    "token",
    [
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "gho_abcdefghijklmnop",
        "ghs_abcdefghijklmnop",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
        "xoxp-1234567890-0987654321-AbCdEf",
        "xapp-1-A0123456789-1234567890123-abcdef0123456789",
        "sk-ant-api03-AbC_dEf-0123456789",
    ],
)
def test_token_shaped_strings_are_redacted(token: str) -> None:
    """GitHub, Slack and Anthropic token shapes are replaced wherever they appear in text."""
    text = Redactor().text(f"pushing with {token} to origin")
    assert text == f"pushing with {REDACTED} to origin"


def test_known_secret_values_are_redacted() -> None:
    """A configured secret value is replaced everywhere, even inside a URL."""
    redactor = Redactor([SECRET])
    text = redactor.text(f"https://x-access-token:{SECRET}@github.com/o/r and {SECRET}")
    assert text == f"https://x-access-token:{REDACTED}@github.com/o/r and {REDACTED}"


def test_longer_secret_is_redacted_before_its_prefix() -> None:
    """Overlapping secrets are replaced longest first, so no tail of the longer one leaks."""
    redactor = Redactor(["abcdef", "abcdefghijkl"])
    assert redactor.text("key=abcdefghijkl") == f"key={REDACTED}"


def test_short_secrets_are_not_used() -> None:
    """Secrets under 6 characters are ignored, so common words are not blanked out."""
    assert Redactor(["a", "abc", ""]).text("a cab abc") == "a cab abc"


def test_ordinary_text_is_untouched() -> None:
    """Text without secrets or token shapes comes back unchanged, including short prefixes."""
    text = "ghp_ short; sk-ant- alone; task 20261124-3fa9c2 done"
    assert Redactor([SECRET]).text(text) == text


def test_processor_redacts_nested_values() -> None:
    """Secrets inside lists, tuples, dicts and exception objects in an event are redacted."""
    event = {
        "event": f"token {SECRET}",
        "argv": ["git", "push", f"https://x:{SECRET}@github.com/o/r"],
        "pair": ("ok", "ghp_abcdefghijklmnop"),
        "headers": {"Authorization": f"Bearer {SECRET}", "n": 3},
        "error": RuntimeError(f"auth failed for {SECRET}"),
        "count": 7,
        "clean": RuntimeError("nothing to hide"),
    }
    out = Redactor([SECRET])(None, "info", event)
    assert SECRET not in repr(out)
    assert "ghp_abcdefghijklmnop" not in repr(out)
    assert out["argv"] == ["git", "push", f"https://x:{REDACTED}@github.com/o/r"]
    assert out["headers"] == {"Authorization": f"Bearer {REDACTED}", "n": 3}
    assert out["count"] == 7
    assert isinstance(out["clean"], RuntimeError)  # objects without secrets are left alone


def test_console_log_never_prints_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """After configure_logging(secrets=…), a console event holding the secret prints the marker."""
    configure_logging(level="info", fmt="console", secrets=[SECRET])
    structlog.get_logger().info(
        f"cloning with {SECRET}",
        url=f"https://x:{SECRET}@github.com/o/r",
        argv=["git", SECRET],
        slack="xoxb-1234567890-abcdefghij",
    )
    err = capsys.readouterr().err
    assert "cloning with" in err
    assert REDACTED in err
    assert SECRET not in err
    assert "xoxb-1234567890" not in err


def test_json_log_never_prints_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON renderer's line is valid JSON with the secret replaced."""
    configure_logging(level="info", fmt="json", secrets=[SECRET])
    structlog.get_logger().warning("push failed", error=f"remote said {SECRET}")
    err = capsys.readouterr().err
    assert SECRET not in err
    record = json.loads(err.strip().splitlines()[-1])
    assert record["error"] == f"remote said {REDACTED}"
    assert record["level"] == "warning"


def test_exception_text_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """A logged exception's traceback text goes through the redactor too."""
    configure_logging(fmt="json", secrets=[SECRET])
    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError:
        structlog.get_logger().exception("failed")
    err = capsys.readouterr().err
    assert "ValueError" in err
    assert SECRET not in err


def test_level_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    """Events below the configured level are not printed."""
    configure_logging(level="warning", fmt="json")
    log = structlog.get_logger()
    log.info("quiet")
    log.warning("loud")
    err = capsys.readouterr().err
    assert "loud" in err
    assert "quiet" not in err
