"""The task's root message: title, who asked, repositories, status, and its buttons."""

from __future__ import annotations

from bot.slack import ids
from bot.slack.blocks.elements import (
    Block,
    Message,
    actions,
    button,
    confirm,
    context,
    fallback_title,
    header,
    message,
    section,
)
from bot.slack.blocks.limits import BUTTON_URL, truncate_mrkdwn
from bot.slack.blocks.status import status_line, status_words
from bot.slack.blocks.text import bullet_list, code, escape, is_web_url, link, mention
from orchestration.models import RepositorySpec
from orchestration.models.events import EventDelivery, TaskHeadline

DESCRIPTION_CHARS = 1500
REPOSITORIES_SHOWN = 10


def task_root_message(delivery: EventDelivery) -> Message:
    """The message that starts the task's thread; rebuilt on every status change."""
    task, run_url = delivery.headline, delivery.run_url
    blocks: list[Block] = [
        header(f":beetle: {task.title}"),
        section(_asked_by(task)),
    ]
    if task.description.strip():
        blocks.append(section(_description(task.description, run_url)))
    blocks.append(section(repositories_text(task.repositories, task.repository_count)))
    blocks.append(context(status_line(delivery)))
    buttons = _buttons(delivery)
    if buttons:
        blocks.append(actions(*buttons))
    fallback = f"Bug fix: {fallback_title(task.title)} — {status_words(delivery.event.status)}"
    return message(fallback, blocks)


def _asked_by(task: TaskHeadline) -> str:
    """Who asked, the task id and the ticket when there is one."""
    line = f"Requested by {mention(task.requester)} · task {code(task.task_id)}"
    if task.ticket_url and is_web_url(task.ticket_url):
        line += f" · {link(task.ticket_url, 'ticket')}"
    return line


def _description(description: str, run_url: str | None) -> str:
    """The description, escaped and kept short (the run holds all of it)."""
    return truncate_mrkdwn(escape(description.strip()), DESCRIPTION_CHARS, run_url)


def repository_line(repo: RepositorySpec) -> str:
    """`name` on `branch`, linked to the repository when it is a web URL."""
    name = link(repo.url, repo.name) if is_web_url(repo.url) else code(repo.url)
    return f"*{name}* on {code(repo.branch)}"


def repositories_text(repositories: list[RepositorySpec], count: int | None = None) -> str:
    """The repositories as a bullet list, with a count of those left out (`count` is how many
    there are, when only the first few are given)."""
    shown = [repository_line(r) for r in repositories[:REPOSITORIES_SHOWN]]
    hidden = max(count if count is not None else 0, len(repositories)) - len(shown)
    if hidden > 0:
        shown.append(f"…and {hidden} more repositories")
    return bullet_list(shown) if shown else "_no repositories_"


def _buttons(delivery: EventDelivery) -> list[Block]:
    """A View run link button when there is a run URL; Cancel while the task can stop."""
    buttons: list[Block] = []
    run_url = delivery.run_url
    if run_url and len(run_url) <= BUTTON_URL:
        buttons.append(button("View run", ids.OPEN_RUN, url=run_url))
    if not delivery.event.status.is_terminal:
        buttons.append(cancel_button(delivery.headline.task_id))
    return buttons


def cancel_button(task_id: str) -> Block:
    """The red Cancel button, behind a confirmation."""
    return button(
        "Cancel",
        ids.CANCEL,
        value=task_id,
        style="danger",
        confirmation=confirm(
            "Cancel this task?",
            "The agent stops, the sandbox is removed and no pull request is opened.",
            "Cancel task",
            "Keep running",
        ),
    )
