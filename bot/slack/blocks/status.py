"""A task's status in words: emoji, status, current step, latest progress, cost so far."""

from __future__ import annotations

from bot.slack.blocks.limits import truncate_mrkdwn
from bot.slack.blocks.text import escape, money
from orchestration.models import Step, TaskStatus
from orchestration.models.events import EventDelivery

PROGRESS_CHARS = 200

_WORDS: dict[TaskStatus, tuple[str, str]] = {
    TaskStatus.PENDING: (":hourglass:", "Queued"),
    TaskStatus.PROVISIONING: (":package:", "Starting a sandbox"),
    TaskStatus.PREPARING: (":card_file_box:", "Preparing the repositories"),
    TaskStatus.RUNNING: (":hourglass_flowing_sand:", "Running"),
    TaskStatus.AWAITING_APPROVAL: (":eyes:", "Waiting for approval"),
    TaskStatus.CREATING_PRS: (":arrows_counterclockwise:", "Opening pull requests"),
    TaskStatus.COMPLETED: (":white_check_mark:", "Completed"),
    TaskStatus.NO_CHANGE: (":white_circle:", "No change needed"),
    TaskStatus.FAILED: (":x:", "Failed"),
    TaskStatus.REJECTED: (":no_entry:", "Rejected"),
    TaskStatus.CANCELLED: (":stop_sign:", "Cancelled"),
    TaskStatus.EXPIRED: (":alarm_clock:", "Expired"),
}

_ACTIVE = {TaskStatus.PROVISIONING, TaskStatus.PREPARING, TaskStatus.RUNNING}

_STEP_WORDS: dict[Step, str] = {
    Step.VALIDATE: "validate",
    Step.PROVISION: "sandbox",
    Step.WORKSPACE: "workspace",
    Step.AGENT: "agent",
    Step.CHANGES: "changes",
    Step.APPROVAL: "approval",
    Step.PULL_REQUESTS: "pull requests",
    Step.CLEANUP: "cleanup",
}


def status_words(status: TaskStatus) -> str:
    """The status as emoji and words, e.g. ":hourglass_flowing_sand: Running"."""
    emoji, words = _WORDS[status]
    return f"{emoji} {words}"


def status_line(delivery: EventDelivery) -> str:
    """One mrkdwn line: status, current step and latest progress, cost so far."""
    event = delivery.event
    parts = [status_words(event.status)]
    doing = _doing(delivery)
    if doing:
        parts.append(doing)
    if event.cost_usd > 0:
        parts.append(money(event.cost_usd))
    return " — ".join(parts)


def _doing(delivery: EventDelivery) -> str:
    """The current step and latest progress while work is going on; nothing otherwise."""
    event = delivery.event
    if event.status not in _ACTIVE:
        return ""
    step = _STEP_WORDS[event.current_step] if event.current_step else ""
    progress = " ".join((delivery.activity or "").split())
    progress = truncate_mrkdwn(escape(progress), PROGRESS_CHARS)
    if step and progress:
        return f"{step}: {progress}"
    return step or progress
