"""Which snapshot a repository's environment is: a digest of everything that decides it.

The base image's content id, the repository, its setup spec and the content of the lockfiles
the spec names (or, when it names none, the well-known ones at the repository's root) go in.
A changed lockfile is a new key, so the environment is built again; anything else in the
repository can change without a rebuild. Lockfile content is read as git blob ids from the
mirror: exact, and nothing is read into memory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from orchestration.models.environment import SetupSpec
from orchestration.workspace.git import run_git

KEY_FORMAT = 1  # bump when what a snapshot holds changes
WELL_KNOWN_LOCKFILES = (
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "go.mod",
    "go.sum",
    "Cargo.toml",
    "Cargo.lock",
    "Gemfile.lock",
    "composer.lock",
)


def lockfile_blobs(mirror: Path, commit: str, setup: SetupSpec) -> dict[str, str]:
    """Each lockfile present at commit, by path, with its blob id."""
    names = setup.lockfiles or list(WELL_KNOWN_LOCKFILES)
    listing = run_git(["--git-dir", str(mirror), "ls-tree", "-z", commit, "--", *names])
    blobs: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        _mode, kind, blob = meta.split(b" ")
        if kind == b"blob":
            blobs[path.decode(errors="replace")] = blob.decode()
    return blobs


def snapshot_key(image_id: str, url: str, setup: SetupSpec, lockfiles: dict[str, str]) -> str:
    """The environment's key: a sha256 hex digest."""
    decided_by = {
        "format": KEY_FORMAT,
        "image": image_id,
        "repository": url,
        "setup": setup.model_dump(),
        "lockfiles": lockfiles,
    }
    return hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()
