"""The operator's environment specs: one TOML file, a table per repository URL.

    [repositories."https://github.com/acme/shop".verify]
    run = ["python -m pytest -q"]
    timeout = "10m"

A spec here wins over the repository's own `.fixbot/environment.toml`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from orchestration.environment.spec_file import EnvironmentSpecError, spec_from_document
from orchestration.models.environment import EnvironmentSpec


def operator_specs(path: Path | None) -> dict[str, EnvironmentSpec]:
    """The specs in path by repository URL (none without a file); errors name file and key."""
    if path is None:
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EnvironmentSpecError(f"{path}: cannot be read: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EnvironmentSpecError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"repositories"})
    if unknown:
        raise EnvironmentSpecError(f"{path}: unknown table [{unknown[0]}] (known: [repositories])")
    repositories = document.get("repositories", {})
    if not isinstance(repositories, dict):
        raise EnvironmentSpecError(f"{path}: repositories must be a table")
    specs: dict[str, EnvironmentSpec] = {}
    for url, table in repositories.items():
        source = f'{path} [repositories."{url}"]'
        if not isinstance(table, dict):
            raise EnvironmentSpecError(f"{source}: must be a table")
        specs[url] = spec_from_document(table, source).model_copy(update={"from_operator": True})
    return specs
