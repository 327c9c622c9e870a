"""Block Kit payloads for fixbot's Slack messages and modals: pure functions, plain dicts."""

from bot.slack.blocks.approval_card import approval_card, decided_card, decision_line
from bot.slack.blocks.milestones import milestone_message
from bot.slack.blocks.modals import feedback_modal, new_task_modal
from bot.slack.blocks.status import status_line
from bot.slack.blocks.task_message import task_root_message
from bot.slack.blocks.text import escape, mention

__all__ = [
    "approval_card",
    "decided_card",
    "decision_line",
    "escape",
    "feedback_modal",
    "mention",
    "milestone_message",
    "new_task_modal",
    "status_line",
    "task_root_message",
]
