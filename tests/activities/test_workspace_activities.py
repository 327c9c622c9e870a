"""Preparing the workspace and collecting the change, on a real repository and real git,
with the in-memory sandbox in place of the container."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.models import (
    ChangeSet,
    CollectRequest,
    FileChange,
    RepositorySpec,
    SandboxRef,
    SandboxTarget,
    TaskInput,
    WorkspaceReport,
)
from orchestration.testing.memory_sandbox import InMemorySandbox
from sandbox.interface import SandboxInfo
from tests.forge.gitrepo import git, write_files

FIXED_CART = "def average(prices):\n    return sum(prices) / len(prices) if prices else 0.0\n"


def spec_of(source: Path, branch: str = "main") -> RepositorySpec:
    """The repository spec of a local source repository."""
    return RepositorySpec(url=source.as_uri(), branch=branch, name=source.name)


def target_for(sandbox: SandboxInfo, *repositories: RepositorySpec) -> SandboxTarget:
    """The activity argument for a task on these repositories in this sandbox."""
    task = TaskInput(
        task_id="task-1",
        title="Average of an empty cart crashes",
        repositories=list(repositories),
        requester="U123",
        created_at=datetime(2025, 1, 2, tzinfo=UTC),
    )
    ref = SandboxRef(sandbox_id=sandbox.sandbox_id, name=sandbox.name)
    return SandboxTarget(task=task, sandbox=ref)


async def prepare(activities: WorkspaceActivities, target: SandboxTarget) -> WorkspaceReport:
    """Run the prepare activity as Temporal would."""
    report: WorkspaceReport = await ActivityEnvironment().run(activities.prepare, target)
    return report


async def collect(
    activities: WorkspaceActivities, target: SandboxTarget, report: WorkspaceReport
) -> ChangeSet:
    """Run the collect activity as Temporal would."""
    request = CollectRequest(task=target.task, sandbox=target.sandbox, workspace=report)
    changes: ChangeSet = await ActivityEnvironment().run(activities.collect, request)
    return changes


def in_sandbox(backend: InMemorySandbox, sandbox: SandboxInfo, script: str) -> str:
    """Run a shell script in the prepared repository, as the agent would; its stdout."""
    result = backend.exec(sandbox.sandbox_id, ["sh", "-c", script], workdir="/workspace/shop")
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode()


def applied_to(source: Path, patch: str, scratch: Path) -> Path:
    """A fresh clone of source with the patch applied; its path."""
    git(scratch.parent, "clone", "--quiet", str(source), str(scratch))
    subprocess.run(
        ["git", "-C", str(scratch), "apply", "--index", "-"],
        input=patch.encode(),
        check=True,
        capture_output=True,
    )
    return scratch


async def test_prepare_puts_the_branch_and_its_history_in_the_workspace(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """The repository lands at /workspace/shop at the branch's commit, clean, with history,
    next to the guide files that name it."""
    report = await prepare(activities, target_for(sandbox, spec_of(source)))
    [prepared] = report.repositories
    assert (prepared.name, prepared.path) == ("shop", "/workspace/shop")
    assert prepared.commit == git(source, "rev-parse", "HEAD")
    assert in_sandbox(backend, sandbox, "git rev-parse HEAD").strip() == prepared.commit
    assert in_sandbox(backend, sandbox, "git status --porcelain") == ""
    assert in_sandbox(backend, sandbox, "git log --format=%s").splitlines() == [
        "Describe the shop",
        "Initial commit",
    ]
    assert in_sandbox(backend, sandbox, "cat README.md") == "# shop\n\nSells things.\n"
    guide = in_sandbox(backend, sandbox, "cat ../AGENTS.md")
    assert "/workspace/shop" in guide
    assert in_sandbox(backend, sandbox, "cat ../AGENTS.md") == guide


async def test_collect_returns_the_agents_edit_as_a_patch_that_applies(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
    tmp_path: Path,
) -> None:
    """An edit, a new file and a deletion come back as one patch with its file list; the
    patch applied to the source at the base commit gives exactly the edited tree."""
    target = target_for(sandbox, spec_of(source))
    report = await prepare(activities, target)
    in_sandbox(
        backend,
        sandbox,
        f"printf '%s' '{FIXED_CART}' > cart.py && echo 'def test(): pass' > test_cart.py"
        " && rm old.txt",
    )
    changes = await collect(activities, target, report)
    [change] = changes.repositories
    assert change.base_commit == report.repositories[0].commit
    assert sorted(change.files, key=lambda f: f.path) == [
        FileChange(path="cart.py", additions=1, deletions=1),
        FileChange(path="old.txt", additions=0, deletions=1),
        FileChange(path="test_cart.py", additions=1, deletions=0),
    ]
    assert change.protected_files == []
    check = applied_to(source, change.patch, tmp_path / "check")
    assert (check / "cart.py").read_text() == FIXED_CART
    assert not (check / "old.txt").exists()
    assert (check / "test_cart.py").read_text() == "def test(): pass\n"


async def test_a_late_prepare_attempt_never_undoes_the_agents_work(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """A prepare attempt that runs again after the agent edited, staged and deleted files (a
    timed-out attempt still running, or a retry) leaves all of it in place: the change
    collected afterwards is the agent's whole change."""
    target = target_for(sandbox, spec_of(source))
    report = await prepare(activities, target)
    in_sandbox(
        backend,
        sandbox,
        f"printf '%s' '{FIXED_CART}' > cart.py && git add cart.py && rm old.txt",
    )
    again = await prepare(activities, target)
    assert again.repositories[0].commit == report.repositories[0].commit
    changes = await collect(activities, target, report)
    [change] = changes.repositories
    assert sorted(f.path for f in change.files) == ["cart.py", "old.txt"]
    assert in_sandbox(backend, sandbox, "cat cart.py") == FIXED_CART


async def test_no_edit_and_build_artefacts_collect_nothing(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """Running the tests leaves caches behind; they are not a change."""
    target = target_for(sandbox, spec_of(source))
    report = await prepare(activities, target)
    in_sandbox(backend, sandbox, "mkdir __pycache__ .pytest_cache && touch __pycache__/cart.pyc")
    changes = await collect(activities, target, report)
    assert changes.repositories == []


async def test_a_change_too_large_to_review_is_refused_without_reading_it_all(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """A 30 MB generated file makes a patch far over the limit: collect keeps at most the
    limit of it and fails for good, naming the repository and the limit."""
    target = target_for(sandbox, spec_of(source))
    report = await prepare(activities, target)
    generate = "head -c 30000000 /dev/zero | tr '\\0' 'a' | fold -w 100 > big.txt"
    in_sandbox(backend, sandbox, generate)
    with pytest.raises(ApplicationError) as caught:
        await collect(activities, target, report)
    assert caught.value.non_retryable
    assert caught.value.type == "ChangeTooLarge"
    assert caught.value.message == (
        "shop: the change is over the limit of 1,000,000 bytes; too large to review"
    )


async def test_an_edit_under_a_protected_path_is_flagged(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """A changed CI workflow is collected and named as protected, for the approver to see."""
    target = target_for(sandbox, spec_of(source))
    report = await prepare(activities, target)
    in_sandbox(backend, sandbox, "echo 'on: pull_request' > .github/workflows/ci.yml")
    changes = await collect(activities, target, report)
    [change] = changes.repositories
    assert change.protected_files == [".github/workflows/ci.yml"]
    assert changes.protected_paths_allowed is False


async def test_symlinks_submodules_and_case_variants_are_flagged_from_the_pushed_tree(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """What the agent adds is judged as the push would write it: a symlink into the
    workflows, a symlink out of the repository, a submodule entry and a case variant are
    each named with the reason; an ordinary edit beside them is not."""
    target = target_for(sandbox, spec_of(source))
    report = await prepare(activities, target)
    in_sandbox(
        backend,
        sandbox,
        "ln -s .github/workflows docs-ci && ln -s /etc/passwd passwd"
        " && mkdir -p .GitHub/Workflows && echo 'on: push' > .GitHub/Workflows/x.yml"
        " && git init -q vendor/lib"
        " && git -C vendor/lib -c user.name=a -c user.email=a@b commit -q --allow-empty -m x"
        " && echo '# more' >> README.md",
    )
    changes = await collect(activities, target, report)
    [change] = changes.repositories
    assert sorted(change.protected_files) == [
        ".GitHub/Workflows/x.yml (a case variant of a protected path)",
        "docs-ci (a symlink into a protected path (.github/workflows))",
        "passwd (a symlink to '/etc/passwd', outside the repository)",
        "vendor/lib (a submodule entry)",
    ]


async def test_a_missing_branch_fails_for_good(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """A branch the repository does not have is not retried, and nothing is put in place."""
    target = target_for(sandbox, spec_of(source, branch="no-such-branch"))
    with pytest.raises(ApplicationError) as caught:
        await prepare(activities, target)
    assert (caught.value.type, caught.value.non_retryable) == ("BranchMissing", True)
    assert "no-such-branch" in str(caught.value)
    assert not any(backend.host_path(sandbox.sandbox_id, "/workspace").iterdir())


async def test_history_stops_at_fifty_commits_and_the_tree_is_the_committed_one(
    activities: WorkspaceActivities,
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    source: Path,
) -> None:
    """log and blame work on the last 50 commits; export-ignore and export-subst change
    nothing; build artefacts are excluded through .git/info/exclude."""
    write_files(source, {".gitattributes": "hidden.txt export-ignore\nstamp.txt export-subst\n"})
    write_files(source, {"hidden.txt": "still here\n", "stamp.txt": "$Format:%H$\n"})
    git(source, "add", "--all")
    for number in range(55):
        write_files(source, {"cart.py": f"# revision {number}\n"})
        git(source, "commit", "--quiet", "--no-gpg-sign", "--all", "-m", f"Revision {number}")
    await prepare(activities, target_for(sandbox, spec_of(source)))
    assert in_sandbox(backend, sandbox, "git rev-list --count HEAD").strip() == "50"
    assert "summary Revision 54" in in_sandbox(backend, sandbox, "git blame --porcelain cart.py")
    assert in_sandbox(backend, sandbox, "cat hidden.txt stamp.txt") == "still here\n$Format:%H$\n"
    assert "__pycache__/" in in_sandbox(backend, sandbox, "cat .git/info/exclude")
    assert in_sandbox(backend, sandbox, "git status --porcelain") == ""


async def test_heartbeats_say_what_prepare_is_doing(
    activities: WorkspaceActivities, sandbox: SandboxInfo, source: Path
) -> None:
    """The details of prepare's heartbeats name the repository being fetched."""
    details: list[object] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *args: details.extend(args)
    await environment.run(activities.prepare, target_for(sandbox, spec_of(source)))
    assert any(str(detail).startswith("fetching shop") for detail in details), details
