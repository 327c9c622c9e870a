"""orchestration.policy.approval.decision_refusal: who may decide on a fix, and when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestration.models import ApprovalPolicy, Decision, DecisionRecord, TaskStatus
from orchestration.policy.approval import decision_refusal

AT = datetime(2026, 11, 24, tzinfo=UTC)
OPEN = ApprovalPolicy()  # no approver list: anyone but the requester
TEAM = ApprovalPolicy(approvers=["bob", "carol"])


def refusal(
    *,
    policy: ApprovalPolicy = OPEN,
    requester: str = "alice",
    decider: str = "bob",
    status: TaskStatus = TaskStatus.AWAITING_APPROVAL,
    existing: DecisionRecord | None = None,
) -> str | None:
    return decision_refusal(
        policy=policy, requester=requester, decider=decider, status=status, existing=existing
    )


def record(approve: bool, by: str = "carol") -> DecisionRecord:
    return DecisionRecord(decision=Decision(approve=approve, by=by), at=AT)


def test_another_person_may_decide_when_awaiting_approval() -> None:
    """Someone other than the requester may decide while the task awaits approval."""
    assert refusal() is None


@pytest.mark.parametrize(
    "status",
    [
        TaskStatus.PENDING,
        TaskStatus.PROVISIONING,
        TaskStatus.PREPARING,
        TaskStatus.RUNNING,
        TaskStatus.CREATING_PRS,
    ],
)
def test_not_awaiting_approval_is_refused(status: TaskStatus) -> None:
    """Before (or after) the approval step, a decision is refused, naming the status."""
    assert refusal(status=status) == (
        f"the task is not waiting for approval (it is {status.value})"
    )


@pytest.mark.parametrize("status", [s for s in TaskStatus if s.is_terminal])
def test_terminal_status_is_refused(status: TaskStatus) -> None:
    """Once the task has ended, a decision is refused, naming how it ended."""
    assert refusal(status=status) == f"the task has ended ({status.value})"


def test_already_approved_is_refused() -> None:
    """A second decision after an approval is refused with 'already approved by'."""
    assert refusal(existing=record(approve=True)) == "already approved by carol"


def test_already_rejected_is_refused() -> None:
    """A second decision after a rejection is refused with 'already rejected by'."""
    assert refusal(existing=record(approve=False, by="dave")) == "already rejected by dave"


def test_existing_decision_wins_over_terminal_status() -> None:
    """On an ended task that was decided, the refusal says who decided."""
    existing = record(approve=False)
    assert refusal(status=TaskStatus.REJECTED, existing=existing) == "already rejected by carol"


def test_non_approver_is_refused() -> None:
    """With an approver list, someone not on it is refused, by name."""
    assert refusal(policy=TEAM, decider="mallory") == "mallory is not an approver for this task"


def test_listed_approver_may_decide() -> None:
    """Someone on the approver list may decide."""
    assert refusal(policy=TEAM, decider="carol") is None


def test_self_approval_is_refused_by_default() -> None:
    """The requester may not decide on their own fix, and is told which setting allows it."""
    message = refusal(decider="alice")
    assert message is not None
    assert message.startswith("alice started this task and may not approve their own fix")
    assert "FIXBOT_APPROVAL__ALLOW_SELF_APPROVAL" in message


def test_self_approval_allowed_by_policy() -> None:
    """With allow_self_approval, the requester may decide."""
    assert refusal(policy=ApprovalPolicy(allow_self_approval=True), decider="alice") is None


def test_self_approval_refused_even_for_a_listed_approver() -> None:
    """Being on the approver list does not let the requester approve their own fix."""
    policy = ApprovalPolicy(approvers=["alice", "bob"])
    assert refusal(policy=policy, decider="alice") is not None
    assert refusal(policy=policy, decider="bob") is None


def test_self_approval_allowed_for_a_listed_approver_when_policy_says_so() -> None:
    """A listed approver who is also the requester may decide when self-approval is allowed."""
    policy = ApprovalPolicy(approvers=["alice"], allow_self_approval=True)
    assert refusal(policy=policy, decider="alice") is None


def test_empty_approver_list_lets_anyone_but_the_requester() -> None:
    """No approver list: any named person may decide, but still not the requester."""
    assert refusal(policy=OPEN, decider="anyone-at-all") is None
    assert refusal(policy=OPEN, decider="alice") is not None


@pytest.mark.parametrize("decider", ["", "   ", "\t\n"])
def test_empty_decider_is_refused(decider: str) -> None:
    """A decision that does not say who decides is refused."""
    assert refusal(decider=decider) == "the decision must name who decides"


@pytest.mark.parametrize("decider", ["alice ", " alice", "\talice\n"])
def test_stray_spaces_do_not_bypass_self_approval(decider: str) -> None:
    """'alice ' is still alice: whitespace around the name cannot get past the self rule."""
    message = refusal(decider=decider)
    assert message is not None
    assert message.startswith("alice started this task")


def test_stray_spaces_around_a_listed_approver_are_ignored() -> None:
    """A listed approver is recognised even with spaces around the name."""
    assert refusal(policy=TEAM, decider=" carol ") is None
