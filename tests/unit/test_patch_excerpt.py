"""The patch's first lines that events carry to the approval card: bounded, and honest about
being only the first lines."""

from __future__ import annotations

from orchestration.models.events import (
    EXCERPT_CHARS,
    EXCERPT_LINE_CHARS,
    EXCERPT_LINES,
    patch_excerpt,
)


def test_the_patch_excerpt_keeps_whole_first_lines_within_its_bounds() -> None:
    """Up to EXCERPT_LINES lines, no line past EXCERPT_LINE_CHARS, EXCERPT_CHARS in all, and
    it says when that is not the whole patch."""
    assert patch_excerpt("-a\n+b\n") == ("-a\n+b", False)
    many, cut = patch_excerpt("".join(f"+{n}\n" for n in range(EXCERPT_LINES + 5)))
    assert cut and many.splitlines() == [f"+{n}" for n in range(EXCERPT_LINES)]
    long, cut = patch_excerpt("+" + "x" * 5000 + "\n")
    assert cut and len(long) == EXCERPT_LINE_CHARS + 1 and long.endswith("…")
    wide, cut = patch_excerpt("".join("+" + "y" * 150 + "\n" for _ in range(30)))
    assert cut and len(wide) <= EXCERPT_CHARS
