"""The demo's repository: a small shop with a real bug, a failing test, and the scripted fix."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from orchestration.testing.scripted_model import ModelScript, ScriptStep

REPO_NAME = "shop"

PRICING = '''\
"""Prices for the shop's checkout."""


def apply_discount(price_cents: int, percent: int) -> int:
    """The price after a percentage discount, rounded to the nearest cent."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return round(price_cents * (100 + percent) / 100)


def order_total(prices_cents: list[int], percent: int = 0) -> int:
    """The total of an order, each line discounted."""
    return sum(apply_discount(p, percent) for p in prices_cents)
'''

TESTS = """\
import unittest

from pricing import apply_discount, order_total


class DiscountTest(unittest.TestCase):
    def test_no_discount_keeps_the_price(self):
        self.assertEqual(apply_discount(1000, 0), 1000)

    def test_discount_lowers_the_price(self):
        self.assertEqual(apply_discount(1000, 25), 750)

    def test_order_total_applies_the_discount_to_each_line(self):
        self.assertEqual(order_total([1000, 2000], 10), 2700)


if __name__ == "__main__":
    unittest.main()
"""

README = "# shop\n\nCheckout pricing. Run the tests with `python3 -m unittest`.\n"

# fixbot runs the tests itself, before the agent and on its fix (no setup: stdlib only)
ENVIRONMENT = """\
[verify]
run = ["python3 -m unittest"]
timeout = "2m"
"""

BUG_TITLE = "Discounts make prices higher instead of lower"
BUG_DESCRIPTION = (
    "A customer with a 25% coupon was charged $12.50 for a $10.00 item. "
    "The test suite fails in test_discount_lowers_the_price."
)

BUGGY_LINE = "    return round(price_cents * (100 + percent) / 100)"
FIXED_LINE = "    return round(price_cents * (100 - percent) / 100)"


def create_demo_repository(parent: Path) -> Path:
    """A fresh git repository with the bug committed on main."""
    repo = parent / REPO_NAME
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    (repo / "pricing.py").write_text(PRICING)
    (repo / "test_pricing.py").write_text(TESTS)
    (repo / "README.md").write_text(README)
    (repo / ".gitignore").write_text("__pycache__/\n")
    (repo / ".fixbot").mkdir()
    (repo / ".fixbot" / "environment.toml").write_text(ENVIRONMENT)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "--all")
    _git(
        repo,
        "-c",
        "user.name=demo",
        "-c",
        "user.email=demo@example.invalid",
        "commit",
        "--quiet",
        "-m",
        "Checkout pricing",
    )
    return repo


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def scripted_fix() -> ModelScript:
    """What the offline model does: read, reproduce, fix, re-run the tests, report."""
    root = f"/workspace/{REPO_NAME}"
    run_tests = f"cd {root} && python3 -m unittest -v 2>&1 | tail -n 15"
    return ModelScript(
        steps=[
            ScriptStep(
                text="I'll start by running the tests to see the failure.",
                tool="Bash",
                input={"command": run_tests, "description": "Run the test suite"},
            ),
            ScriptStep(tool="Read", input={"file_path": f"{root}/pricing.py"}),
            ScriptStep(
                text="The discount is added instead of subtracted.",
                tool="Edit",
                input={
                    "file_path": f"{root}/pricing.py",
                    "old_string": BUGGY_LINE,
                    "new_string": FIXED_LINE,
                },
            ),
            ScriptStep(
                tool="Bash", input={"command": run_tests, "description": "Re-run the tests"}
            ),
            ScriptStep(
                tool="StructuredOutput",
                input={
                    "outcome": "fixed",
                    "summary": "apply_discount added the percentage to the price instead of "
                    "subtracting "
                    "it; it now multiplies by (100 - percent). All tests pass.",
                },
            ),
        ]
    )
