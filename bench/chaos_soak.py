"""Chaos soak: many tasks back to back on real parts, each with seeded random faults.

    uv run python bench/chaos_soak.py [--tasks 50] [--seed 7]

Real Temporal dev server, worker, Docker sandboxes, `claude`, git and PyGithub; the scripted
model and the GitHub fake inject faults: the model answers 529 or drops the stream on the
first turn, GitHub answers 502 when the PR is created; the person approves, rejects, cancels
at the gate, or the task needs no approval. Prints the tally; every task must reach a
terminal state, PRs created must equal tasks completed, and no sandbox may be left.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bot.cli.demo_repo import PRICING, README, TESTS, scripted_fix
from orchestration.client.gateway import ActionRefused, TaskGateway
from orchestration.client.task_factory import make_task
from orchestration.models import CancelRequest, Decision, RepositorySpec, TaskStatus
from orchestration.models.index import SEARCH_ATTRIBUTES
from orchestration.runtime.embedded_temporal import temporal_binary
from orchestration.runtime.services import sandbox_services
from orchestration.runtime.worker import build_worker
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer
from sandbox.docker_backend import DockerSandbox
from tests.fakes.github import FakeGitHub
from tests.support.images import ensure_test_image
from tests.support.settings import e2e_settings

SHOP = {"pricing.py": PRICING, "test_pricing.py": TESTS, "README.md": README}
MODEL_FAULTS = ("none", "overloaded_once", "dropped_once")
GITHUB_FAULTS = ("none", "bad_gateway_once")
DECISIONS = ("approve", "approve", "approve", "reject", "cancel", "no_approval")


@dataclass
class Plan:
    task_id: str
    repo: str
    model_fault: str
    github_fault: str
    decision: str


def plans(rng: random.Random, count: int) -> list[Plan]:
    return [
        Plan(
            f"soak-{i:03d}",
            f"shop{i:03d}",
            rng.choice(MODEL_FAULTS),
            rng.choice(GITHUB_FAULTS),
            rng.choice(DECISIONS),
        )
        for i in range(count)
    ]


def script_for(plan: Plan) -> ModelScript:
    steps = list(scripted_fix().steps)
    first = steps[0]
    if plan.model_fault == "overloaded_once":
        steps[0] = first.model_copy(update={"http_status": 529, "fault_attempts": 1})
    elif plan.model_fault == "dropped_once":
        steps[0] = first.model_copy(update={"drop_connection": True, "fault_attempts": 1})
    return ModelScript(steps=steps)


async def run_one(
    gateway: TaskGateway, github: FakeGitHub, settings: object, plan: Plan
) -> TaskStatus:
    url = github.create_repo("acme", plan.repo, SHOP)
    if plan.github_fault == "bad_gateway_once":
        github.fail_next("POST", rf"/repos/acme/{plan.repo}/pulls$", 502)
    task = make_task(
        settings,
        title="Discounts raise prices",
        requester="rita",  # type: ignore[arg-type]
        task_id=plan.task_id,
        require_approval=plan.decision != "no_approval",
        repositories=[RepositorySpec(url=url, name="shop")],
    )
    await gateway.start(task)
    if plan.decision != "no_approval":
        await decide_when_asked(gateway, plan)
    result = await asyncio.wait_for(gateway.result(plan.task_id), 300)
    return result.status


async def decide_when_asked(gateway: TaskGateway, plan: Plan) -> None:
    for _ in range(1200):
        view = await gateway.status(plan.task_id)
        if view.status.is_terminal:
            return
        if view.status is TaskStatus.AWAITING_APPROVAL:
            break
        await asyncio.sleep(0.1)
    try:
        if plan.decision == "cancel":
            await gateway.cancel(plan.task_id, CancelRequest(by="rita", reason="soak"))
        else:
            approve = plan.decision == "approve"
            await gateway.decide(plan.task_id, Decision(approve=approve, by="alice"))
    except ActionRefused as exc:
        print(f"  {plan.task_id}: decision refused: {exc}")


def orphans(owner_part: str) -> int:
    backend = DockerSandbox()
    sandboxes = [s for s in backend.list_sandboxes() if owner_part in s.owner]
    return len(sandboxes) + len(backend.list_orphan_volumes(None))


async def main(count: int, seed: int) -> None:
    ensure_test_image()
    rng = random.Random(seed)
    tasks = plans(rng, count)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    started = time.monotonic()
    statuses: Counter[str] = Counter()
    with (
        tempfile.TemporaryDirectory(prefix="fixbot-soak-") as tmp,
        FakeGitHub() as github,
        ScriptedModelServer({p.task_id: script_for(p) for p in tasks}) as model,
    ):
        settings = e2e_settings(Path(tmp) / "data", github, model.url, "soak")
        async with sandbox_services(settings) as services:
            worker = build_worker(env.client, settings, DockerSandbox(), services=services)
            async with worker:
                gateway = TaskGateway(env.client, "soak")
                for plan in tasks:
                    status = await run_one(gateway, github, settings, plan)
                    statuses[status.value] += 1
                    print(
                        f"  {plan.task_id} model={plan.model_fault:<15}"
                        f" github={plan.github_fault:<16}"
                        f" decision={plan.decision:<11} → {status.value}"
                    )
        prs = sum(len(github.pulls("acme", p.repo)) for p in tasks)
        left = orphans(tmp)
    await env.shutdown()
    approved = sum(1 for p in tasks if p.decision in ("approve", "no_approval"))
    print(f"\nseed {seed}: {count} tasks in {time.monotonic() - started:.0f} s")
    print(
        f"  terminal: {sum(statuses.values())}/{count}  "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    )
    print(f"  PRs created: {prs}   tasks completed: {statuses['completed']}   approved: {approved}")
    print(f"  orphans (sandboxes + workspace volumes): {left}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.seed))
