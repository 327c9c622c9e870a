"""orchestration.runtime.settings: defaults, conventional names, nesting, .env, and clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestration.runtime.settings import SettingsError, load_settings

_OURS = ("FIXBOT_", "GITHUB_", "ANTHROPIC_", "TEMPORAL_", "SLACK_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No fixbot-related variables, and a working directory with no .env file."""
    for name in list(os.environ):
        if name.upper().startswith(_OURS):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_load_with_a_clean_environment() -> None:
    """With nothing set, every setting has its documented default."""
    settings = load_settings()
    assert settings.anthropic_api_key is None
    assert settings.github_token is None
    assert settings.anthropic_base_url == "https://api.anthropic.com"
    assert settings.temporal_address is None
    assert settings.temporal.address is None
    assert settings.temporal.task_queue == "fixbot"
    assert settings.log_format == "console"
    default = Path.home() / ".local" / "share" / "fixbot"
    assert settings.data_dir == default
    assert settings.mirror_dir == default / "mirrors"
    assert settings.sandbox.memory_mb == 4096
    assert settings.agent.budget_usd == 5.0
    assert settings.approval.approvers == []
    assert settings.approval.allow_self_approval is False
    assert settings.git.allowed_hosts == ["github.com"]
    assert settings.git.allowed_schemes == ["https"]
    assert settings.git.allow_local_repositories is False


def test_conventional_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """GITHUB_TOKEN, ANTHROPIC_API_KEY and TEMPORAL_ADDRESS are read without a prefix."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fromenv123456")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fromenv123")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://gateway:8080")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "bugs")
    settings = load_settings()
    assert settings.github_token is not None
    assert settings.github_token.get_secret_value() == "ghp_fromenv123456"
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-fromenv123"
    assert settings.anthropic_base_url == "http://gateway:8080"
    assert settings.temporal.address == "temporal.internal:7233"
    assert settings.temporal.namespace == "bugs"


def test_fixbot_prefix_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """fixbot's own settings come from FIXBOT_<NAME>."""
    monkeypatch.setenv("FIXBOT_LOG_FORMAT", "json")
    monkeypatch.setenv("FIXBOT_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.log_format == "json"
    assert settings.patch_dir == tmp_path / "data" / "patches"


def test_nested_settings_use_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIXBOT_SANDBOX__MEMORY_MB=1024 sets sandbox.memory_mb; other sandbox defaults stay."""
    monkeypatch.setenv("FIXBOT_SANDBOX__MEMORY_MB", "1024")
    monkeypatch.setenv("FIXBOT_APPROVAL__APPROVERS", '["bob", "carol"]')
    monkeypatch.setenv("FIXBOT_GIT__ALLOW_LOCAL_REPOSITORIES", "true")
    settings = load_settings()
    assert settings.sandbox.memory_mb == 1024
    assert settings.sandbox.pids == 512
    assert settings.approval.approvers == ["bob", "carol"]
    assert settings.git.allow_local_repositories is True


def test_dotenv_file_is_read(clean_environment: Path) -> None:
    """A .env file in the working directory is read, conventional and nested names alike."""
    (clean_environment / ".env").write_text(
        "GITHUB_TOKEN=ghp_fromdotenv1234\nFIXBOT_SANDBOX__MEMORY_MB=2048\nFIXBOT_LOG_LEVEL=debug\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.github_token is not None
    assert settings.github_token.get_secret_value() == "ghp_fromdotenv1234"
    assert settings.sandbox.memory_mb == 2048
    assert settings.log_level == "debug"


def test_environment_wins_over_dotenv(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable set in the environment overrides the same one in .env."""
    (clean_environment / ".env").write_text("FIXBOT_SANDBOX__MEMORY_MB=2048\n", encoding="utf-8")
    monkeypatch.setenv("FIXBOT_SANDBOX__MEMORY_MB", "1024")
    assert load_settings().sandbox.memory_mb == 1024


def test_invalid_nested_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIXBOT_SANDBOX__MEMORY_MB=lots raises SettingsError naming exactly that variable."""
    monkeypatch.setenv("FIXBOT_SANDBOX__MEMORY_MB", "lots")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "  FIXBOT_SANDBOX__MEMORY_MB: " in str(caught.value)
    assert "integer" in str(caught.value)


def test_invalid_log_format_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIXBOT_LOG_FORMAT=xml raises SettingsError naming FIXBOT_LOG_FORMAT and the choices."""
    monkeypatch.setenv("FIXBOT_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "  FIXBOT_LOG_FORMAT: " in str(caught.value)
    assert "'console' or 'json'" in str(caught.value)


def test_every_invalid_variable_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bad variables give one error listing both."""
    monkeypatch.setenv("FIXBOT_SANDBOX__MEMORY_MB", "lots")
    monkeypatch.setenv("FIXBOT_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid settings:"
    assert {line.split(":")[0].strip() for line in lines[1:]} == {
        "FIXBOT_SANDBOX__MEMORY_MB",
        "FIXBOT_LOG_FORMAT",
    }


def test_invalid_conventional_value_names_the_conventional_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad value under a conventional name is reported under that name, not FIXBOT_…."""
    monkeypatch.setenv("FIXBOT_TEMPORAL_TLS", "maybe")
    with pytest.raises(SettingsError) as caught:
        load_settings(temporal_namespace=["not", "a", "string"])
    message = str(caught.value)
    assert "  TEMPORAL_NAMESPACE: " in message
    assert "  FIXBOT_TEMPORAL_TLS: " in message


def test_bad_list_item_names_the_list_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid list item names the list's variable and the item, not a made-up '__0' name."""
    monkeypatch.setenv("FIXBOT_APPROVAL__APPROVERS", '["bob", {"x": 1}]')
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "  FIXBOT_APPROVAL__APPROVERS (item 1): " in str(caught.value)
    assert "__1" not in str(caught.value)


def test_list_that_is_not_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIXBOT_GIT__ALLOWED_HOSTS=github.com (not JSON) is our SettingsError naming it."""
    monkeypatch.setenv("FIXBOT_GIT__ALLOWED_HOSTS", "github.com")
    monkeypatch.setenv("FIXBOT_GIT__AUTHOR_NAME", "bot")  # a plain string: not a suspect
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "  FIXBOT_GIT__ALLOWED_HOSTS: not valid JSON" in message
    assert "AUTHOR_NAME" not in message


def test_section_that_is_not_json_in_dotenv_names_the_variable(clean_environment: Path) -> None:
    """The same parse error coming from .env also names the variable."""
    (clean_environment / ".env").write_text("FIXBOT_APPROVAL__APPROVERS=bob\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="FIXBOT_APPROVAL__APPROVERS: not valid JSON"):
        load_settings()


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """SecretStr settings are masked in repr and str of the settings and their sections."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_verysecret123456")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-verysecret123")
    monkeypatch.setenv("TEMPORAL_API_KEY", "temporal-verysecret")
    settings = load_settings()
    shown = repr(settings) + str(settings) + repr(settings.temporal) + settings.model_dump_json()
    for secret in ("ghp_verysecret123456", "sk-ant-verysecret123", "temporal-verysecret"):
        assert secret not in shown
    assert "**********" in repr(settings)


def test_settings_error_is_a_value_error() -> None:
    """SettingsError is a ValueError, so generic input-error handling also catches it."""
    assert issubclass(SettingsError, ValueError)
