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
from orchestration.models import RepositorySpec, TaskInput, TaskView

DESCRIPTION_CHARS = 1500
REPOSITORIES_SHOWN = 10


def task_root_message(task: TaskInput, view: TaskView, run_url: str | None) -> Message:
    """The message that starts the task's thread; rebuilt on every status change."""
    blocks: list[Block] = [
        header(f":beetle: {task.title}"),
        section(_asked_by(task)),
    ]
    if task.description.strip():
        blocks.append(section(_description(task.description, run_url)))
    blocks.append(section(repositories_text(task.repositories)))
    blocks.append(context(status_line(view)))
    buttons = _buttons(task, view, run_url)
    if buttons:
        blocks.append(actions(*buttons))
    fallback = f"Bug fix: {fallback_title(task.title)} — {status_words(view.status)}"
    return message(fallback, blocks)


def _asked_by(task: TaskInput) -> str:
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


def repositories_text(repositories: list[RepositorySpec]) -> str:
    """The repositories as a bullet list, with a count of those left out."""
    shown = [repository_line(r) for r in repositories[:REPOSITORIES_SHOWN]]
    hidden = len(repositories) - len(shown)
    if hidden > 0:
        shown.append(f"…and {hidden} more repositories")
    return bullet_list(shown) if shown else "_no repositories_"


def _buttons(task: TaskInput, view: TaskView, run_url: str | None) -> list[Block]:
    """A View run link button when there is a run URL; Cancel while the task can stop."""
    buttons: list[Block] = []
    if run_url and len(run_url) <= BUTTON_URL:
        buttons.append(button("View run", ids.OPEN_RUN, url=run_url))
    if not view.status.is_terminal:
        buttons.append(cancel_button(task.task_id))
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
