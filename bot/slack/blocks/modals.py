"""The modals: a new task (from /fixbug or the message shortcut) and requested changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.slack import ids
from bot.slack.blocks import limits
from bot.slack.blocks.elements import Block, context, option, plain
from bot.slack.blocks.inputs import (
    checkbox,
    input_block,
    multi_select,
    number_input,
    text_input,
)
from bot.slack.blocks.text import is_web_url, link
from orchestration.policy.validation import MAX_BUDGET_USD, MAX_DESCRIPTION, MAX_TITLE

View = dict[str, Any]

DESCRIPTION_CHARS = min(MAX_DESCRIPTION, limits.INPUT_MAX_LENGTH)
REQUIRE_APPROVAL_VALUE = "require_approval"


def new_task_modal(
    *,
    title: str = "",
    description: str = "",
    repository_options: list[str],
    preselected: list[str],
    source_link: str | None,
    private_metadata: str,
) -> View:
    """The "Fix a bug" modal; preselected repositories not in the list go to the free-text box."""
    options = repository_choices(repository_options)
    values = {o["value"] for o in options}
    blocks: list[Block] = []
    if source_link and is_web_url(source_link):
        blocks.append(context(f":link: From {link(source_link, 'this message')}"))
    blocks += [_title(title), _description(description)]
    if options:
        blocks.append(_repositories(options, [o for o in options if o["value"] in preselected]))
    blocks += [
        _extra_repositories([r for r in preselected if r not in values]),
        _require_approval(),
        _budget(),
    ]
    return _modal(ids.NEW_TASK_MODAL, "Fix a bug", "Start", blocks, private_metadata)


def feedback_modal(task_id: str) -> View:
    """The "Request changes" modal; its private_metadata is the task id."""
    feedback = input_block(
        ids.FEEDBACK,
        "What should the agent change?",
        text_input(max_length=limits.INPUT_MAX_LENGTH, multiline=True),
        hint="The agent continues from its fix with this feedback and asks again for approval.",
    )
    return _modal(ids.FEEDBACK_MODAL, "Request changes", "Send", [feedback], task_id)


def repository_choices(repositories: list[str]) -> list[Block]:
    """Options for the configured repositories: distinct, at most 100, values within 150 chars."""
    seen: list[str] = []
    for repo in repositories:
        if repo and repo not in seen and len(repo) <= limits.OPTION_VALUE:
            seen.append(repo)
    return [option(repository_label(r), r) for r in seen[: limits.OPTIONS]]


def repository_label(argument: str) -> str:
    """A short label for `URL[#branch]`, such as `owner/repo (branch)`."""
    url, _, branch = argument.partition("#")
    path = urlsplit(url).path if "://" in url else url.rpartition(":")[2]
    parts = [p for p in path.removesuffix(".git").split("/") if p]
    name = "/".join(parts[-2:]) or url
    return f"{name} ({branch})" if branch else name


def _modal(callback_id: str, title: str, submit: str, blocks: list[Block], meta: str) -> View:
    """A modal view; private_metadata is never cut (it would no longer parse)."""
    if len(meta) > limits.PRIVATE_METADATA:
        raise ValueError(f"private_metadata is {len(meta)} characters, Slack allows 3000")
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, limits.MODAL_TITLE),
        "submit": plain(submit, limits.MODAL_BUTTON),
        "close": plain("Cancel", limits.MODAL_BUTTON),
        "private_metadata": meta,
        "blocks": blocks[: limits.MODAL_BLOCKS],
    }


def _title(title: str) -> Block:
    element = text_input(
        max_length=MAX_TITLE,
        initial=" ".join(title.split()),
        placeholder="Checkout total ignores the discount code",
    )
    return input_block(ids.TITLE, "Title", element)


def _description(description: str) -> Block:
    cut = len(description) > DESCRIPTION_CHARS
    hint = f"Up to {DESCRIPTION_CHARS} characters" + (
        "; the message was longer and has been cut." if cut else "."
    )
    element = text_input(
        max_length=DESCRIPTION_CHARS,
        multiline=True,
        initial=description.strip(),
        placeholder="Steps to reproduce, what happens, what should happen",
    )
    return input_block(ids.DESCRIPTION, "Description", element, optional=True, hint=hint)


def _repositories(options: list[Block], initial: list[Block]) -> Block:
    element = multi_select(options, initial, "Choose repositories")
    return input_block(ids.REPOSITORIES, "Repositories", element, optional=True)


def _extra_repositories(extra: list[str]) -> Block:
    element = text_input(
        max_length=limits.INPUT_MAX_LENGTH,
        multiline=True,
        initial="\n".join(extra),
        placeholder="https://github.com/owner/repo#branch",
    )
    hint = "One repository URL per line, optionally followed by #branch (default: main)."
    return input_block(
        ids.EXTRA_REPOSITORIES, "Other repositories", element, optional=True, hint=hint
    )


def _require_approval() -> Block:
    text = "Ask a person to approve before opening pull requests"
    element = checkbox(text, REQUIRE_APPROVAL_VALUE, checked=True)
    return input_block(ids.REQUIRE_APPROVAL, "Approval", element, optional=True)


def _budget() -> Block:
    element = number_input(minimum="0.01", maximum=f"{MAX_BUDGET_USD:g}", placeholder="5.00")
    hint = "The most the agent may spend on this task, in US dollars. Empty: the default."
    return input_block(ids.BUDGET, "Budget (USD)", element, optional=True, hint=hint)
