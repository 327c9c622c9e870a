"""fixbot's settings: one pydantic-settings model, read once per entry point and passed down.

Conventional names are kept where an ecosystem has one (SLACK_BOT_TOKEN, GITHUB_TOKEN,
ANTHROPIC_API_KEY, TEMPORAL_ADDRESS, ...); everything of fixbot's own starts with FIXBOT_.
Nothing here is read at import time: call `load_settings()`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import typing
from pathlib import Path

from dotenv import dotenv_values
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceParseError

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class SettingsError(ValueError):
    """Settings are missing or invalid; the message names the variable to set."""


class TemporalSettings(BaseModel):
    address: str | None = None  # None: the embedded dev server (fixbot dev / demo)
    namespace: str = "default"
    api_key: SecretStr | None = None
    tls: bool = False
    task_queue: str = "fixbot"
    ui_url: str | None = (
        None  # e.g. https://cloud.temporal.io/namespaces/<ns>; links in PRs and Slack
    )


class SandboxSettings(BaseModel):
    image: str = "fixbot-sandbox:local"
    base_image: str = "debian:bookworm-slim"
    extra_ca_file: Path | None = HOST_CA_BUNDLE
    claude_code_version: str = "2.1.330"
    network: str = "none"  # the model is reached through the worker's proxy, not the network
    # where the worker puts each task's model-proxy socket (a host path Docker can bind-mount;
    # keep it short: unix socket paths are limited to 108 bytes)
    services_root: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "fixbot-services"
    )
    memory_mb: int = 4096
    cpus: float = 2.0
    pids: int = 512
    tmp_size_mb: int = 512
    workspace_size_mb: int = 2048
    # checked from the mirror before anything is written: what a repository's checkout may take
    max_unpacked_mb: int = Field(default=1024, ge=1)
    max_files: int = Field(default=200_000, ge=1)
    max_path_depth: int = Field(default=64, ge=1)
    # "auto": gVisor (runsc) when the engine has it registered, else runc with a warning;
    # or a runtime the engine has registered, by name ("runsc", "runc", ...)
    runtime: str = "auto"
    # hosts a sandbox may reach through the worker's egress proxy (e.g. "pypi.org",
    # "*.npmjs.org"); used only for tasks that allow egress, or all when egress_for_all_tasks
    egress_allowlist: list[str] = Field(default_factory=list)
    egress_for_all_tasks: bool = False
    reap_interval_seconds: int = 300


class AgentSettings(BaseModel):
    model: str | None = None
    budget_usd: float = 5.0
    timeout_seconds: int = 30 * 60


class ApprovalSettings(BaseModel):
    approvers: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    timeout_seconds: int = 24 * 3600
    allow_skip: bool = False  # may a task open PRs without anybody approving (--no-approval)


class GitSettings(BaseModel):
    author_name: str = "fixbot"
    author_email: str = "fixbot@users.noreply.github.com"
    allowed_hosts: list[str] = Field(default_factory=lambda: ["github.com"])
    allowed_schemes: list[str] = Field(default_factory=lambda: ["https"])
    allow_local_repositories: bool = False
    draft_pull_requests: bool = False
    # changes under these paths are refused unless allowed (CI definitions run with secrets)
    protected_paths: list[str] = Field(default_factory=lambda: [".github/workflows/"])
    allow_protected_paths: bool = False


class SlackSettings(BaseModel):
    """Who may do what from Slack, and what the /fixbug modal offers."""

    start_channels: list[str] = Field(default_factory=list)  # empty: any channel
    start_users: list[str] = Field(default_factory=list)  # empty (with no groups): anyone
    start_usergroups: list[str] = Field(default_factory=list)
    approver_users: list[str] = Field(default_factory=list)  # empty (with no groups): anyone
    approver_usergroups: list[str] = Field(default_factory=list)
    repositories: list[str] = Field(default_factory=list)  # URL[#branch] offered in the modal
    channel_repositories: dict[str, list[str]] = Field(default_factory=dict)  # channel → default
    usergroup_cache_seconds: int = 300
    status_edit_interval_seconds: float = 3.0


class WorkerSettings(BaseModel):
    # sandboxes this worker's Docker engine runs at once; more tasks wait, in order, visibly
    max_sandboxes: int = Field(default=8, ge=1)
    # threads for short blocking calls (Docker, git); agent output has threads of its own
    blocking_threads: int = Field(default=64, ge=4)


class EnvironmentSettings(BaseModel):
    # operators' environment specs, for repositories they cannot add .fixbot/environment.toml
    # to: a TOML file of [repositories."<url>".setup] and [repositories."<url>".verify] tables
    specs_file: Path | None = None
    # rounds the agent gets to repair a fix that fails the repository's verify command
    max_repairs: int = Field(default=2, ge=0, le=10)
    # hosts a repository's own spec may name for its setup (empty: any public host); the
    # operator's specs are not limited
    setup_hosts: list[str] = Field(default_factory=list)
    # let setup reach registries on internal addresses (loopback, private networks)
    allow_internal_registries: bool = False
    # a failing setup lets the task go on unverified instead of stopping it
    continue_without_setup: bool = False
    max_snapshot_mb: int = Field(default=4096, ge=1)
    max_snapshots_mb: int = Field(default=20480, ge=1)  # all snapshots together
    snapshot_max_age_days: float = Field(default=7.0, gt=0)


class Settings(BaseSettings):
    """All settings; nested sections use FIXBOT_<SECTION>__<NAME> (e.g. FIXBOT_SANDBOX__IMAGE)."""

    model_config = SettingsConfigDict(
        env_prefix="FIXBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "fixbot")
    log_format: str = "console"  # "console" or "json"
    log_level: str = "info"

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com",
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL"),
    )
    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_TOKEN")
    )
    github_api_url: str = Field(
        default="https://api.github.com", validation_alias=AliasChoices("GITHUB_API_URL")
    )
    github_web_host: str = "github.com"
    github_request_retries: int = 5  # PyGithub's own retries (5xx, rate limits) before Temporal's
    github_throttle: bool = True  # PyGithub's pacing between requests, as GitHub asks of bots
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL")
    )
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        default="default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE")
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_API_KEY")
    )
    temporal_tls: bool = False
    temporal_task_queue: str = "fixbot"
    temporal_ui_url: str | None = None

    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    git: GitSettings = Field(default_factory=GitSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    environment: EnvironmentSettings = Field(default_factory=EnvironmentSettings)

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in ("console", "json"):
            raise ValueError("must be 'console' or 'json'")
        return value

    @property
    def temporal(self) -> TemporalSettings:
        """The Temporal connection settings as one section."""
        return TemporalSettings(
            address=self.temporal_address,
            namespace=self.temporal_namespace,
            api_key=self.temporal_api_key,
            tls=self.temporal_tls,
            task_queue=self.temporal_task_queue,
            ui_url=self.temporal_ui_url,
        )

    @property
    def sandbox_owner(self) -> str:
        """This deployment's name on its sandboxes: the Temporal server (or the embedded
        server's data directory) and namespace whose workflows they belong to."""
        server = self.temporal_address or f"embedded:{self.data_dir}"
        return f"{self.temporal_namespace}@{server}"

    def secret_values(self) -> list[str]:
        """Every secret this process holds, for redaction from logs, messages and PRs."""
        held = (
            self.anthropic_api_key,
            self.github_token,
            self.temporal_api_key,
            self.slack_bot_token,
            self.slack_app_token,
        )
        return [s.get_secret_value() for s in held if s is not None and s.get_secret_value()]

    @property
    def slack_enabled(self) -> bool:
        """Both Slack tokens are set (Socket Mode needs the app-level one)."""
        return self.slack_bot_token is not None and self.slack_app_token is not None

    @property
    def mirror_dir(self) -> Path:
        return self.data_dir / "mirrors"

    @property
    def patch_dir(self) -> Path:
        return self.data_dir / "patches"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; errors name the variable to set."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
    except SourceParseError as exc:  # a list or a section that is not JSON
        raise SettingsError(_explain_unparsable(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = ["invalid settings:"]
    for error in exc.errors():
        loc = error["loc"]
        items = "".join(f" (item {part})" for part in loc if isinstance(part, int))
        name = _env_name(tuple(part for part in loc if not isinstance(part, int)))
        lines.append(f"  {name}{items}: {error['msg']}")
    return "\n".join(lines)


_SOURCE_FIELD = re.compile(r'field "(?P<field>[^"]+)"')


def _explain_unparsable(exc: SourceParseError) -> str:
    """pydantic-settings' own parse error names only the section; find the variable."""
    match = _SOURCE_FIELD.search(str(exc))
    field = match["field"] if match else ""
    section = _env_name((field,)) if field else "FIXBOT_"
    names = _unparsable_variables(field, section)
    where = ", ".join(names) if names else f"{section} or {section}__<NAME>"
    return (
        f"invalid settings:\n  {where}: not valid JSON; lists and sections are written as "
        f"JSON, e.g. FIXBOT_GIT__ALLOWED_HOSTS='[\"github.com\"]' ({exc})"
    )


def _unparsable_variables(field: str, section: str) -> list[str]:
    """The set variables for this field whose complex (JSON) value does not parse."""
    values: dict[str, str | None] = {}
    if Path(".env").is_file():
        values.update(dotenv_values(".env"))
    values.update(os.environ)
    model = Settings.model_fields.get(field)
    found = []
    for key, value in values.items():
        upper = key.upper()
        if upper == section:
            annotation = model.annotation if model else None
        elif upper.startswith(section + "__"):
            sub_model = model.annotation if model else None
            sub = upper.removeprefix(section + "__").lower()
            fields = getattr(sub_model, "model_fields", {})
            annotation = fields[sub].annotation if sub in fields else None
        else:
            continue
        if _is_complex(annotation) and not _parses(value):
            found.append(upper)
    return sorted(found)


def _is_complex(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, dict, set, tuple):
        return True
    if origin is not None:  # X | None and the like: complex when any member is
        return any(_is_complex(arg) for arg in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _parses(value: str | None) -> bool:
    try:
        json.loads(value or "")
    except ValueError:
        return False
    return True


_CONVENTIONAL = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "SLACK_BOT_TOKEN": "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN": "SLACK_APP_TOKEN",
    "SLACK_API_URL": "SLACK_API_URL",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
    "github_token": "GITHUB_TOKEN",
    "github_api_url": "GITHUB_API_URL",
    "temporal_address": "TEMPORAL_ADDRESS",
    "temporal_namespace": "TEMPORAL_NAMESPACE",
    "temporal_api_key": "TEMPORAL_API_KEY",
    "ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL": "ANTHROPIC_BASE_URL",
    "GITHUB_TOKEN": "GITHUB_TOKEN",
    "GITHUB_API_URL": "GITHUB_API_URL",
    "TEMPORAL_ADDRESS": "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE": "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY": "TEMPORAL_API_KEY",
}


def _env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable a validation error location corresponds to."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in _CONVENTIONAL:
        return _CONVENTIONAL[parts[0]]
    return "FIXBOT_" + "__".join(part.upper() for part in parts)
