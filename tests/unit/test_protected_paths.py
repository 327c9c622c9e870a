"""Protected paths are checked on the entries a push would write: symlinks, submodules and
case variants included, each refusal saying which path and why."""

from __future__ import annotations

import pytest

from orchestration.policy.protected_paths import TreeEntry, violations

PROTECTED = [".github/workflows/", "Makefile"]


def link(path: str, target: str) -> TreeEntry:
    return TreeEntry(path=path, mode="120000", link_target=target)


@pytest.mark.parametrize(
    ("entry", "refusal"),
    [
        (TreeEntry(".github/workflows/ci.yml", "100644"), ".github/workflows/ci.yml"),
        (TreeEntry(".github/workflows/old.yml", ""), ".github/workflows/old.yml"),
        (
            TreeEntry(".GitHub/Workflows/ci.yml", "100644"),
            ".GitHub/Workflows/ci.yml (a case variant of a protected path)",
        ),
        (TreeEntry("vendor/lib", "160000"), "vendor/lib (a submodule entry)"),
        (
            link("docs/ci", "../.github/workflows"),
            "docs/ci (a symlink into a protected path (.github/workflows))",
        ),
        (
            link("docs/gh", "../.github"),
            "docs/gh (a symlink into a protected path (.github))",
        ),
        (link("build", "Makefile"), "build (a symlink into a protected path (Makefile))"),
        (link("root", "."), "root (a symlink into a protected path (.))"),
        (link("etc", "/etc/passwd"), "etc (a symlink to '/etc/passwd', outside the repository)"),
        (link("a/up", "../../x"), "a/up (a symlink to '../../x', outside the repository)"),
    ],
)
def test_each_way_to_touch_a_protected_path_is_refused_saying_why(
    entry: TreeEntry, refusal: str
) -> None:
    assert violations([entry], PROTECTED) == [refusal]


@pytest.mark.parametrize(
    "entry",
    [
        TreeEntry("src/app.py", "100644"),
        TreeEntry("bin/run", "100755"),
        link("docs/readme", "../README.md"),
        link("src/current", "v2"),
        TreeEntry("github/workflows.md", "100644"),
    ],
)
def test_ordinary_entries_pass(entry: TreeEntry) -> None:
    assert violations([entry], PROTECTED) == []
