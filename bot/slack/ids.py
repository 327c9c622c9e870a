"""Identifiers shared by the Block Kit builders and the listeners that handle them."""

SLASH_COMMAND = "/fixbug"
SHORTCUT_FIX_THIS = "fixbot_fix_this_bug"  # message shortcut callback id

# buttons (their `value` is the task id)
APPROVE = "fixbot_approve"
REJECT = "fixbot_reject"
REQUEST_CHANGES = "fixbot_request_changes"
CANCEL = "fixbot_cancel"
OPEN_RUN = "fixbot_open_run"  # a link button; acked and ignored

# modals (callback ids) and their private_metadata carries JSON
NEW_TASK_MODAL = "fixbot_new_task"
FEEDBACK_MODAL = "fixbot_feedback"

# new-task modal: block ids (action ids are the same string + "_input")
TITLE = "title"
DESCRIPTION = "description"
REPOSITORIES = "repositories"  # multi-select from the configured list
EXTRA_REPOSITORIES = "extra_repositories"  # free entry, one URL[#branch] per line
REQUIRE_APPROVAL = "require_approval"
BUDGET = "budget"

# feedback modal
FEEDBACK = "feedback"


def input_id(block_id: str) -> str:
    """The action id of the input element inside a block."""
    return f"{block_id}_input"


def decision_value(task_id: str, digest: str | None) -> str:
    """An Approve button's value: the task id, and the digest of the diff the card shows."""
    return f"{task_id} {digest}" if digest else task_id


def parse_decision_value(value: str) -> tuple[str, str | None]:
    """(task id, digest or None) from a decision button's value."""
    task_id, _, digest = value.partition(" ")
    return task_id, digest or None
