"""Where a task was started (the CLI, Slack, the web) and where its messages live, in
neutral terms.

Its own module because TaskInput and the workflow state (orchestration.models, ...) and the
task events all need it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AliasChoices, BaseModel, Field


class OriginKind(StrEnum):
    """How a task was started."""

    CLI = "cli"
    SLACK = "slack"
    WEB = "web"


class TaskOrigin(BaseModel):
    """Where a task was started, in neutral terms, so its events can go back there.

    Slack: `channel` is the channel id, `thread` the thread it was started in (if any),
    `workspace` the team id. Web: `link` is the task's page. CLI: nothing but the kind.
    """

    kind: OriginKind = OriginKind.CLI
    channel: str | None = None
    thread: str | None = None
    workspace: str | None = None
    link: str | None = None


class Thread(BaseModel):
    """Where a task's messages live in its origin's channel: the conversation, the root
    message, the current card (ids as that channel names them).

    Accepts the names of the Slack-only model it replaces (`channel_id`, `root_ts`, `card_ts`).
    """

    channel: str = Field(validation_alias=AliasChoices("channel", "channel_id"))
    root: str = Field(validation_alias=AliasChoices("root", "root_ts"))
    card: str | None = Field(default=None, validation_alias=AliasChoices("card", "card_ts"))
