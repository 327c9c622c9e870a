"""How tasks look in a terminal: status lines, progress as it happens, the final result."""

from __future__ import annotations

from rich.console import Console

from orchestration.models import TaskResult, TaskStatus, TaskView

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

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


def print_view(view: TaskView) -> None:
    console.print(f"task {view.task_id}: {view.title}", markup=False)
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
        console.print(f"  latest: {view.last_progress}", markup=False)
    console.print(f"  cost so far: ${view.cost_usd:.4f}")
    if view.question:
        console.print(f"  question: {view.question}")
    print_changes(view)
    for pr in view.pull_requests:
        console.print(f"  pull request: {pr.url}")
    for refused in view.refused:
        console.print(f"  refused {refused.action} by {refused.by}: {refused.reason}")
    if view.error:
        console.print(f"  [red]{view.error}[/red]")


def print_changes(view: TaskView) -> None:
    if not view.changes:
        return
    if view.changes.protected_files:
        joined = ", ".join(view.changes.protected_files)
        console.print(f"  [yellow]touches protected paths: {joined}[/yellow]", markup=True)
    for change in view.changes.repositories:
        console.print(f"  {change.repository.name}: {change.diffstat}")
        for f in change.files:
            console.print(f"    {f.path} +{f.additions} -{f.deletions}")


def print_result(result: TaskResult) -> None:
    console.print(f"\nresult: {status_text(result.status)}")
    if result.summary:
        console.print(f"  summary: {result.summary}", markup=False)
    for pr in result.pull_requests:
        console.print(
            f"  pull request: {pr.url}" + (f" (patch: {pr.patch_file})" if pr.patch_file else "")
        )
    for repo, files in result.files_changed.items():
        console.print(f"  {repo}: {', '.join(files)}")
    console.print(
        f"  cost ${result.cost_usd:.4f}, {result.usage.total} tokens, {result.num_turns} turns"
    )
    steps = ", ".join(f"{k} {v:.2f}s" for k, v in result.step_seconds.items())
    console.print(f"  steps: {steps}")
    if result.error:
        console.print(f"  [red]{result.error}[/red]")
