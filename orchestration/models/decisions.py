"""What people decide and ask: approvals, rejections, requested changes, answers, cancels,
and the audit trail that records them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Decision(BaseModel):
    """A person's decision on the approval card (or `fixbot approve/reject`)."""

    approve: bool
    by: str
    comment: str = ""
    diff_sha256: str | None = None  # the ChangeSet.digest the person reviewed, when known


class DecisionRecord(BaseModel):
    decision: Decision
    at: datetime
    approved_digest: str | None = None  # ChangeSet.digest of the change that was decided on


class RefusedAction(BaseModel):
    """A decision or cancel that was refused, kept for the audit trail."""

    by: str
    action: str
    reason: str
    at: datetime


class CancelRequest(BaseModel):
    by: str
    reason: str = ""


class SignalDecision(BaseModel):
    """The `approve`/`reject` signals' argument (`temporal workflow signal --name approve`)."""

    by: str = ""
    comment: str = ""


class Answer(BaseModel):
    """A person's answer to the agent's clarification question."""

    by: str
    text: str


class ChangeRequest(BaseModel):
    """A reviewer asks for changes instead of approving: the agent revises in its session."""

    by: str
    feedback: str


class AuditTrail(BaseModel):
    """Who did what to a task, for the record: in the result and in one log line."""

    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    approved: bool | None = None
    approved_digest: str | None = None
    refused: list[RefusedAction] = Field(default_factory=list)
    pushed_branches: list[str] = Field(default_factory=list)
