"""Listing tasks from the task index (the search attributes each task keeps up to date).

A listing is one visibility query: no worker is needed and finished tasks cost nothing. Each
row shows the task's own outcome (a rejected task reads "rejected", never Temporal's
"completed"). Tasks started before the index existed carry no attributes: they still list,
labelled with Temporal's status and "(unindexed)", but no filter can find them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from orchestration.client.gateway import WORKFLOW_ID_PREFIX
from orchestration.client.registration import ensure_registered, looks_unregistered
from orchestration.models import TaskStatus
from orchestration.models.index import (
    COST,
    CREATED,
    OUTCOME,
    REPOSITORIES,
    REQUESTER,
    STATE,
    Outcome,
    outcome_of,
    repository_key,
    status_label,
)

WORKFLOW_TYPE = "BugFixWorkflow"
# the server's query parser and its SQLite translation disagree on backslashes and double
# quotes (a value with either is misread or breaks the query), so those are refused outright
_UNSAFE = re.compile(r"[\\\"\x00-\x1f\x7f]")
_GROUPS = {
    "active": [s for s in TaskStatus if not s.is_terminal],
    "ended": [s for s in TaskStatus if s.is_terminal],
}
_OWNER_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class InvalidFilter(ValueError):
    """A filter value the index cannot be asked about; the message says which and why."""


@dataclass(frozen=True)
class TaskFilter:
    """What to list: each field narrows the listing; None means any."""

    state: str | None = None  # a status, an outcome, or "active" / "ended"
    requester: str | None = None
    repository: str | None = None  # a repository URL (any spelling repository_key accepts)
    limit: int = 20


class TaskRow(BaseModel):
    """One task as `fixbot list` shows it."""

    task_id: str
    label: str  # the outcome people read, e.g. "rejected", "(unindexed) completed"
    status: TaskStatus | None = None  # None: the task carries no index
    title: str = ""
    requester: str = ""
    repositories: list[str] = Field(default_factory=list)
    created: datetime | None = None
    cost_usd: float | None = None

    @property
    def outcome(self) -> Outcome | None:
        return outcome_of(self.status) if self.status is not None else None


def state_choices() -> list[str]:
    """Every value `--state` accepts, for help and error messages."""
    return [*(o.value for o in Outcome), *(s.value for s in TaskStatus), *_GROUPS]


def quote(value: str, what: str) -> str:
    """A query string literal for value; refuses what could not be quoted reliably."""
    if not value or _UNSAFE.search(value):
        raise InvalidFilter(
            f"{what}: {value!r} is empty or has a backslash, double quote or control character"
        )
    return "'" + value.replace("'", "''") + "'"


def build_query(task_filter: TaskFilter) -> str:
    """The visibility query for a filter; every value is checked and quoted."""
    clauses = [
        f"WorkflowType = {quote(WORKFLOW_TYPE, 'workflow type')}",
        # a task that continued as new is listed once, by its current (or last) run
        "ExecutionStatus != 'ContinuedAsNew'",
    ]
    if task_filter.state is not None:
        clauses.append(_state_clause(task_filter.state))
    if task_filter.requester is not None:
        clauses.append(f"{REQUESTER.name} = {quote(task_filter.requester, 'requester')}")
    if task_filter.repository is not None:
        key = repository_key(task_filter.repository)
        clauses.append(f"{REPOSITORIES.name} = {quote(key, 'repository')}")
    return " AND ".join(clauses)


def _state_clause(state: str) -> str:
    """A status matches FixbotState, an outcome FixbotOutcome, a group any of its statuses."""
    wanted = _normalised(state)
    if wanted in _GROUPS:
        values = ", ".join(quote(s.value, "state") for s in _GROUPS[wanted])
        return f"{STATE.name} IN ({values})"
    if wanted in {s.value for s in TaskStatus}:
        return f"{STATE.name} = {quote(wanted, 'state')}"
    outcome = _outcomes().get(wanted)
    if outcome is None:
        raise InvalidFilter(f"--state {state!r}: choose one of {', '.join(state_choices())}")
    return f"{OUTCOME.name} = {quote(outcome.value, 'state')}"


def _normalised(state: str) -> str:
    return re.sub(r"[\s-]+", "_", state.strip().lower())


def _outcomes() -> dict[str, Outcome]:
    """Outcomes by value and by label ("pull request opened" → pr_opened)."""
    return {
        **{o.value: o for o in Outcome},
        **{_normalised(o.label): o for o in Outcome},
    }


def repository_filter(value: str, web_host: str) -> str:
    """A `--repo` value as a URL: `owner/name` is taken to be on the forge's web host."""
    text = value.strip()
    if _OWNER_NAME.fullmatch(text):
        return f"https://{web_host}/{text}"
    return text


class TaskIndexReader:
    """Lists tasks by the index; checks once that the namespace has the attributes."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._checked = False

    async def list(self, task_filter: TaskFilter) -> list[TaskRow]:
        """Tasks matching the filter, newest first."""
        query = build_query(task_filter)
        if not self._checked:
            await ensure_registered(self._client)
            self._checked = True
        try:
            executions = [
                e async for e in self._client.list_workflows(query, limit=task_filter.limit)
            ]
        except RPCError as exc:
            if looks_unregistered(exc):
                await ensure_registered(self._client)
            raise
        return [await row_for(execution) for execution in executions]


async def row_for(execution: WorkflowExecution) -> TaskRow:
    """A row from the execution's index, or from Temporal's own record when it has none."""
    memo = await execution.memo()
    attributes = execution.typed_search_attributes
    status = _status(attributes.get(STATE))
    return TaskRow(
        task_id=execution.id.removeprefix(WORKFLOW_ID_PREFIX),
        label=_label(status, execution.status),
        status=status,
        title=str(memo.get("title", "")),
        requester=attributes.get(REQUESTER) or str(memo.get("requester", "")),
        repositories=list(attributes.get(REPOSITORIES) or []),
        created=attributes.get(CREATED) or execution.start_time,
        cost_usd=attributes.get(COST),
    )


def _status(value: Any) -> TaskStatus | None:
    try:
        return TaskStatus(value) if value is not None else None
    except ValueError:
        return None  # written by a newer fixbot: shown as unindexed rather than guessed


def _label(status: TaskStatus | None, run: WorkflowExecutionStatus | None) -> str:
    """The task's outcome; Temporal's status only when the index is absent or was left
    behind (a run terminated or timed out by Temporal never writes its last state)."""
    temporal = run.name.lower() if run is not None else "unknown"
    if status is None:
        return f"(unindexed) {temporal}"
    if run != WorkflowExecutionStatus.RUNNING and not status.is_terminal:
        return f"{temporal} (last indexed: {status_label(status)})"
    return status_label(status)
