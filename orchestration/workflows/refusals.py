"""Why the workflow refuses a decision, a request for changes, an answer or a cancel.

Pure functions of the task's state, used by the workflow's update validators: a refusal is
answered to the person at once and never written to history. Each returns None when the
request may go ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.models import Answer, CancelRequest, ChangeRequest, Decision, TaskStatus
from orchestration.policy.approval import decision_refusal
from orchestration.workflows.state import TaskState

DECISION_REFUSED = "DecisionRefused"  # the error type clients show as "not allowed"


@dataclass(frozen=True)
class Refusal:
    reason: str
    error_type: str | None = None  # DECISION_REFUSED when the person may not do this


def deciding(state: TaskState, decider: str) -> Refusal | None:
    """Whether this person may decide on the fix now (approvers, self-approval, status)."""
    reason = decision_refusal(
        policy=state.task.policy,
        requester=state.task.requester,
        decider=decider,
        status=state.status,
        existing=state.decision,
    )
    return Refusal(reason, DECISION_REFUSED) if reason else None


def decision(state: TaskState, asked: Decision) -> Refusal | None:
    """A decision by someone who may not, or on a change that was since revised."""
    refusal = deciding(state, asked.by)
    if refusal is not None:
        return refusal
    if state.cancel is not None:
        return Refusal(f"the task is being cancelled by {state.cancel.by}", DECISION_REFUSED)
    if state.change_request is not None:
        reason = f"changes were just requested by {state.change_request.by}"
        return Refusal(reason, DECISION_REFUSED)
    changes = state.changes
    if asked.diff_sha256 and changes and asked.diff_sha256 != changes.digest:
        reason = "the fix was revised since you reviewed it; decide on the latest card"
        return Refusal(reason, DECISION_REFUSED)
    return None


def change_request(state: TaskState, request: ChangeRequest) -> Refusal | None:
    """Changes asked by someone who may not decide, empty, asked twice, or during a cancel."""
    refusal = deciding(state, request.by)
    if refusal is None and not request.feedback.strip():
        refusal = Refusal("the requested changes are empty", DECISION_REFUSED)
    if refusal is None and state.change_request is not None:
        reason = f"changes were already requested by {state.change_request.by}"
        refusal = Refusal(reason, DECISION_REFUSED)
    if refusal is None and state.cancel is not None:
        refusal = Refusal(f"the task is being cancelled by {state.cancel.by}", DECISION_REFUSED)
    return refusal


def answer(state: TaskState, given: Answer) -> Refusal | None:
    """An answer to a task that has ended, or an empty one."""
    if state.status.is_terminal:
        return Refusal(f"the task has ended ({state.status.value})")
    if not given.text.strip():
        return Refusal("the answer is empty")
    return None


def cancel(state: TaskState, request: CancelRequest, *, ended: bool) -> Refusal | None:
    """A cancel of an ended task, of an approved one whose PRs are being opened, or by
    someone other than the requester or an approver."""
    if state.status.is_terminal or ended:
        return Refusal(f"the task has ended ({state.status.value})")
    if state.status is TaskStatus.CREATING_PRS or (
        state.decision is not None and state.decision.decision.approve
    ):
        return Refusal(
            "too late to cancel: the fix is approved and its pull requests are being opened"
        )
    approvers = state.task.policy.approvers
    if approvers and request.by not in approvers and request.by != state.task.requester:
        reason = f"{request.by} may not cancel this task (only its requester or an approver)"
        return Refusal(reason, DECISION_REFUSED)
    return None
