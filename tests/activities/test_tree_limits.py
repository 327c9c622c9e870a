"""A repository too big for the workspace is refused from the mirror's object sizes, before
anything is written, naming the limit, the repository's figure and the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.testing.memory_sandbox import InMemorySandbox
from orchestration.workspace.git import GitError
from orchestration.workspace.mirror import MirrorCache
from orchestration.workspace.tree_limits import TreeLimits, measure
from sandbox.interface import SandboxInfo
from tests.activities.test_workspace_activities import prepare, spec_of, target_for
from tests.forge.gitrepo import init_repo

ROOMY = TreeLimits(max_unpacked_mb=1024, max_files=1000, max_path_depth=10)
ONE_MB_OF_ZEROS = "0" * (1024 * 1024)


def activities_with(
    backend: InMemorySandbox, tmp_path: Path, limits: TreeLimits
) -> WorkspaceActivities:
    return WorkspaceActivities(
        backend,
        MirrorCache(tmp_path / "mirrors"),
        lambda _url: {},
        protected_paths=[],
        allow_protected=False,
        tree_limits=limits,
    )


@pytest.mark.parametrize(
    ("files", "limits", "message"),
    [
        (
            {f"copy-{n}.txt": ONE_MB_OF_ZEROS for n in range(40)},
            TreeLimits(max_unpacked_mb=30, max_files=1000, max_path_depth=10),
            "bomb unpacks to 40 MB, more than the 30 MB a workspace may hold "
            "(FIXBOT_SANDBOX__MAX_UNPACKED_MB)",
        ),
        (
            {f"f{n}.txt": "x\n" for n in range(12)},
            TreeLimits(max_unpacked_mb=1024, max_files=10, max_path_depth=10),
            "bomb has 12 files, more than the 10 a workspace may hold (FIXBOT_SANDBOX__MAX_FILES)",
        ),
        (
            {"a/b/c/d/e.txt": "deep\n"},
            TreeLimits(max_unpacked_mb=1024, max_files=1000, max_path_depth=4),
            "bomb nests paths 5 levels deep, more than the 4 allowed "
            "(FIXBOT_SANDBOX__MAX_PATH_DEPTH)",
        ),
    ],
)
async def test_a_tree_past_a_limit_is_refused_before_anything_is_written(
    backend: InMemorySandbox,
    sandbox: SandboxInfo,
    tmp_path: Path,
    files: dict[str, str],
    limits: TreeLimits,
    message: str,
) -> None:
    """Forty names for one compressible megabyte pack to almost nothing and unpack to 40 MB;
    too many files or too deep a path are refused the same way, for good."""
    source = tmp_path / "origin" / "bomb"
    init_repo(source, files)
    with pytest.raises(ApplicationError) as caught:
        await prepare(
            activities_with(backend, tmp_path, limits), target_for(sandbox, spec_of(source))
        )
    assert (caught.value.type, caught.value.non_retryable) == ("RepositoryTooLarge", True)
    assert caught.value.message == message
    assert not any(backend.host_path(sandbox.sandbox_id, "/workspace").iterdir())


async def test_a_tree_within_the_limits_is_prepared(
    backend: InMemorySandbox, sandbox: SandboxInfo, tmp_path: Path
) -> None:
    """The same check lets an ordinary repository through."""
    source = tmp_path / "origin" / "bomb"
    init_repo(source, {"a/b/c.txt": "fine\n", "README.md": "# ok\n"})
    report = await prepare(
        activities_with(backend, tmp_path, ROOMY), target_for(sandbox, spec_of(source))
    )
    assert [r.name for r in report.repositories] == ["bomb"]


def test_a_git_that_fails_never_passes_for_a_small_tree(tmp_path: Path) -> None:
    """Measuring a commit the mirror does not have raises instead of reporting an empty tree."""
    source = tmp_path / "origin" / "bomb"
    init_repo(source, {"a.txt": "a\n"})
    with pytest.raises(GitError, match="ls-tree failed"):
        measure(source, "0" * 40, ROOMY)
