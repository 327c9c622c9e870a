"""Test counts read from where the common runners print them (the output's last lines).

Each runner has one summary shape; the last summary in the output wins, so a runner that is
run twice (or a tool that echoes an old log) cannot hide the latest result. Parsing is one
pass over the lines with anchored patterns: hostile output costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from orchestration.models.environment import RunnerCounts

_PYTEST = re.compile(
    r"^=*\s*((?:[0-9]+ (?:passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)"
    r"(?:, )?)+) in [0-9.]+s"
)
_PYTEST_ITEM = re.compile(r"([0-9]+) (passed|failed|skipped|errors?|xfailed|xpassed)")
_JEST = re.compile(r"^Tests:\s+(.*[0-9]+ total)\s*$")
_VITEST = re.compile(r"^\s*Tests\s+(.*)\(([0-9]+)\)\s*$")
_ITEM = re.compile(r"([0-9]+) (passed|failed|skipped|todo)")
_CARGO = re.compile(r"^test result: \w+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored")
_NODE = re.compile(r"^(?:#|ℹ) (pass|fail|skipped) ([0-9]+)\s*$")
_GO = re.compile(r"^\s*--- (PASS|FAIL|SKIP): ")
_UNITTEST_RAN = re.compile(r"^Ran ([0-9]+) tests? in ")
_UNITTEST_END = re.compile(r"^(OK|FAILED)\b(?: \((.*)\))?")
_UNITTEST_ITEM = re.compile(r"(failures|errors|skipped)=([0-9]+)")


def runner_counts(output: str) -> RunnerCounts:
    """The counts of the last runner summary found in output (empty counts when none)."""
    found = RunnerCounts()
    go, node, unittest = _GoTally(), _NodeTally(), _UnittestTally()
    for line in output.splitlines():
        for reader in _LINE_READERS:
            found = reader(line) or found
        found = unittest.read(line) or found
        go.read(line)
        node.read(line)
    for fallback in (node.counts(), go.counts()):
        if not found.runner:
            found = fallback
    return found


def _pytest(line: str) -> RunnerCounts | None:
    match = _PYTEST.match(line)
    if match is None:
        return None
    items = {kind: int(n) for n, kind in _PYTEST_ITEM.findall(match.group(1))}
    failed = items.get("failed", 0) + items.get("error", 0) + items.get("errors", 0)
    return RunnerCounts(
        passed=items.get("passed", 0),
        failed=failed,
        skipped=items.get("skipped", 0),
        runner="pytest",
    )


def _jest(line: str) -> RunnerCounts | None:
    match = _JEST.match(line)
    return _items(match.group(1), "jest") if match else None


def _vitest(line: str) -> RunnerCounts | None:
    match = _VITEST.match(line)
    return _items(match.group(1), "vitest") if match else None


def _items(text: str, runner: str) -> RunnerCounts:
    items = {kind: int(n) for n, kind in _ITEM.findall(text)}
    skipped = items.get("skipped", 0) + items.get("todo", 0)
    return RunnerCounts(
        passed=items.get("passed", 0),
        failed=items.get("failed", 0),
        skipped=skipped,
        runner=runner,
    )


def _cargo(line: str) -> RunnerCounts | None:
    match = _CARGO.match(line)
    if match is None:
        return None
    passed, failed, ignored = (int(n) for n in match.groups())
    return RunnerCounts(passed=passed, failed=failed, skipped=ignored, runner="cargo test")


class _NodeTally:
    """node --test ends with `# pass N`, `# fail N`, `# skipped N` (U+2139 for `#` in the spec
    reporter) on lines of their own."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def read(self, line: str) -> None:
        match = _NODE.match(line)
        if match is not None:
            self.values[match.group(1)] = int(match.group(2))

    def counts(self) -> RunnerCounts:
        if "pass" not in self.values or "fail" not in self.values:
            return RunnerCounts()
        return RunnerCounts(
            passed=self.values["pass"],
            failed=self.values["fail"],
            skipped=self.values.get("skipped", 0),
            runner="node --test",
        )


class _GoTally:
    """go test -v prints a line per test; without -v only failures are listed."""

    def __init__(self) -> None:
        self.passed = self.failed = self.skipped = 0

    def read(self, line: str) -> None:
        match = _GO.match(line)
        if match is None:
            return
        kind = match.group(1)
        if kind == "PASS":
            self.passed += 1
        elif kind == "FAIL":
            self.failed += 1
        else:
            self.skipped += 1

    def counts(self) -> RunnerCounts:
        if not (self.passed or self.failed or self.skipped):
            return RunnerCounts()
        passed = self.passed if self.passed else None
        return RunnerCounts(
            passed=passed, failed=self.failed, skipped=self.skipped, runner="go test"
        )


class _UnittestTally:
    """`Ran N tests` followed by `OK` or `FAILED (failures=1, errors=2)`."""

    def __init__(self) -> None:
        self.ran: int | None = None

    def read(self, line: str) -> RunnerCounts | None:
        started = _UNITTEST_RAN.match(line)
        if started is not None:
            self.ran = int(started.group(1))
            return None
        end = _UNITTEST_END.match(line)
        if end is None or self.ran is None:
            return None
        items = {kind: int(n) for kind, n in _UNITTEST_ITEM.findall(end.group(2) or "")}
        failed = items.get("failures", 0) + items.get("errors", 0)
        skipped = items.get("skipped", 0)
        total, self.ran = self.ran, None
        passed = max(total - failed - skipped, 0)
        return RunnerCounts(passed=passed, failed=failed, skipped=skipped, runner="unittest")


_LINE_READERS: tuple[Callable[[str], RunnerCounts | None], ...] = (_pytest, _jest, _vitest, _cargo)
