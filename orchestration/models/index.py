"""The task index: the search attributes every task carries, and what their values mean.

Both sides import this module: the workflow (through a pass-through import) writes the
attributes, and clients (`fixbot list`) query and read them. It is pure: no I/O, nothing
read at import time, so the workflow sandbox can load it.

The attributes, as registered on a cluster (`temporal operator search-attribute create`):

| name | type | value |
| --- | --- | --- |
| FixbotState | Keyword | the task's status, a TaskStatus value (`running`, `rejected`, ...) |
| FixbotOutcome | Keyword | what a person reads, an Outcome value (`pr_opened`, ...) |
| FixbotRequester | Keyword | who asked (`cli:alice`, a Slack user id) |
| FixbotRepositories | KeywordList | each repository's URL, normalised by `repository_key` |
| FixbotCreated | Datetime | when the task was created (UTC) |
| FixbotCost | Double | model cost so far in USD, to 4 decimals |
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

from orchestration.models import TaskInput, TaskStatus

STATE = SearchAttributeKey.for_keyword("FixbotState")
OUTCOME = SearchAttributeKey.for_keyword("FixbotOutcome")
REQUESTER = SearchAttributeKey.for_keyword("FixbotRequester")
REPOSITORIES = SearchAttributeKey.for_keyword_list("FixbotRepositories")
CREATED = SearchAttributeKey.for_datetime("FixbotCreated")
COST = SearchAttributeKey.for_float("FixbotCost")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    STATE,
    OUTCOME,
    REQUESTER,
    REPOSITORIES,
    CREATED,
    COST,
)
COST_DECIMALS = 4  # finer changes are not worth an upsert in history

_TYPE_NAMES: dict[int, str] = {  # as `temporal` spells them (--type, --search-attribute Name=Type)
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def type_name(indexed_value_type: int) -> str:
    """The Temporal CLI's name for an attribute type (a server's type number works too)."""
    return _TYPE_NAMES.get(indexed_value_type, "Unspecified")  # IntEnum keys match plain ints


class Outcome(StrEnum):
    """How a task stands for the person who asked: one per thing they would do next."""

    IN_PROGRESS = "in_progress"
    AWAITING_APPROVAL = "awaiting_approval"
    PR_OPENED = "pr_opened"
    NO_CHANGE = "no_change"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Outcome.IN_PROGRESS: "in progress",
    Outcome.AWAITING_APPROVAL: "awaiting approval",
    Outcome.PR_OPENED: "pull request opened",
    Outcome.NO_CHANGE: "no change needed",
    Outcome.REJECTED: "rejected",
    Outcome.FAILED: "failed",
    Outcome.CANCELLED: "cancelled",
    Outcome.EXPIRED: "expired",
}
_OUTCOME_OF = {
    TaskStatus.AWAITING_APPROVAL: Outcome.AWAITING_APPROVAL,
    TaskStatus.COMPLETED: Outcome.PR_OPENED,
    TaskStatus.NO_CHANGE: Outcome.NO_CHANGE,
    TaskStatus.REJECTED: Outcome.REJECTED,
    TaskStatus.FAILED: Outcome.FAILED,
    TaskStatus.CANCELLED: Outcome.CANCELLED,
    TaskStatus.EXPIRED: Outcome.EXPIRED,
}


def outcome_of(status: TaskStatus) -> Outcome:
    """The outcome a status means; every working status is simply in progress."""
    return _OUTCOME_OF.get(status, Outcome.IN_PROGRESS)


def status_label(status: TaskStatus) -> str:
    """What `fixbot list` shows: the outcome, plus the step while the task works."""
    outcome = outcome_of(status)
    if outcome is Outcome.IN_PROGRESS:
        return f"{outcome.label} ({status.value.replace('_', ' ')})"
    return outcome.label


def repository_key(url: str) -> str:
    """One spelling per repository, so `--repo https://GitHub.com/a/b.git/` finds `.../a/b`."""
    text = url.strip().partition("#")[0].rstrip("/")
    text = text.removesuffix(".git")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def index_values(task: TaskInput, status: TaskStatus, cost_usd: float) -> TypedSearchAttributes:
    """Every attribute's value for a task in this status at this cost."""
    pairs: Sequence[SearchAttributePair[Any]] = (
        SearchAttributePair(STATE, status.value),
        SearchAttributePair(OUTCOME, outcome_of(status).value),
        SearchAttributePair(REQUESTER, task.requester),
        SearchAttributePair(REPOSITORIES, _repositories(task)),
        SearchAttributePair(CREATED, utc(task.created_at)),
        SearchAttributePair(COST, round(cost_usd, COST_DECIMALS)),
    )
    return TypedSearchAttributes(pairs)


def _repositories(task: TaskInput) -> list[str]:
    """The task's repositories, each once, in the task's order."""
    return list(dict.fromkeys(repository_key(r.url) for r in task.repositories))


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC), as Temporal stores it."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def comparable(value: Any) -> Any:
    """A value in the form two readings of the same attribute compare equal in."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, list | tuple):
        return tuple(value)
    return value
