"""The folders say where code runs; these tests hold the code to what the folders say.

Imports are read from the source (every `import` and `from … import`, including those inside
functions), so a rule is broken the moment someone writes the import, not when it first runs.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "orchestration", "sandbox")
# what deterministic code may take from the standard library (no clock, files, processes)
PURE_STDLIB = {"__future__", "asyncio", "collections", "dataclasses", "datetime", "enum", "typing"}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


MODULES = dict(_modules())
# `from orchestration.activities import contracts` names the (empty) package as well
PACKAGE_ROOTS = {"orchestration", "orchestration.activities"}


def imports_of(path: Path) -> set[str]:
    """Every absolute module name a file imports, wherever in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _inside(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def breaking(owners: Callable[[str], bool], forbidden: tuple[str, ...]) -> list[str]:
    """`module -> import` pairs where a module that `owners` picks imports something
    forbidden."""
    return [
        f"{module} -> {imported}"
        for module, path in MODULES.items()
        if owners(module)
        for imported in sorted(imports_of(path))
        if _inside(imported, forbidden)
    ]


def under(*prefixes: str) -> Callable[[str], bool]:
    return lambda module: _inside(module, prefixes)


def outside(*prefixes: str) -> Callable[[str], bool]:
    return lambda module: not _inside(module, prefixes)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module: str) -> None:
    """No module refers to a name or module that is gone (a moved file, a typo)."""
    importlib.import_module(module)


def test_front_ends_reach_the_back_end_only_through_client_and_runtime_entry_points() -> None:
    """bot/ never imports activities, proxies, agents, workflows, worker wiring or Docker."""
    forbidden = (
        "orchestration.activities",
        "orchestration.proxies",
        "orchestration.agents",
        "orchestration.workflows",
        "orchestration.runtime.worker",
        "orchestration.runtime.services",
        "orchestration.runtime.forges",
        "sandbox.docker_backend",
        "docker",
        "github",
    )
    assert breaking(under("bot"), forbidden) == []


def test_workflow_code_imports_only_deterministic_things() -> None:
    """orchestration/workflows/ imports models, pure rules, activity contracts, temporalio
    and the pure parts of the standard library: nothing that does I/O."""
    allowed = (
        "orchestration.models",
        "orchestration.policy",
        "orchestration.activities.contracts",
        "orchestration.workflows",
        "temporalio",
        "pydantic",
    )
    bad = [
        f"{module} -> {imported}"
        for module, path in MODULES.items()
        if _inside(module, ("orchestration.workflows",))
        for imported in sorted(imports_of(path))
        if not _inside(imported, allowed)
        and imported not in PACKAGE_ROOTS
        and imported.partition(".")[0] not in PURE_STDLIB
    ]
    assert bad == []


def test_models_and_policy_are_pure() -> None:
    """The vocabulary and the input rules import no I/O library and no code that does I/O."""
    forbidden = (
        "orchestration.activities",
        "orchestration.client",
        "orchestration.runtime",
        "orchestration.proxies",
        "orchestration.workflows",
        "sandbox",
        "docker",
        "github",
        "slack_sdk",
        "slack_bolt",
        "aiohttp",
        "structlog",
        "subprocess",
    )
    assert breaking(under("orchestration.models", "orchestration.policy"), forbidden) == []


def test_only_runtime_names_the_claude_runner() -> None:
    """Claude Code sits behind the agent-runner port: outside its package, only the
    composition root picks it."""
    claude = "orchestration.agents.claude"
    importers = {pair.split(" -> ")[0] for pair in breaking(outside(claude), (claude,))}
    assert importers == {"orchestration.runtime.worker"}


def test_one_module_family_each_imports_docker_and_github() -> None:
    """Docker only in the Docker backend; PyGithub only in the GitHub forge."""
    assert breaking(outside("sandbox.docker_backend"), ("docker",)) == []
    assert breaking(outside("orchestration.forge.github_forge"), ("github",)) == []
