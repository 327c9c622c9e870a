"""How tasks look in a terminal: status lines, progress as it happens, the final result."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from bot.cli.terminal import console, err_console, inert, line
from orchestration.client.task_index import TaskRow
from orchestration.models import TaskResult, TaskStatus, TaskView
from orchestration.models.environment import Verification, verification_lines
from orchestration.models.index import Outcome

__all__ = ["console", "err_console", "print_result", "print_task_rows", "print_view"]

_STATUS_STYLE = {
    TaskStatus.COMPLETED: "green",
    TaskStatus.NO_CHANGE: "yellow",
    TaskStatus.FAILED: "red",
    TaskStatus.REJECTED: "red",
    TaskStatus.CANCELLED: "yellow",
    TaskStatus.EXPIRED: "yellow",
    TaskStatus.AWAITING_APPROVAL: "cyan",
}


def status_text(status: TaskStatus) -> str:
    style = _STATUS_STYLE.get(status, "bold")
    return f"[{style}]{status.value}[/{style}]"


_OUTCOME_STYLE = {
    Outcome.PR_OPENED: "green",
    Outcome.NO_CHANGE: "yellow",
    Outcome.FAILED: "red",
    Outcome.REJECTED: "red",
    Outcome.CANCELLED: "yellow",
    Outcome.EXPIRED: "yellow",
    Outcome.AWAITING_APPROVAL: "cyan",
}
_CELL_LIMIT = 200
MAX_PATCH_SHOWN = 2_000_000  # characters; collected patches are capped below this anyway


def print_task_rows(rows: list[TaskRow]) -> None:
    """`fixbot list`: one line per task; every cell is plain text (titles and names come
    from people and may hold markup or terminal escapes)."""
    if not rows:
        console.print("no tasks match")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("task", "outcome", "created", "cost", "requester", "repositories", "title"):
        table.add_column(column, no_wrap=column in ("task", "outcome", "created"))
    for row in rows:
        table.add_row(*_cells(row))
    console.print(table)


def _cells(row: TaskRow) -> list[Text]:
    outcome = row.outcome
    style = "dim" if outcome is None else _OUTCOME_STYLE.get(outcome, "bold")
    created = f"{row.created:%Y-%m-%d %H:%M}" if row.created else ""
    cost = f"${row.cost_usd:.2f}" if row.cost_usd is not None else ""
    repositories = ", ".join(_short_repository(url) for url in row.repositories)
    return [
        _cell(row.task_id),
        Text(row.label, style=style),
        Text(created),
        Text(cost),
        _cell(row.requester),
        _cell(repositories),
        _cell(row.title),
    ]


def _cell(text: str) -> Text:
    return inert(text, _CELL_LIMIT, one_line=True)


def _short_repository(url: str) -> str:
    """`owner/name` of a repository URL, which is what people recognise in a narrow column."""
    path = url.partition("://")[2].partition("/")[2]
    return path or url


def print_view(view: TaskView) -> None:
    line(f"task {view.task_id}: ", view.title)
    if view.result is not None:
        print_result(view.result)
        return
    console.print(
        f"  status: {status_text(view.status)}"
        + (f" ({view.current_step.value})" if view.current_step else "")
    )
    for timing in view.steps:
        seconds = f"{timing.seconds:.2f}s" if timing.seconds is not None else "running"
        console.print(f"  {timing.step.value:<14} {seconds}")
    if view.last_progress:
        line("  latest: ", view.last_progress)
    console.print(f"  cost so far: ${view.cost_usd:.4f}")
    if view.question:
        line("  question: ", view.question)
    print_changes(view)
    if view.changes and view.changes.repositories:
        multi = len(view.changes.repositories) > 1
        print_verification(view.verifications, multi, view.verification_note)
    for pr in view.pull_requests:
        line("  pull request: ", pr.url)
    for refused in view.refused:
        line(f"  refused {refused.action} by ", f"{refused.by}: {refused.reason}")
    if view.error:
        line("  ", view.error, style="red")


def print_changes(view: TaskView) -> None:
    if not view.changes:
        return
    if view.changes.protected_files:
        joined = ", ".join(view.changes.protected_files)
        line("  touches protected paths: ", joined, style="yellow")
    for change in view.changes.repositories:
        line("  ", f"{change.repository.name}: {change.diffstat}")
        for f in change.files:
            line("    ", f"{f.path} +{f.additions} -{f.deletions}")


def print_verification(
    verifications: list[Verification], multi: bool, note: str | None = None
) -> None:
    """fixbot's own test runs on the fix, and the output's end when the fix made it fail."""
    for text in verification_lines(verifications, multi, note):
        failed = text.startswith("tests failed") or ": tests failed" in text
        line("  ", text, style="red" if failed else "")
    for item in verifications:
        if item.regressed and item.after is not None:
            for tail_line in item.after.output_tail.splitlines()[-10:]:
                line("    | ", tail_line)


def print_result(result: TaskResult) -> None:
    console.print(f"\nresult: {status_text(result.status)}")
    if result.summary:
        line("  summary: ", result.summary)
    for pr in result.pull_requests:
        line("  pull request: ", pr.url + (f" (patch: {pr.patch_file})" if pr.patch_file else ""))
    for repo, files in result.files_changed.items():
        line("  ", f"{repo}: {', '.join(files)}")
    if result.files_changed or result.verifications:
        multi = len(result.files_changed) > 1
        print_verification(result.verifications, multi, result.verification_note)
    console.print(
        f"  cost ${result.cost_usd:.4f}, {result.usage.total} tokens, {result.num_turns} turns"
    )
    steps = ", ".join(f"{k} {v:.2f}s" for k, v in result.step_seconds.items())
    console.print(f"  steps: {steps}")
    if result.error:
        line("  ", result.error, style="red")


def print_patches(view: TaskView) -> None:
    """Each repository's whole patch, rendered inert (it is the agent's text)."""
    if not view.changes or not view.changes.repositories:
        console.print("  no patch (no change collected yet)")
        return
    for change in view.changes.repositories:
        line("  patch of ", change.repository.name)
        console.print(inert(change.patch, limit=MAX_PATCH_SHOWN))
