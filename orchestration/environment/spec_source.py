"""Where a repository's environment spec comes from: the operator's configuration first, else
`.fixbot/environment.toml` at the task's commit, read from the mirror with a size bound."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orchestration.environment.spec_file import (
    MAX_SPEC_BYTES,
    EnvironmentSpecError,
    parse_environment,
)
from orchestration.models.environment import SPEC_PATH, EnvironmentSpec
from orchestration.workspace.git import GitError, run_git


def environment_for(
    mirror: Path,
    commit: str,
    url: str,
    operator_specs: Mapping[str, EnvironmentSpec],
) -> EnvironmentSpec | None:
    """The spec that applies to the repository at url and commit (None: it has none)."""
    if url in operator_specs:
        return operator_specs[url]
    data = _spec_blob(mirror, commit)
    if data is None:
        return None
    return parse_environment(data, f"{SPEC_PATH} at {commit[:12]}")


def _spec_blob(mirror: Path, commit: str) -> bytes | None:
    """The spec file's bytes at commit, None when the commit has no such file."""
    git_dir = ["--git-dir", str(mirror)]
    try:
        kind = run_git([*git_dir, "cat-file", "-t", f"{commit}:{SPEC_PATH}"]).strip()
    except GitError:
        return None
    if kind != b"blob":
        raise EnvironmentSpecError(f"{SPEC_PATH} at {commit[:12]}: not a regular file")
    size = int(run_git([*git_dir, "cat-file", "-s", f"{commit}:{SPEC_PATH}"]))
    if size > MAX_SPEC_BYTES:
        raise EnvironmentSpecError(
            f"{SPEC_PATH} at {commit[:12]}: the file is over {MAX_SPEC_BYTES:,} bytes"
        )
    return run_git([*git_dir, "cat-file", "blob", f"{commit}:{SPEC_PATH}"])
