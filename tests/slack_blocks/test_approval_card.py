"""The approval card and its decided form."""

from __future__ import annotations

from typing import Any

from bot.slack import ids
from bot.slack.blocks import approval_card, decided_card
from orchestration.models import NoticeKind, TaskResult, TaskStatus
from orchestration.models.environment import RunnerCounts, Verification, VerifyRun, VerifyStatus
from tests.slack_blocks import factories as f
from tests.slack_blocks.slack_rules import (
    all_texts,
    buttons,
    message_problems,
    mrkdwn_texts,
)


def card(summary: str = "Fixed the sign in add().", round: int = 1) -> dict[str, Any]:
    return approval_card(f.delivery(NoticeKind.CHANGES_READY, f.awaiting(summary)), round)


def test_card_shows_summary_changes_and_costs() -> None:
    """Summary, repository with diffstat, each file's counts, cost and time so far."""
    message = card()
    assert message_problems(message) == []
    texts = "\n".join(mrkdwn_texts(message))
    assert "Fixed the sign in add()." in texts
    assert "2 file(s) changed, +1 -2" in texts
    assert "`src/module_1.py` +1 -1" in texts
    assert "$0.28" in texts
    assert "4m 12s" in texts
    assert "Revision" not in "\n".join(all_texts(message))


def test_card_buttons_use_the_ids_and_carry_the_task_id() -> None:
    """Approve (primary), Request changes, Reject (danger) all carry the task id; Approve also
    pins the exact diff the card shows (its digest), so an outdated card cannot approve."""
    approve, changes, reject = buttons(card())
    assert (approve["action_id"], approve["style"]) == (ids.APPROVE, "primary")
    assert changes["action_id"] == ids.REQUEST_CHANGES
    assert (reject["action_id"], reject["style"]) == (ids.REJECT, "danger")
    assert {b["value"] for b in (changes, reject)} == {f.TASK_ID}
    task_id, digest = ids.parse_decision_value(approve["value"])
    assert task_id == f.TASK_ID and digest is not None and len(digest) == 64


def test_reject_asks_for_confirmation() -> None:
    """Reject opens a "Reject this fix?" confirmation dialog; Approve does not."""
    approve, _, reject = buttons(card())
    assert reject["confirm"]["title"]["text"] == "Reject this fix?"
    assert "confirm" not in approve


def test_second_round_says_revision_2() -> None:
    """A card after requested changes says "Revision 2"."""
    assert "Revision 2" in "\n".join(all_texts(card(round=2)))


def test_summary_cannot_inject_mentions_or_links() -> None:
    """The agent's summary is escaped."""
    message = card("<!channel> <https://evil|click> <@U999>")
    for text in mrkdwn_texts(message):
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U999>" not in text


def test_long_summary_is_cut_with_a_link_to_the_run() -> None:
    """A 100 KB summary is cut to fit and ends with the run link."""
    message = card("x" * 100_000)
    assert message_problems(message) == []
    summary = message["blocks"][2]["text"]["text"]
    assert summary.endswith(f"(full text: <{f.RUN_URL}|in the run>)")


def test_tokens_are_shown_when_known() -> None:
    """With a result in the view, the card shows the tokens used."""
    view = f.awaiting().model_copy(update={"result": f.result()})
    message = approval_card(f.delivery(NoticeKind.CHANGES_READY, view), 1)
    assert "15.4k tokens" in "\n".join(mrkdwn_texts(message))


def test_decided_card_has_no_buttons_and_says_who_approved() -> None:
    """The decided card keeps the content, drops the actions, names the approver and time."""
    delivery = f.delivery(NoticeKind.DECIDED, f.awaiting())
    message = decided_card(delivery, f.record(approve=True))
    assert message_problems(message) == []
    assert all(b["type"] != "actions" for b in message["blocks"])
    last = message["blocks"][-1]["text"]["text"]
    assert last.startswith(":white_check_mark: Approved by <@U0APPROVER> at <!date^")
    assert "2 file(s) changed" in "\n".join(mrkdwn_texts(message))


def test_decided_card_for_a_rejection_gives_the_reason_escaped() -> None:
    """A rejection shows who and why; the reason cannot inject a mention."""
    delivery = f.delivery(NoticeKind.DECIDED, f.awaiting())
    message = decided_card(delivery, f.record(approve=False, comment="wrong fix <!here>"))
    last = message["blocks"][-1]["text"]["text"]
    assert last.startswith(":no_entry: Rejected by <@U0APPROVER>")
    assert last.endswith("— wrong fix &lt;!here&gt;")


def test_decided_card_for_requested_changes() -> None:
    """Requested changes name the reviewer and quote the feedback."""
    delivery = f.delivery(NoticeKind.DECIDED, f.awaiting())
    record = f.record(approve=False, comment="also fix sub() & <b>")
    message = decided_card(delivery, record, changes_requested=True)
    last = message["blocks"][-1]["text"]["text"]
    assert last.startswith(":memo: Changes requested by <@U0APPROVER>")
    assert last.endswith("\n>also fix sub() &amp; &lt;b&gt;")


def test_card_without_changes_says_so() -> None:
    """An empty change set reads "No files changed" instead of an empty list."""
    view = f.view(TaskStatus.AWAITING_APPROVAL, changes=None, summary="")
    message = approval_card(f.delivery(NoticeKind.CHANGES_READY, view), 1)
    texts = "\n".join(mrkdwn_texts(message))
    assert "No files changed" in texts and "no summary" in texts


def test_result_cost_wins_over_the_running_cost() -> None:
    """Once a result exists, its cost is the one shown."""
    result = TaskResult(task_id=f.TASK_ID, status=TaskStatus.COMPLETED, cost_usd=1.5)
    view = f.awaiting().model_copy(update={"result": result})
    message = approval_card(f.delivery(NoticeKind.CHANGES_READY, view), 1)
    assert "$1.50" in "\n".join(mrkdwn_texts(message))


def test_card_warns_when_the_change_touches_protected_paths() -> None:
    """An allowed change under a protected path is flagged on the card, naming the file."""
    base = card()
    changes = f.changes()
    changes.repositories[0].protected_files = [".github/workflows/ci.yml"]
    changes.protected_paths_allowed = True
    delivery = f.delivery(NoticeKind.CHANGES_READY, f.awaiting("Fixed it.", changes))
    flagged = str(approval_card(delivery)["blocks"])
    assert "protected paths" in flagged and ".github/workflows/ci.yml" in flagged
    assert "protected paths" not in str(base["blocks"])


def card_with_patch(patch: str) -> dict[str, Any]:
    change_set = f.changes()
    change_set.repositories[0].patch = patch
    return approval_card(f.delivery(NoticeKind.CHANGES_READY, f.awaiting(change_set=change_set)), 1)


def test_card_shows_the_patch_as_inert_code() -> None:
    """The approver sees the code: the patch in a code block, with mentions, links and
    fences from it defused, and no pointer to more when it is all there."""
    patch = (
        "--- a/src/module_0.py\n+++ b/src/module_0.py\n@@ -1 +1 @@\n"
        "-    return a - b\n+    return a + b  # <!channel> <https://evil.example|docs> ```\n"
    )
    message = card_with_patch(patch)
    assert message_problems(message) == []
    texts = "\n".join(mrkdwn_texts(message))
    assert "+    return a + b  # &lt;!channel&gt; &lt;https://evil.example|docs&gt;" in texts
    assert "<!channel>" not in texts and "evil.example|docs>" not in texts
    block = next(t for t in mrkdwn_texts(message) if t.startswith("```"))
    assert block.count("```") == 2  # the patch's own fence cannot close the block
    assert "--patch" not in texts


def test_a_long_patch_shows_its_first_lines_and_how_to_see_all() -> None:
    """A patch longer than the excerpt shows its first lines within Slack's limits, and the
    command that prints all of it."""
    patch = "".join(f"+line {n} of a long change\n" for n in range(500))
    message = card_with_patch(patch)
    assert message_problems(message) == []
    texts = "\n".join(mrkdwn_texts(message))
    assert "+line 0 of a long change" in texts and "+line 499" not in texts
    assert f"`fixbot status {f.TASK_ID} --patch`" in "\n".join(all_texts(message))


def verified(after_failed: int, baseline_failed: int = 0) -> Verification:
    def run(failed: int) -> VerifyRun:
        status = VerifyStatus.FAILED if failed else VerifyStatus.PASSED
        return VerifyRun(
            repository="calc",
            status=status,
            command="pytest -q",
            exit_code=1 if failed else 0,
            counts=RunnerCounts(passed=10, failed=failed, runner="pytest"),
            output_tail="FAILED test_calc.py::test_add - assert 3 == 4\n<!channel> *boom*",
        )

    return Verification(repository="calc", baseline=run(baseline_failed), after=run(after_failed))


def card_with(*verifications: Verification) -> dict[str, Any]:
    view = f.awaiting("Fixed it.").model_copy(update={"verifications": list(verifications)})
    return approval_card(f.delivery(NoticeKind.CHANGES_READY, view), 1)


def test_the_card_says_what_fixbots_own_checks_found() -> None:
    """A passing fix shows its counts beside the baseline's; no verify command says so and
    points to the format."""
    texts = "\n".join(mrkdwn_texts(card_with(verified(0, baseline_failed=2))))
    assert ":white_check_mark: tests: 10 passed (before: 10 passed, 2 failed)" in texts
    unverified = "\n".join(mrkdwn_texts(card_with()))
    assert ":grey_question: not verified: the repository has no verify command" in unverified
    assert ".fixbot/environment.toml" in unverified


def test_a_fix_failing_the_checks_is_flagged_with_the_output_shown_inert() -> None:
    """The approver is told a failing fix fails, and sees the end of the output in a code
    block where mentions and markup do nothing."""
    message = card_with(verified(3))
    assert message_problems(message) == []
    texts = "\n".join(mrkdwn_texts(message))
    assert ":x: tests failed after the fix: 10 passed, 3 failed (before: 10 passed)" in texts
    assert "Approving pushes a fix that fails the repository's checks." in texts
    assert "FAILED test_calc.py::test_add" in texts
    assert "<!channel>" not in texts
