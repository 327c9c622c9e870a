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
