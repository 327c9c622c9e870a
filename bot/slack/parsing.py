"""Reading what people send fixbot in Slack: `/fixbug` text and modal submissions.

Pure functions: they return the parsed value, or for a modal a dict of block id → message
that the listener hands back as `response_action: errors`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.slack import ids
from bot.slack.blocks.limits import truncate_plain
from orchestration.models import RepositorySpec
from orchestration.policy.validation import (
    MAX_BUDGET_USD,
    MAX_DESCRIPTION,
    MAX_REPOSITORIES,
    MAX_TITLE,
    RepositoryRules,
    parse_repository_argument,
    repository_problems,
)

StateValues = Mapping[str, Mapping[str, Any]]

ERROR_CHARS = 1000  # an error under an input is a short paragraph, not a report
HELP_WORDS = frozenset({"help", "-h", "--help", "?"})

_TOKEN = re.compile(r"(?:<[^<>]*>|[^\s<]|<)+")
_WRAPPED = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_REPOSITORY = re.compile(r"^(?:https?://|ssh://|git@[^\s:/]+:)\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class FixbugCommand:
    """`/fixbug <title words> [repo …]`, split into its parts."""

    title: str = ""
    repositories: list[str] = field(default_factory=list)  # `URL[#branch]`, as typed
    help: bool = False


@dataclass(frozen=True)
class NewTaskForm:
    """A valid new-task modal submission."""

    title: str
    description: str
    repositories: list[RepositorySpec]
    require_approval: bool = True
    budget_usd: float | None = None


def parse_fixbug_text(text: str) -> FixbugCommand:
    """Repository URLs (Slack-wrapped or not) become repositories, other words the title."""
    if text.strip().lower() in HELP_WORDS:
        return FixbugCommand(help=True)
    title: list[str] = []
    repositories: list[str] = []
    for token in _TOKEN.findall(text):
        target, label = _unwrap(token)
        if _REPOSITORY.match(target):
            repositories.append(target)
        else:
            title.append(_unescape(label))
    return FixbugCommand(title=" ".join(" ".join(title).split()), repositories=repositories)


def _unwrap(token: str) -> tuple[str, str]:
    """Slack's `<url>` / `<url|label>` / `<@U1|name>` forms: the target, and the text to show."""
    target = _WRAPPED.sub(lambda m: m[1], token)
    label = _WRAPPED.sub(_shown, token)
    return _unescape(target), label


def _shown(match: re.Match[str]) -> str:
    """What a person saw for a wrapped token: its label, or a readable form of its target."""
    target, label = match[1], match[2]
    if target.startswith(("@", "#")):
        return target[0] + (label or target[1:])
    if target.startswith("!"):
        return "@" + (label or target[1:].partition("^")[0])
    return label or target.removeprefix("mailto:")


def _unescape(text: str) -> str:
    """Slack's three escaped characters back to themselves."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_new_task_submission(
    view_state_values: StateValues, *, rules: RepositoryRules
) -> NewTaskForm | dict[str, str]:
    """The new-task modal's values as a form, or a dict block id → error message."""
    values = view_state_values
    title = " ".join(_text(values, ids.TITLE).split())
    description = _text(values, ids.DESCRIPTION).strip()
    errors = _title_errors(title) | _description_errors(description)
    repositories, repo_errors = _repositories(values, rules)
    budget, budget_errors = _budget(values)
    errors |= repo_errors | budget_errors
    if errors:
        return {block: truncate_plain(message, ERROR_CHARS) for block, message in errors.items()}
    return NewTaskForm(
        title=title,
        description=description,
        repositories=repositories,
        require_approval=_require_approval(values),
        budget_usd=budget,
    )


def parse_feedback_submission(view_state_values: StateValues) -> str | dict[str, str]:
    """The requested changes, or an error under the feedback input when empty."""
    feedback = _text(view_state_values, ids.FEEDBACK).strip()
    if not feedback:
        return {ids.FEEDBACK: "Please say what the agent should change."}
    return feedback


def _element(values: StateValues, block_id: str) -> Mapping[str, Any]:
    """The state of the input element in `block_id` (empty when the block is absent)."""
    block = values.get(block_id) or {}
    element = block.get(ids.input_id(block_id))
    return element if isinstance(element, Mapping) else {}


def _text(values: StateValues, block_id: str) -> str:
    """A plain_text_input's (or number_input's) value; Slack sends None when it is empty."""
    value = _element(values, block_id).get("value")
    return value if isinstance(value, str) else ""


def _selected(values: StateValues, block_id: str) -> list[str]:
    """The values of a select's or checkboxes' selected options."""
    options = _element(values, block_id).get("selected_options") or []
    return [str(o["value"]) for o in options if isinstance(o, Mapping) and "value" in o]


def _title_errors(title: str) -> dict[str, str]:
    if not title:
        return {ids.TITLE: "Please give the bug a title."}
    if len(title) > MAX_TITLE:
        return {ids.TITLE: f"At most {MAX_TITLE} characters, this title has {len(title)}."}
    return {}


def _description_errors(description: str) -> dict[str, str]:
    if len(description) > MAX_DESCRIPTION:
        return {
            ids.DESCRIPTION: f"At most {MAX_DESCRIPTION} characters, this has {len(description)}."
        }
    return {}


def _require_approval(values: StateValues) -> bool:
    """Ticked unless the person unticked it (a form without the checkbox asks for approval)."""
    if ids.REQUIRE_APPROVAL not in values:
        return True
    return bool(_selected(values, ids.REQUIRE_APPROVAL))


def _budget(values: StateValues) -> tuple[float | None, dict[str, str]]:
    """The budget in USD (None: the default), or an error under the budget input."""
    raw = _text(values, ids.BUDGET).strip()
    if not raw:
        return None, {}
    try:
        budget = float(raw)
    except ValueError:
        budget = math.nan
    if not math.isfinite(budget) or budget <= 0:
        return None, {ids.BUDGET: "The budget must be a positive number of US dollars."}
    if budget > MAX_BUDGET_USD:
        return None, {ids.BUDGET: f"The budget can be at most {MAX_BUDGET_USD:g} US dollars."}
    return budget, {}


def _repositories(
    values: StateValues, rules: RepositoryRules
) -> tuple[list[RepositorySpec], dict[str, str]]:
    """Chosen and typed repositories, validated; errors go under the input they came from."""
    entries = _repository_entries(values)
    if not entries:
        block = ids.REPOSITORIES if ids.REPOSITORIES in values else ids.EXTRA_REPOSITORIES
        return [], {block: "Choose or enter at least one repository."}
    problems: dict[str, list[str]] = {}
    for block, where, spec in entries:
        for problem in repository_problems(spec, rules):
            problems.setdefault(block, []).append(f"{where}{problem}")
    for block, problem in _duplicates(entries) + _too_many(entries):
        problems.setdefault(block, []).append(problem)
    errors = {block: "; ".join(found) for block, found in problems.items()}
    return [spec for _, _, spec in entries], errors


Entry = tuple[str, str, RepositorySpec]  # block id, "line 2: " (or ""), the repository


def _repository_entries(values: StateValues) -> list[Entry]:
    """The selected repositories, then each non-blank typed line, in order."""
    entries: list[Entry] = [
        (ids.REPOSITORIES, "", parse_repository_argument(v))
        for v in _selected(values, ids.REPOSITORIES)
    ]
    lines = _text(values, ids.EXTRA_REPOSITORIES).splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            where = f"line {number}: " if len(lines) > 1 else ""
            entries.append((ids.EXTRA_REPOSITORIES, where, parse_repository_argument(line)))
    return entries


def _duplicates(entries: list[Entry]) -> list[tuple[str, str]]:
    """One problem per folder name that two repositories would share."""
    problems: list[tuple[str, str]] = []
    names = [spec.name for _, _, spec in entries]
    for name in sorted({n for n in names if names.count(n) > 1}):
        blocks = {block for block, _, spec in entries if spec.name == name}
        block = ids.EXTRA_REPOSITORIES if ids.EXTRA_REPOSITORIES in blocks else ids.REPOSITORIES
        problems.append((block, f"two repositories would share the folder name {name!r}"))
    return problems


def _too_many(entries: list[Entry]) -> list[tuple[str, str]]:
    """A problem when there are more repositories than one task may have."""
    if len(entries) <= MAX_REPOSITORIES:
        return []
    block = entries[-1][0]
    return [(block, f"at most {MAX_REPOSITORIES} repositories per task, not {len(entries)}")]
