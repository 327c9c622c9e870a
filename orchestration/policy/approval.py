"""Who may decide on a fix: one pure rule shared by the workflow, the CLI and Slack."""

from __future__ import annotations

from orchestration.models import ApprovalPolicy, DecisionRecord, TaskStatus


def decision_refusal(
    *,
    policy: ApprovalPolicy,
    requester: str,
    decider: str,
    status: TaskStatus,
    existing: DecisionRecord | None,
) -> str | None:
    """Why this person may not decide now, or None when they may."""
    if existing is not None:
        verb = "approved" if existing.decision.approve else "rejected"
        return f"already {verb} by {existing.decision.by}"
    if status.is_terminal:
        return f"the task has ended ({status.value})"
    if status is not TaskStatus.AWAITING_APPROVAL:
        return f"the task is not waiting for approval (it is {status.value})"
    decider = decider.strip()  # "alice " is alice: stray spaces must not get past these rules
    if not decider:
        return "the decision must name who decides"
    if policy.approvers and decider not in {a.strip() for a in policy.approvers}:
        return f"{decider} is not an approver for this task"
    if decider == requester.strip() and not policy.allow_self_approval:
        return (
            f"{decider} started this task and may not approve their own fix "
            "(FIXBOT_APPROVAL__ALLOW_SELF_APPROVAL)"
        )
    return None
