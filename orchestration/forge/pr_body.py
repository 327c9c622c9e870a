"""Pure builders for a fix's pull request title and description (GitHub markdown)."""

from __future__ import annotations

from orchestration.models import FileChange, PullRequestRef, RepositoryChange, TaskInput

TITLE_LIMIT = 256
BODY_LIMIT = 65_536  # GitHub refuses longer pull request bodies
FILES_LISTED = 200
_TRUNCATED = "\n\n*…truncated*"


def pull_request_title(task: TaskInput) -> str:
    """`fixbot: <task title>` on one line, at most 256 characters."""
    return _cap(f"fixbot: {' '.join(task.title.split())}", TITLE_LIMIT, "…")


def pull_request_body(
    task: TaskInput,
    change: RepositoryChange,
    summary: str,
    cost_usd: float,
    run_url: str | None,
    related: list[PullRequestRef],
) -> str:
    """The description: bug, fix summary, files, related pull requests, cost and links."""
    description = task.description.strip() or task.title
    summary = summary.strip() or "_The agent gave no summary._"
    fixed = _render(task, change, "", "", cost_usd, run_url, related)
    room = max(0, BODY_LIMIT - len(fixed) - 2 * len(_TRUNCATED))
    description_room = max(room // 2, room - len(summary))
    description = _cap(description, description_room, _TRUNCATED)
    summary = _cap(summary, room - len(description), _TRUNCATED)
    body = _render(task, change, description, summary, cost_usd, run_url, related)
    return _cap(body, BODY_LIMIT, _TRUNCATED)


def _render(
    task: TaskInput,
    change: RepositoryChange,
    description: str,
    summary: str,
    cost_usd: float,
    run_url: str | None,
    related: list[PullRequestRef],
) -> str:
    """Join the sections that have content."""
    sections = [
        "## Bug\n\n" + _quote(description),
        f"**Ticket:** {_link(task.ticket_url, task.ticket_url)}" if task.ticket_url else "",
        "## What fixbot changed\n\n" + summary,
        _files_section(change),
        _related_section(related),
        _footer(task, cost_usd, run_url),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _files_section(change: RepositoryChange) -> str:
    """A per-file diffstat table for this repository."""
    rows = [_file_row(f) for f in change.files[:FILES_LISTED]]
    hidden = len(change.files) - len(rows)
    lines = [
        f"### Files in {_code(change.repository.name)}",
        "",
        "| File | Added | Removed |",
        "| --- | ---: | ---: |",
        *rows,
    ]
    if hidden > 0:
        lines.append(f"| …and {hidden} more | | |")
    lines += ["", change.diffstat]
    return "\n".join(lines)


def _file_row(file: FileChange) -> str:
    """One table row."""
    path = _code(file.path).replace("|", "\\|")
    return f"| {path} | +{file.additions} | -{file.deletions} |"


def _related_section(related: list[PullRequestRef]) -> str:
    """Links to the other repositories' pull requests of the same fix."""
    if not related:
        return ""
    items = [f"- {_link(ref.repository, ref.url)}{_number(ref)}" for ref in related]
    intro = "This fix spans several repositories; review and merge these together:"
    return "## Related pull requests\n\n" + intro + "\n\n" + "\n".join(items)


def _footer(task: TaskInput, cost_usd: float, run_url: str | None) -> str:
    """Who asked, what it cost, where the run is."""
    parts = [
        f"Opened by fixbot for task {_code(task.task_id)}",
        f"requested by {_escape(task.requester)}",
        f"agent cost ${cost_usd:,.2f}",
    ]
    if run_url:
        parts.append(_link("Temporal run", run_url))
    return "---\n\n<sub>" + " · ".join(parts) + "</sub>"


def _number(ref: PullRequestRef) -> str:
    """` (#12)` when the pull request has a number."""
    return f" (#{ref.number})" if ref.number is not None else ""


def _quote(text: str) -> str:
    """A markdown block quote."""
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _escape(text: str) -> str:
    """Text with markdown link and emphasis characters escaped."""
    for char in "\\[]*_<>`":
        text = text.replace(char, "\\" + char)
    return text


def _link(text: str, url: str) -> str:
    """A markdown link; the URL in angle brackets so spaces and parentheses stay inside."""
    return f"[{_escape(text)}](<{url.replace('>', '%3E')}>)"


def _cap(text: str, limit: int, marker: str) -> str:
    """`text`, cut to at most `limit` characters with `marker` at the end when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[: max(0, limit)]
    return text[: limit - len(marker)] + marker
