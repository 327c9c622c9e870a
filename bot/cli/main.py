"""`fixbot`: start, follow and decide on bug-fix tasks; run the worker or everything at once."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.text import Text

from bot.cli.live import follow
from bot.cli.render import print_patches, print_result, print_task_rows, print_view
from bot.cli.terminal import console, inert, print_error
from orchestration.client.connection import TemporalUnavailable, connect
from orchestration.client.gateway import ActionRefused, NoWorker, TaskGateway, UnknownTask
from orchestration.client.registration import SearchAttributesMissing
from orchestration.client.task_factory import make_task, repository_rules
from orchestration.client.task_index import (
    InvalidFilter,
    TaskFilter,
    TaskIndexReader,
    build_query,
    repository_filter,
)
from orchestration.models import Answer, CancelRequest, Decision
from orchestration.policy.validation import (
    TaskValidationError,
    parse_repository_argument,
    repository_problems,
    validate_task,
)
from orchestration.runtime.logs import configure_logging
from orchestration.runtime.settings import Settings, SettingsError, load_settings
from sandbox.interface import SandboxError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
sandbox_app = typer.Typer(no_args_is_help=True, help="Build and inspect the sandbox image.")
app.add_typer(sandbox_app, name="sandbox")
env_app = typer.Typer(
    no_args_is_help=True, help="Repository environments: check a spec, list and prune snapshots."
)
app.add_typer(env_app, name="env")

T = TypeVar("T")
_EXPECTED = (
    SettingsError,
    NoWorker,
    TaskValidationError,
    TemporalUnavailable,
    UnknownTask,
    ActionRefused,
    SandboxError,
    SearchAttributesMissing,
)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; known errors become a clear message and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except _EXPECTED as exc:
        print_error(exc)
        raise typer.Exit(1) from None


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    secrets = settings.secret_values()
    configure_logging(settings.log_level, settings.log_format, secrets)
    return settings


def cli_identity(override: str | None) -> str:
    return override or f"cli:{getpass.getuser()}"


async def _gateway(settings: Settings) -> TaskGateway:
    return TaskGateway(await connect(settings), settings.temporal_task_queue)


@app.command()
def start(
    title: Annotated[str, typer.Option(help="One line saying what is wrong.")],
    repo: Annotated[
        list[str], typer.Option(help="Repository URL, optionally #branch. Repeatable.")
    ],
    description: Annotated[str, typer.Option(help="The bug report.")] = "",
    description_file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    ticket: Annotated[str | None, typer.Option(help="Link to the ticket.")] = None,
    no_approval: Annotated[
        bool, typer.Option("--no-approval", help="Open PRs without asking.")
    ] = False,
    auto_merge: Annotated[bool, typer.Option(help="Enable GitHub auto-merge on the PRs.")] = False,
    budget: Annotated[float | None, typer.Option(help="Model budget in USD.")] = None,
    model: Annotated[str | None, typer.Option(help="Claude model name.")] = None,
    task_id: Annotated[
        str | None, typer.Option(help="Choose the task id (idempotent start).")
    ] = None,
    allow_egress: Annotated[
        bool, typer.Option(help="Let the sandbox reach FIXBOT_SANDBOX__EGRESS_ALLOWLIST.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow progress and print the result.")] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="Who is asking.")] = None,
) -> None:
    """Start a bug-fix task."""
    settings = settings_or_exit()
    text = description_file.read_text() if description_file else description
    task = make_task(
        settings,
        title=title,
        description=text,
        repositories=[parse_repository_argument(r) for r in repo],
        requester=cli_identity(as_user),
        ticket_url=ticket,
        require_approval=not no_approval,
        auto_merge=auto_merge,
        budget_usd=budget,
        model=model,
        task_id=task_id,
    ).model_copy(update={"allow_egress": allow_egress})
    try:
        validate_task(task, repository_rules(settings))  # before connecting to anything
    except TaskValidationError as exc:
        print_error(exc)
        raise typer.Exit(2) from None

    async def go() -> None:
        gateway = await _gateway(settings)
        workflow_id = await gateway.start(task)
        console.print(f"started task [bold]{task.task_id}[/bold] (workflow {workflow_id})")
        if wait:
            hint = _approval_hint(task.task_id)
            print_result(await follow(gateway, task.task_id, hint))

    run(go())


def _approval_hint(task_id: str):  # type: ignore[no-untyped-def]
    async def hint(_view: object) -> None:
        console.print(
            f"waiting for approval: [bold]fixbot approve {task_id}[/bold] or "
            f"[bold]fixbot reject {task_id} --reason ...[/bold]"
        )

    return hint


@app.command()
def approve(
    task_id: str,
    comment: Annotated[str, typer.Option()] = "",
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Approve a task's fix: fixbot opens the pull requests."""
    _decide(task_id, approve=True, comment=comment, as_user=as_user)


@app.command()
def reject(
    task_id: str,
    reason: Annotated[str, typer.Option(help="Why (shown in the task's result).")],
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Reject a task's fix: no pull request is opened."""
    _decide(task_id, approve=False, comment=reason, as_user=as_user)


def _decide(task_id: str, *, approve: bool, comment: str, as_user: str | None) -> None:
    settings = settings_or_exit()
    decision = Decision(approve=approve, by=cli_identity(as_user), comment=comment)

    async def go() -> None:
        record = await (await _gateway(settings)).decide(task_id, decision)
        verb = "approved" if record.decision.approve else "rejected"
        console.print(Text.assemble(f"task {task_id} {verb} by ", inert(record.decision.by)))

    run(go())


@app.command()
def answer(
    task_id: str,
    text: str,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Answer the agent's question; it resumes the same session."""
    settings = settings_or_exit()

    async def go() -> None:
        await (await _gateway(settings)).answer(
            task_id, Answer(by=cli_identity(as_user), text=text)
        )
        console.print(f"answer delivered to task {task_id}")

    run(go())


@app.command()
def cancel(
    task_id: str,
    reason: Annotated[str, typer.Option()] = "",
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Cancel a task: the agent stops and the sandbox is removed."""
    settings = settings_or_exit()

    async def go() -> None:
        request = CancelRequest(by=cli_identity(as_user), reason=reason)
        await (await _gateway(settings)).cancel(task_id, request)
        console.print(f"task {task_id}: cancel requested")

    run(go())


@app.command()
def status(
    task_id: str,
    patch: Annotated[bool, typer.Option("--patch", help="Print the whole patch too.")] = False,
) -> None:
    """Show where a task is, step by step (with --patch, the change it would push)."""
    settings = settings_or_exit()

    async def go() -> None:
        view = await (await _gateway(settings)).status(task_id)
        print_view(view)
        if patch:
            print_patches(view)

    run(go())


@app.command("list")
def list_tasks(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only tasks in this state: an outcome (awaiting_approval, pr_opened, "
            "no_change, rejected, failed, cancelled, expired, in_progress), a step "
            "(running, ...), or active / ended."
        ),
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only the tasks you started.")] = False,
    repo: Annotated[
        str | None, typer.Option(help="Only tasks on this repository (URL or owner/name).")
    ] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Who you are, for --mine.")] = None,
) -> None:
    """Recent tasks, newest first, with each task's own outcome."""
    settings = settings_or_exit()
    task_filter = TaskFilter(
        state=state,
        requester=cli_identity(as_user) if mine else None,
        repository=repository_filter(repo, settings.github_web_host) if repo else None,
        limit=limit,
    )
    try:
        build_query(task_filter)  # a bad filter is refused before connecting
    except InvalidFilter as exc:
        print_error(exc)
        raise typer.Exit(2) from None

    async def go() -> None:
        client = (await _gateway(settings)).client
        print_task_rows(await TaskIndexReader(client).list(task_filter))

    run(go())


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS (or the embedded dev server's default port)."""
    settings = settings_or_exit()
    from bot.cli.serve import serve_worker

    run(serve_worker(settings))


@app.command()
def bot() -> None:
    """Run the Slack bot (Socket Mode) against TEMPORAL_ADDRESS."""
    settings = settings_or_exit()
    from bot.cli.serve import serve_bot

    run(serve_bot(settings))


@app.command()
def dev() -> None:
    """Run the embedded Temporal dev server, a worker and (with Slack tokens) the bot."""
    settings = settings_or_exit()
    from bot.cli.serve import serve_dev

    run(serve_dev(settings))


@sandbox_app.command("build")
def sandbox_build(
    base_image: Annotated[str | None, typer.Option(help="FROM image (default: settings).")] = None,
    tag: Annotated[str | None, typer.Option(help="Image tag (default: settings).")] = None,
) -> None:
    """Build the sandbox image (skipped when an identical build exists)."""
    settings = settings_or_exit()
    from bot.cli.serve import build_image

    run(build_image(settings, base_image=base_image, tag=tag))


@env_app.command("list")
def env_list() -> None:
    """The set-up environments this worker keeps, most recently used first."""
    from bot.cli.environments import print_snapshots
    from orchestration.runtime.snapshots import snapshot_store

    print_snapshots(snapshot_store(settings_or_exit()))


@env_app.command("prune")
def env_prune(
    all_: Annotated[bool, typer.Option("--all", help="Remove every snapshot.")] = False,
) -> None:
    """Remove snapshots past the age limit, then the least recently used over the size limit."""
    from bot.cli.environments import print_pruned
    from orchestration.runtime.snapshots import snapshot_store

    store = snapshot_store(settings_or_exit())
    if all_:
        removed = store.snapshots()
        for snapshot in removed:
            store.remove(snapshot.key)
    else:
        removed = store.prune()
    print_pruned(removed)


@env_app.command("build")
def env_build(
    repo: Annotated[str, typer.Option("--repo", help="URL[#branch] of the repository.")],
    as_user: Annotated[str | None, typer.Option("--as", help="Who builds it.")] = None,
) -> None:
    """Run a repository's setup now and keep its snapshot, so its first task starts warm."""
    from bot.cli.environments import print_built
    from orchestration.runtime.backend import docker_backend
    from orchestration.runtime.environment_build import build_environment

    settings = settings_or_exit()
    repository = parse_repository_argument(repo)
    problems = repository_problems(repository, repository_rules(settings))
    if problems:
        print_error(TaskValidationError(problems))
        raise typer.Exit(2)
    say = lambda text: console.print(inert(text, one_line=True))  # noqa: E731
    ready = run(
        build_environment(settings, docker_backend(), repository, cli_identity(as_user), say)
    )
    print_built(ready)


@env_app.command("check")
def env_check(
    path: Annotated[Path, typer.Argument(help="The spec file.")] = Path(".fixbot/environment.toml"),
) -> None:
    """Read a repository's environment spec as fixbot would, and say what it asks for."""
    from bot.cli.environments import check_spec_file
    from orchestration.environment.spec_file import EnvironmentSpecError

    try:
        check_spec_file(path)
    except (EnvironmentSpecError, OSError) as exc:
        print_error(exc)
        raise typer.Exit(2) from None


@app.command()
def demo(
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
) -> None:
    """Fix a real bug in a small local repository, end to end, on embedded defaults."""
    settings = settings_or_exit()
    from bot.cli.demo import run_demo

    code = run(run_demo(settings, assume_yes=yes))
    raise typer.Exit(code)


def main() -> NoReturn:
    """The console script: run the command, then end the process at once with its status.

    The Temporal client's native core can crash while the interpreter finalizes
    (sdk-python issue 300), turning a finished command into exit status -6. Every command
    has done its cleanup by the time it returns, so skipping finalization loses nothing."""
    try:
        app()
        status = 0
    except SystemExit as stop:
        status = _exit_status(stop.code)
    for stream in (sys.stdout, sys.stderr):
        # a reader that went away (`| head`) has lost the rest; the status stands
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(status)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
