"""`.fixbot/environment.toml` is read key by key, test counts are read from the runners' own
summaries, and a verification is blamed on the fix only when the fix made things worse."""

from __future__ import annotations

import pytest

from orchestration.environment.runner_counts import runner_counts
from orchestration.environment.spec_file import EnvironmentSpecError, parse_environment
from orchestration.models.environment import (
    NOT_VERIFIED,
    RunnerCounts,
    Verification,
    VerifyRun,
    VerifyStatus,
    verification_lines,
)

SOURCE = ".fixbot/environment.toml at abc123"


def test_a_full_spec_is_read() -> None:
    spec = parse_environment(
        b'[setup]\nrun = ["npm ci"]\negress = ["Registry.npmjs.org", "pypi.org:443"]\n'
        b'lockfiles = ["package-lock.json", "web/yarn.lock"]\ntimeout = "10m"\n'
        b'[verify]\nrun = ["npm test", "npm run lint"]\ntimeout = "15m"\n',
        SOURCE,
    )
    assert spec.setup.run == ["npm ci"]
    assert spec.setup.egress == ["registry.npmjs.org", "pypi.org:443"]
    assert spec.setup.lockfiles == ["package-lock.json", "web/yarn.lock"]
    assert spec.setup.timeout_seconds == 600
    assert spec.verify is not None
    assert (spec.verify.run, spec.verify.timeout_seconds) == (["npm test", "npm run lint"], 900)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[verify]\nrun = 3\n", "verify.run must be a list of command lines"),
        (b"[verify]\nrun = []\n", "verify.run must name at least one command"),
        (b'[verify]\nrun = ["x"]\ntimeout = "soon"\n', "verify.timeout must be a duration"),
        (b'[verify]\nrun = ["x"]\ntimeout = "7h"\n', "verify.timeout is over the limit of 6h"),
        (b'[verify]\nrun = ["x"]\ncommand = "y"\n', "unknown key verify.command"),
        (b'[deploy]\nrun = ["x"]\n', "unknown table [deploy]"),
        (b'[setup]\negress = ["a b"]\n', "setup.egress[0] is not a host or host:port"),
        (b'[verify]\nrun = ["  "]\n', "verify.run[0] is empty"),
        (b'[setup]\nlockfiles = ["../x"]\n', "setup.lockfiles[0] is not a path inside"),
        (b'[setup]\nlockfiles = ["/etc/passwd"]\n', "setup.lockfiles[0] is not a path inside"),
        (b"[verify\n", "not valid TOML"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"#" * 70_000, "over 65,536 bytes"),
    ],
)
def test_a_broken_spec_names_the_file_the_key_and_the_problem(text: bytes, message: str) -> None:
    with pytest.raises(EnvironmentSpecError) as caught:
        parse_environment(text, SOURCE)
    assert str(caught.value).startswith(SOURCE + ": ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("..F\n===== 2 failed, 10 passed, 1 skipped in 0.12s =====", (10, 2, 1, "pytest")),
        ("3 passed, 1 error in 0.5s", (3, 1, 0, "pytest")),
        ("Tests:       1 failed, 2 skipped, 5 passed, 8 total", (5, 1, 2, "jest")),
        ("      Tests  1 failed | 5 passed (6)", (5, 1, 0, "vitest")),
        ("test result: FAILED. 5 passed; 1 failed; 0 ignored; 0 measured", (5, 1, 0, "cargo test")),
        ("# tests 6\n# pass 5\n# fail 1\n# skipped 0", (5, 1, 0, "node --test")),
        ("--- FAIL: TestA (0.00s)\n--- PASS: TestB (0.00s)\nFAIL\tpkg", (1, 1, 0, "go test")),
        ("Ran 5 tests in 0.001s\n\nFAILED (failures=1, errors=1)", (3, 2, 0, "unittest")),
        ("Ran 3 tests in 0.000s\n\nOK", (3, 0, 0, "unittest")),
        ("1 failed in 1s\n4 passed in 2s", (4, 0, 0, "pytest")),  # the last one wins
    ],
)
def test_counts_come_from_the_runners_summary(
    output: str, expected: tuple[int, int, int, str]
) -> None:
    counts = runner_counts(output)
    assert (counts.passed, counts.failed, counts.skipped, counts.runner) == expected


def test_output_without_a_summary_has_no_counts_and_hostile_output_stays_cheap() -> None:
    assert runner_counts("compiling...\nerror: linker failed") == RunnerCounts()
    assert runner_counts("1 passed, " * 100_000).runner == ""  # no " in Ns": not a summary
    assert runner_counts("=" * 1_000_000 + "\n" + "Tests: " + "9 passed " * 50_000).runner == ""


def run(status: VerifyStatus, passed: int | None, failed: int | None) -> VerifyRun:
    exit_code = 0 if status is VerifyStatus.PASSED else 1
    counts = RunnerCounts(passed=passed, failed=failed, runner="pytest")
    return VerifyRun(
        repository="shop", status=status, command="pytest", exit_code=exit_code, counts=counts
    )


FAILED_2 = run(VerifyStatus.FAILED, 10, 2)


@pytest.mark.parametrize(
    ("baseline", "after", "regressed", "line"),
    [
        (FAILED_2, run(VerifyStatus.PASSED, 12, 0), False, "tests: 12 passed (before: 10 passed, 2 failed)"),  # noqa: E501
        (run(VerifyStatus.PASSED, 12, 0), FAILED_2, True, "tests failed after the fix: 10 passed, 2 failed (before: 12 passed)"),  # noqa: E501
        (FAILED_2, run(VerifyStatus.FAILED, 9, 3), True, "tests failed after the fix: 9 passed, 3 failed (before: 10 passed, 2 failed)"),  # noqa: E501
        (FAILED_2, run(VerifyStatus.FAILED, 11, 2), False, "tests: 11 passed, 2 failed (before: 10 passed, 2 failed); these failures are not caused by the fix"),  # noqa: E501
        (None, FAILED_2, True, "tests failed after the fix: 10 passed, 2 failed"),
    ],
)  # fmt: skip
def test_pre_existing_failures_are_not_blamed_on_the_fix(
    baseline: VerifyRun | None, after: VerifyRun, regressed: bool, line: str
) -> None:
    item = Verification(repository="shop", baseline=baseline, after=after)
    assert item.regressed is regressed
    assert verification_lines([item], multi=False) == [line]
    assert verification_lines([item], multi=True) == [f"shop: {line}"]


def test_no_verify_command_is_said_not_guessed() -> None:
    assert verification_lines([], multi=False) == [NOT_VERIFIED]
    assert "README" in NOT_VERIFIED and ".fixbot/environment.toml" in NOT_VERIFIED
