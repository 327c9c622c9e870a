"""Pure builders for a fix's pull request title and description (GitHub markdown).

Everything from the task, the agent or the repository goes through `inert_markdown`, so the
description shows it as text: no HTML, hidden comments, images, foreign links or mentions.
"""

from __future__ import annotations

from orchestration.forge.inert_markdown import (
    code_block,
    forge_link,
    inert_name,
    inert_quote,
    inert_text,
    link,
    visible_controls,
)
from orchestration.models import FileChange, PullRequestRef, RepositoryChange, TaskInput

TITLE_LIMIT = 256
BODY_LIMIT = 65_536  # GitHub refuses longer pull request bodies
FILES_LISTED = 200
FILES_TABLE_LIMIT = 16_384  # characters of table rows, so long paths cannot crowd out the rest
_TRUNCATED = "\n\n*…truncated*"
_NO_SUMMARY = "_The agent gave no summary._"


def pull_request_title(task: TaskInput) -> str:
    """`fixbot: <task title>` on one line, at most 256 characters, control characters escaped."""
    title = visible_controls(" ".join(task.title.split()))
    return _cap(f"fixbot: {title}", TITLE_LIMIT, "…")


def pull_request_body(
    task: TaskInput,
    change: RepositoryChange,
    summary: str,
    cost_usd: float,
    run_url: str | None,
    related: list[PullRequestRef],
    *,
    forge_host: str = "github.com",
    verification: list[str] | None = None,
) -> str:
    """The description: bug, fix summary, files, related pull requests, cost and links.

    `forge_host` is the forge's web host (`github.com`, a GitHub Enterprise host): only URLs
    there become links; any other URL in the text is shown as code.
    """
    fixed = [
        _ticket_line(task, forge_host),
        _verification_section(verification or [], forge_host),
        _files_section(change),
        _related_section(related, forge_host),
        _footer(task, cost_usd, run_url),
    ]
    room = BODY_LIMIT - len(_assemble("", "", fixed))
    description = task.description.strip() or task.title
    summary = summary.strip()
    summary_md = inert_quote(summary, forge_host) if summary else _NO_SUMMARY
    description_md = _fitted_quote(description, max(room // 2, room - len(summary_md)), forge_host)
    if summary and len(summary_md) > room - len(description_md):
        summary_md = _fitted_quote(summary, room - len(description_md), forge_host)
    return _cap(_assemble(description_md, summary_md, fixed), BODY_LIMIT, _TRUNCATED)


def _assemble(description_md: str, summary_md: str, fixed: list[str]) -> str:
    """Join the sections that have content."""
    ticket, *rest = fixed
    sections = [
        "## Bug\n\n" + description_md,
        ticket,
        "## What fixbot changed\n\n" + summary_md,
        *rest,
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _fitted_quote(text: str, limit: int, forge_host: str) -> str:
    """`text` as an inert block quote of at most `limit` characters, cut with a marker if need be.

    The raw text is cut and rendered again, so no escape or code span is ever cut in half.
    """
    quoted = inert_quote(text, forge_host)
    if len(quoted) <= limit:
        return quoted
    room = limit - len(_TRUNCATED)
    if room < 0:
        return ""
    cut, step = min(len(text), room), 1
    while cut > 0:
        quoted = inert_quote(text[:cut], forge_host)
        if len(quoted) <= room:
            return quoted + _TRUNCATED
        # escaping lengthens text unevenly: shrink in proportion, and faster each time round
        cut = min(cut - step, cut * room // len(quoted))
        step *= 2
    return _TRUNCATED


def _verification_section(lines: list[str], forge_host: str) -> str:
    """What fixbot's own run of the repository's checks found (none: nothing was checked)."""
    if not lines:
        return ""
    items = "\n".join(f"- {inert_text(line, forge_host)}" for line in lines)
    return "## Verification by fixbot\n\n" + items


def _ticket_line(task: TaskInput, forge_host: str) -> str:
    """The ticket: a link when it is on the forge, else its URL as code."""
    if not task.ticket_url:
        return ""
    return f"**Ticket:** {forge_link(task.ticket_url, task.ticket_url, forge_host)}"


def _files_section(change: RepositoryChange) -> str:
    """A per-file diffstat table for this repository."""
    rows = _file_rows(change.files)
    hidden = len(change.files) - len(rows)
    lines = [
        f"### Files in {inert_name(change.repository.name)}",
        "",
        "| File | Added | Removed |",
        "| --- | ---: | ---: |",
        *rows,
    ]
    if hidden > 0:
        lines.append(f"| …and {hidden} more | | |")
    lines += ["", code_block(change.diffstat)]
    return "\n".join(lines)


def _file_rows(files: list[FileChange]) -> list[str]:
    """Table rows for the first files, as many as FILES_LISTED and FILES_TABLE_LIMIT allow."""
    rows: list[str] = []
    used = 0
    for file in files[:FILES_LISTED]:
        row = _file_row(file)
        used += len(row) + 1
        if used > FILES_TABLE_LIMIT:
            break
        rows.append(row)
    return rows


def _file_row(file: FileChange) -> str:
    """One table row."""
    return f"| {inert_name(file.path)} | +{file.additions} | -{file.deletions} |"


def _related_section(related: list[PullRequestRef], forge_host: str) -> str:
    """Links to the other repositories' pull requests of the same fix."""
    if not related:
        return ""
    items = [
        f"- {forge_link(ref.repository, ref.url, forge_host)}{_number(ref)}" for ref in related
    ]
    intro = "This fix spans several repositories; review and merge these together:"
    return "## Related pull requests\n\n" + intro + "\n\n" + "\n".join(items)


def _footer(task: TaskInput, cost_usd: float, run_url: str | None) -> str:
    """Who asked, what it cost, where the run is (the Temporal UI, from the worker's settings)."""
    parts = [
        f"Opened by fixbot for task {inert_name(task.task_id)}",
        f"requested by {inert_name(task.requester)}",
        f"agent cost ${cost_usd:,.2f}",
    ]
    if run_url:
        parts.append(link("Temporal run", run_url))
    return "---\n\n<sub>" + " · ".join(parts) + "</sub>"


def _number(ref: PullRequestRef) -> str:
    """` (#12)` when the pull request has a number."""
    return f" (#{ref.number})" if ref.number is not None else ""


def _cap(text: str, limit: int, marker: str) -> str:
    """`text`, cut to at most `limit` characters with `marker` at the end when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[: max(0, limit)]
    return text[: limit - len(marker)] + marker
