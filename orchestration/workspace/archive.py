"""The tar stream that becomes /workspace in the sandbox.

Per repository: the tree of the requested commit (`git archive`) plus a shallow `.git`
(recent history for `git log`/`blame`, and the baseline the change is diffed against).
Every entry is owned by the sandbox's agent user, because nobody in the sandbox can chown.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path

from orchestration.workspace.git import GitError, run_git
from sandbox.interface import AGENT_UID

HISTORY_DEPTH = 50
# Artefacts of building and testing that must never end up in a fix, even in a repository
# whose .gitignore forgets them; written to .git/info/exclude, which git reads like .gitignore.
BUILD_ARTEFACTS = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".tox/",
    ".venv/",
    "node_modules/",
    ".coverage",
    "*.egg-info/",
    ".DS_Store",
)
_FAST_TMP = Path("/dev/shm")  # noqa: S108 -- scratch in memory: the disk is slow with many small files


class WorkspaceArchive:
    """Builds one tar holding several repositories and the workspace guide files."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        # closed by finish(): the archive is built across several calls
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._buffer, mode="w", format=tarfile.PAX_FORMAT
        )

    def add_repository(self, mirror: Path, name: str, branch: str, commit: str) -> None:
        """Add the commit's tree and a shallow history under `<name>/`."""
        self._add_directory(name)
        tree = run_git(["--git-dir", str(mirror), "archive", "--format=tar", commit])
        with tarfile.open(fileobj=io.BytesIO(tree), mode="r:") as source:
            for member in source:
                data = source.extractfile(member) if member.isfile() else None
                member.name = f"{name}/{member.name}"
                self._tar.addfile(_owned(member), data)
        self._add_history(mirror, name, branch, commit)

    def add_file(self, path: str, text: str) -> None:
        data = text.encode()
        info = _owned(tarfile.TarInfo(path))
        info.size, info.mode = len(data), 0o644
        self._tar.addfile(info, io.BytesIO(data))

    def finish(self) -> bytes:
        self._tar.close()
        return self._buffer.getvalue()

    def _add_directory(self, path: str) -> None:
        info = _owned(tarfile.TarInfo(path))
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        self._tar.addfile(info)

    def _add_history(self, mirror: Path, name: str, branch: str, commit: str) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="fixbot-git-", dir=_scratch_root()))
        try:
            git_dir = scratch / "git"
            run_git(
                [
                    "clone",
                    "--bare",
                    "--quiet",
                    "--depth",
                    str(HISTORY_DEPTH),
                    "--single-branch",
                    "--branch",
                    branch,
                    "--",
                    mirror.resolve().as_uri(),
                    str(git_dir),
                ]
            )
            head = run_git(["--git-dir", str(git_dir), "rev-parse", "HEAD"]).decode().strip()
            if head != commit:
                raise GitError(f"{name}: branch {branch} moved while preparing; retrying helps")
            run_git(["--git-dir", str(git_dir), "config", "core.bare", "false"])
            run_git(["--git-dir", str(git_dir), "remote", "remove", "origin"])
            (git_dir / "info").mkdir(exist_ok=True)
            (git_dir / "info" / "exclude").write_text("\n".join(BUILD_ARTEFACTS) + "\n")
            self._tar.add(str(git_dir), arcname=f"{name}/.git", filter=_owned)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = AGENT_UID
    info.uname = info.gname = "agent"
    return info


def _scratch_root() -> str | None:
    return str(_FAST_TMP) if _FAST_TMP.is_dir() else None
