"""orchestration.workspace.changes: numstat parsing and one repository's change."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestration.models import FileChange, RepositorySpec
from orchestration.workspace.changes import (
    MAX_PATCH_BYTES,
    ChangeNotText,
    ChangeTooLarge,
    numstat_argv,
    parse_numstat,
    patch_argv,
    repository_change,
    stage_argv,
)

REPO = RepositorySpec(url="https://github.com/acme/calc", branch="main", name="calc")
BASE = "a" * 40
PATCH = (
    b"diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n"
    b"@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
)
NUMSTAT = b"1\t1\tcalc.py\0"


def test_parse_numstat_counts_lines() -> None:
    """Each NUL-terminated record gives a path with its added and deleted line counts."""
    output = b"3\t1\tsrc/a.py\x0010\t0\tREADME.md\x00"
    assert parse_numstat(output) == [
        FileChange(path="src/a.py", additions=3, deletions=1),
        FileChange(path="README.md", additions=10, deletions=0),
    ]


def test_parse_numstat_binary_file_counts_zero() -> None:
    """A binary file (`-<TAB>-<TAB>path`) is listed with zero additions and deletions."""
    assert parse_numstat(b"-\t-\tlogo.png\x001\t0\ta.txt\x00") == [
        FileChange(path="logo.png", additions=0, deletions=0),
        FileChange(path="a.txt", additions=1, deletions=0),
    ]


def test_parse_numstat_keeps_tabs_spaces_and_newlines_in_paths() -> None:
    """With -z, paths are raw: a tab, spaces or a newline stay part of the path."""
    output = b"2\t0\tdir with space/a\tb.txt\x001\t1\tline\nbreak.md\x00"
    assert [f.path for f in parse_numstat(output)] == ["dir with space/a\tb.txt", "line\nbreak.md"]
    assert parse_numstat(output)[0].additions == 2


def test_parse_numstat_empty_output_is_no_files() -> None:
    """No output (nothing changed) parses to an empty list."""
    assert parse_numstat(b"") == []


def test_parse_numstat_non_utf8_path_does_not_crash() -> None:
    """A path that is not UTF-8 is kept, with the bad byte replaced."""
    [change] = parse_numstat(b"1\t0\tcaf\xe9.txt\x00")
    assert change.path == "caf\ufffd.txt"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_parse_numstat_on_real_git_output(tmp_path: Path) -> None:
    """The argv builders run against a real repository and their output parses as expected."""
    env = {
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": str(Path(shutil.which("git") or "/usr/bin/git").parent),
    }

    def git(*argv: str) -> bytes:
        return subprocess.run(argv, check=True, capture_output=True, env=env).stdout

    repo = tmp_path / "calc"
    repo.mkdir()
    git("git", "-C", str(repo), "init", "-q")
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git("git", "-C", str(repo), "add", "--all")
    git("git", "-C", str(repo), "commit", "-q", "-m", "base")
    base = git("git", "-C", str(repo), "rev-parse", "HEAD").decode().strip()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "odd\tname .txt").write_text("x\n")
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02binary")

    git(*stage_argv(str(repo)))
    numstat = git(*numstat_argv(str(repo), base))
    patch = git(*patch_argv(str(repo), base))
    change = repository_change(REPO, base, numstat, patch)

    assert change is not None
    assert sorted((f.path, f.additions, f.deletions) for f in change.files) == [
        ("blob.bin", 0, 0),
        ("calc.py", 1, 1),
        ("odd\tname .txt", 1, 0),
    ]
    assert change.base_commit == base
    assert "GIT binary patch" in change.patch
    assert change.diffstat == "3 file(s) changed, +2 -1"


def test_no_files_means_no_change() -> None:
    """An empty numstat returns None, whatever the patch holds."""
    assert repository_change(REPO, BASE, b"", b"") is None
    assert repository_change(REPO, BASE, b"", b"x" * (MAX_PATCH_BYTES + 1)) is None


def test_change_carries_patch_and_its_sha256() -> None:
    """A change holds the patch text, its files and the sha256 of the patch bytes."""
    change = repository_change(REPO, BASE, NUMSTAT, PATCH)
    assert change is not None
    assert change.repository == REPO
    assert change.base_commit == BASE
    assert change.files == [FileChange(path="calc.py", additions=1, deletions=1)]
    assert change.patch == PATCH.decode()
    assert change.patch_sha256 == hashlib.sha256(PATCH).hexdigest()
    assert change.diffstat == "1 file(s) changed, +1 -1"


def test_patch_at_the_limit_is_accepted() -> None:
    """A patch of exactly MAX_PATCH_BYTES is still carried."""
    patch = PATCH + b"+" * (MAX_PATCH_BYTES - len(PATCH))
    change = repository_change(REPO, BASE, NUMSTAT, patch)
    assert change is not None
    assert len(change.patch) == MAX_PATCH_BYTES


def test_patch_over_the_limit_is_refused_naming_the_repository() -> None:
    """A patch one byte over MAX_PATCH_BYTES raises ChangeTooLarge naming the repository."""
    with pytest.raises(ChangeTooLarge) as caught:
        repository_change(REPO, BASE, NUMSTAT, b"+" * (MAX_PATCH_BYTES + 1))
    assert str(caught.value).startswith("calc: the change is 1,000,001 bytes")
    assert not isinstance(caught.value, ChangeNotText)


def test_non_utf8_patch_is_refused_clearly() -> None:
    """A patch of a latin-1 text file raises ChangeNotText (a ChangeTooLarge) naming the repo."""
    patch = PATCH + b"+caf\xe9\n"
    with pytest.raises(ChangeTooLarge) as caught:
        repository_change(REPO, BASE, NUMSTAT, patch)
    assert isinstance(caught.value, ChangeNotText)
    assert str(caught.value).startswith("calc: the change is not UTF-8 text")


def test_argv_builders_end_options_before_paths() -> None:
    """numstat and patch commands end in `--`, diff the index, and disable renames."""
    numstat = numstat_argv("/workspace/calc", BASE)
    patch = patch_argv("/workspace/calc", BASE)
    for argv in (numstat, patch):
        assert argv[:3] == ["git", "-C", "/workspace/calc"]
        assert argv[-2:] == [BASE, "--"]
        assert {"--cached", "--no-renames"} <= set(argv)
    assert "-z" in numstat
    assert {"--binary", "--full-index", "--no-ext-diff", "--no-color"} <= set(patch)
    assert stage_argv("/workspace/calc") == ["git", "-C", "/workspace/calc", "add", "--all"]
