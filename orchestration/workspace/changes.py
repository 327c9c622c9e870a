"""What the agent changed: git commands run in the sandbox, and parsing their output."""

from __future__ import annotations

import hashlib

from orchestration.models import FileChange, RepositoryChange, RepositorySpec

MAX_PATCH_BYTES = 1_000_000


class ChangeTooLarge(ValueError):
    """The patch is too large to review or to carry through the workflow."""


class ChangeNotText(ChangeTooLarge):
    """The patch is not UTF-8 text, so it cannot be carried through the workflow as a string.

    A subclass of ChangeTooLarge so callers that refuse oversized changes refuse this too.
    """


def stage_argv(repo_path: str) -> list[str]:
    return ["git", "-C", repo_path, "add", "--all"]


def numstat_argv(repo_path: str, base_commit: str) -> list[str]:
    return [
        "git",
        "-C",
        repo_path,
        "diff",
        "--cached",
        "--numstat",
        "-z",
        "--no-renames",
        base_commit,
        "--",
    ]


def patch_argv(repo_path: str, base_commit: str) -> list[str]:
    return [
        "git",
        "-C",
        repo_path,
        "diff",
        "--cached",
        "--binary",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--full-index",
        base_commit,
        "--",
    ]


def parse_numstat(output: bytes) -> list[FileChange]:
    """`git diff --numstat -z`: `added<TAB>deleted<TAB>path<NUL>`; binary files count as 0."""
    files: list[FileChange] = []
    for record in output.decode(errors="replace").split("\0"):
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        files.append(FileChange(path=path, additions=_count(added), deletions=_count(deleted)))
    return files


def _count(field: str) -> int:
    return int(field) if field.isdigit() else 0


def too_large(repository_name: str, size: int | None) -> str:
    """Why a change of `size` bytes (None: not read beyond the limit) is not carried."""
    measured = f"{size:,} bytes, over" if size is not None else "over"
    return (
        f"{repository_name}: the change is {measured} the limit of {MAX_PATCH_BYTES:,} bytes; "
        "too large to review"
    )


def repository_change(
    repository: RepositorySpec, base_commit: str, numstat: bytes, patch: bytes
) -> RepositoryChange | None:
    """One repository's change, or None when the agent changed nothing there."""
    files = parse_numstat(numstat)
    if not files:
        return None
    if len(patch) > MAX_PATCH_BYTES:
        raise ChangeTooLarge(too_large(repository.name, len(patch)))
    try:
        text = patch.decode()
    except UnicodeDecodeError as exc:
        raise ChangeNotText(
            f"{repository.name}: the change is not UTF-8 text (byte {exc.start} of the patch); "
            "a text file in another encoding was changed, which fixbot cannot carry"
        ) from None
    return RepositoryChange(
        repository=repository,
        base_commit=base_commit,
        files=files,
        patch=text,
        patch_sha256=hashlib.sha256(patch).hexdigest(),
    )
