"""`fixbot demo`: the whole loop on a local repository, on embedded defaults, no tokens needed."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.text import Text

from bot.cli.demo_repo import BUG_DESCRIPTION, BUG_TITLE, create_demo_repository, scripted_fix
from bot.cli.live import follow
from bot.cli.render import console, print_result
from bot.cli.runtime import channels_for
from bot.cli.serve import build_image
from bot.cli.terminal import inert
from orchestration.client.gateway import TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import Decision, RepositorySpec, TaskStatus
from orchestration.models.events import CardReady
from orchestration.runtime.backend import docker_backend, running_backend
from orchestration.runtime.settings import Settings
from orchestration.testing.scripted_model import ScriptedModelServer

DEMO_USER = "demo"


async def run_demo(settings: Settings, *, assume_yes: bool) -> int:
    """Run the demo; 0 when the fix was approved, pushed, and the tests pass on the branch."""
    console.rule("fixbot demo")
    await asyncio.to_thread(docker_backend)  # a clear message if Docker is not there
    await build_image(settings, base_image=None, tag=None)
    demo_dir = settings.data_dir / "demo"
    repo = create_demo_repository(demo_dir)
    console.print(f"demo repository with a failing test: {repo}")
    with _model(settings) as (base_url, network, api_key):
        demo_settings = _demo_settings(settings, demo_dir, base_url, network, api_key)
        backend = await asyncio.to_thread(docker_backend)
        async with running_backend(
            demo_settings, backend, channels_for(demo_settings), fixed_ports=False
        ) as runtime:
            console.print(f"Temporal Web UI: {runtime.ui_url}")
            task = make_task(
                demo_settings,
                title=BUG_TITLE,
                description=BUG_DESCRIPTION,
                requester=DEMO_USER,
                repositories=[RepositorySpec(url=repo.as_uri(), branch="main", name=repo.name)],
            )
            await runtime.gateway.start(task)
            console.print(f"task {task.task_id} started")
            result = await follow(
                runtime.gateway, task.task_id, _approver(runtime.gateway, task.task_id, assume_yes)
            )
    print_result(result)
    if result.status is not TaskStatus.COMPLETED:
        return 1
    return _show_fix(repo, f"fixbot/{task.task_id}", result.pull_requests[0].patch_file)


@contextlib.contextmanager
def _model(settings: Settings) -> Iterator[tuple[str, str, str]]:
    """(model URL, sandbox network, API key): Claude when a key is set, else the scripted model."""
    if settings.anthropic_api_key is not None:
        console.print("using Claude through ANTHROPIC_API_KEY")
        yield (
            settings.anthropic_base_url,
            settings.sandbox.network,
            settings.anthropic_api_key.get_secret_value(),
        )
        return
    console.print(
        "[yellow]ANTHROPIC_API_KEY is not set: a built-in scripted model replays a fix, so the "
        "orchestration (Temporal, the Docker sandbox, the real Claude Code CLI, git) runs for "
        "real while the model's answers are canned.[/yellow]"
    )
    with ScriptedModelServer(scripted_fix()) as server:
        # the worker's model proxy forwards to it; the sandbox itself has no network
        yield server.url, settings.sandbox.network, "scripted-model-no-key"


def _demo_settings(
    settings: Settings, demo_dir: Path, base_url: str, network: str, api_key: str
) -> Settings:
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "anthropic_base_url": base_url,
            "anthropic_api_key": SecretStr(api_key),
            "data_dir": demo_dir / "state",
            "temporal_address": None,
            "sandbox": settings.sandbox.model_copy(update={"network": network}),
            "git": settings.git.model_copy(update={"allow_local_repositories": True}),
            "approval": settings.approval.model_copy(update={"allow_self_approval": True}),
        }
    )


def _approver(gateway: TaskGateway, task_id: str, assume_yes: bool):  # type: ignore[no-untyped-def]
    async def decide(card: CardReady) -> None:
        if card.summary:
            console.print(Text("agent's summary: ") + inert(card.summary))
        approve = assume_yes or await asyncio.to_thread(
            typer.confirm, "Approve this fix?", default=True
        )
        decision = Decision(approve=approve, by=DEMO_USER, comment="from the demo")
        await gateway.decide(task_id, decision)
        console.print("approved" if approve else "rejected")

    return decide


def _show_fix(repo: Path, branch: str, patch_file: str | None) -> int:
    console.rule("the fix")
    console.print(f"branch {branch} in {repo}")
    if patch_file:
        console.print(f"patch file: {patch_file}")
        console.print(inert(Path(patch_file).read_text(), limit=200_000))
    with tempfile.TemporaryDirectory(prefix="fixbot-demo-") as checkout:
        subprocess.run(
            ["git", "clone", "--quiet", "--branch", branch, str(repo), checkout], check=True
        )
        tests = subprocess.run(
            ["python3", "-m", "unittest", "-v"],
            cwd=checkout,
            capture_output=True,
            text=True,
            check=False,
        )
    console.print(inert(tests.stderr.strip()))
    if tests.returncode == 0:
        console.print(f"[green]the repository's tests pass on {branch}[/green]")
        return 0
    console.print(f"[red]the tests still fail on {branch}[/red]")
    return 1
