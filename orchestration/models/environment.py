"""A repository's environment spec and what fixbot's own verification of a fix found."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from orchestration.models.task import TaskInput

SPEC_PATH = ".fixbot/environment.toml"
FORMAT_POINTER = "see the README, 'Repository environments'"


class SetupSpec(BaseModel):
    """Commands that install what the repository's checks need (run with registry access)."""

    run: list[str] = Field(default_factory=list)
    egress: list[str] = Field(default_factory=list)  # host or host:port
    # files whose content decides the environment (a change rebuilds it); none named: the
    # well-known lockfiles found at the repository's root
    lockfiles: list[str] = Field(default_factory=list)
    timeout_seconds: int = 30 * 60


class VerifySpec(BaseModel):
    """The repository's own checks, run by fixbot with no network."""

    run: list[str]
    timeout_seconds: int = 15 * 60


class EnvironmentSpec(BaseModel):
    """`.fixbot/environment.toml`, or the operator's spec for the repository."""

    setup: SetupSpec = Field(default_factory=SetupSpec)
    verify: VerifySpec | None = None
    source: str = SPEC_PATH  # where it came from, for messages
    from_operator: bool = False  # fixbot's configuration, not the repository: trusted


class RunnerCounts(BaseModel):
    """What a test runner printed about its tests; None where it said nothing."""

    passed: int | None = None
    failed: int | None = None
    skipped: int | None = None
    runner: str = ""  # "pytest", "go test", ...


class VerifyStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class VerifyRun(BaseModel):
    """One run of a repository's verify commands in the sandbox."""

    repository: str
    status: VerifyStatus
    command: str  # the first command that failed, or the last one run
    exit_code: int
    counts: RunnerCounts = Field(default_factory=RunnerCounts)
    output_tail: str = ""  # the last lines of the output, redacted
    seconds: float = 0.0


class VerifyPhase(StrEnum):
    BASELINE = "baseline"  # the untouched tree, before the agent starts
    AFTER_FIX = "after_fix"


class Verification(BaseModel):
    """A repository's verification: the baseline, the latest run after a fix, and how many
    repair rounds the agent was given."""

    repository: str
    baseline: VerifyRun | None = None
    after: VerifyRun | None = None
    repairs: int = 0

    @property
    def regressed(self) -> bool:
        """The fix made things worse than the baseline (pre-existing failures are not the
        fix's fault): it fails where the baseline passed, or fails more tests."""
        after = self.after
        if after is None or after.status is VerifyStatus.PASSED:
            return False
        base = self.baseline
        if base is None or base.status is VerifyStatus.PASSED:
            return True
        if after.status is VerifyStatus.TIMED_OUT and base.status is not VerifyStatus.TIMED_OUT:
            return True
        before_failed, now_failed = base.counts.failed, after.counts.failed
        if before_failed is None or now_failed is None:
            return False  # both failing, no counts to compare: not blamed on the fix
        return now_failed > before_failed


class VerifyTarget(BaseModel):
    """One repository to verify: where it is prepared and what to run."""

    repository: str  # the prepared repository's name
    commit: str
    verify: VerifySpec
    patch: str = ""  # the fix to apply first (none for the baseline)
    snapshot: str | None = None  # the set-up environment to restore first


class EnvironmentReady(BaseModel):
    """A repository's environment, restored into the task's sandbox."""

    repository: str
    snapshot: str  # its key in the snapshot store
    built: bool  # False: an earlier task's snapshot was reused
    setup_seconds: float  # the setup commands' own time when it was built
    size_bytes: int


class SetupReport(BaseModel):
    environments: list[EnvironmentReady] = Field(default_factory=list)
    skipped: str | None = None  # why setup failed and the task goes on unverified


class VerifyRequest(BaseModel):
    """Run the verify commands in a fresh sandbox of their own, on the base commit with the
    fix applied: nothing the agent left behind in its sandbox can touch the result."""

    task: TaskInput
    workflow_id: str
    phase: VerifyPhase
    commits: dict[str, str]  # every prepared repository's commit, by name
    targets: list[VerifyTarget]


class VerifyReport(BaseModel):
    runs: list[VerifyRun] = Field(default_factory=list)


NOT_VERIFIED = f"not verified: the repository has no verify command ({SPEC_PATH}; {FORMAT_POINTER})"


def counts_text(run: VerifyRun) -> str:
    """`212 passed, 3 failed` from the runner's counts, or what the command's exit says."""
    c = run.counts
    parts = [f"{n} {word}" for n, word in ((c.passed, "passed"), (c.failed, "failed")) if n]
    if c.skipped:
        parts.append(f"{c.skipped} skipped")
    if parts:
        return ", ".join(parts)
    if run.status is VerifyStatus.TIMED_OUT:
        return "timed out"
    return "passed" if run.exit_code == 0 else f"exit {run.exit_code}"


def verification_line(item: Verification) -> str:
    """One repository's verification for people: the card, the PR body, the CLI."""
    after = item.after
    if after is None:
        return "not verified: the fix was not checked"
    before = f" (before: {counts_text(item.baseline)})" if item.baseline is not None else ""
    repaired = f" after {item.repairs} repair round{'s' if item.repairs != 1 else ''}"
    repaired = repaired if item.repairs else ""
    if after.status is VerifyStatus.PASSED:
        return f"tests: {counts_text(after)}{before}{repaired}"
    if item.regressed:
        return f"tests failed after the fix: {counts_text(after)}{before}{repaired}"
    return f"tests: {counts_text(after)}{before}; these failures are not caused by the fix"


def verification_lines(
    items: list[Verification], multi: bool, note: str | None = None
) -> list[str]:
    """Each repository's line (named when the task has several), or why there is none."""
    if not items:
        return [note or NOT_VERIFIED]
    return [(f"{v.repository}: " if multi else "") + verification_line(v) for v in items]
