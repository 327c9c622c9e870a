"""Reading `.fixbot/environment.toml`: hostile text from the repository, checked key by key.

Every refusal names the file, the key and the problem, so the person who wrote the file can
fix it from the message alone.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from orchestration.models.environment import EnvironmentSpec, SetupSpec, VerifySpec

MAX_SPEC_BYTES = 64 * 1024
MAX_COMMANDS = 20
MAX_COMMAND_CHARS = 4096
MAX_EGRESS_HOSTS = 50
MAX_TIMEOUT_SECONDS = 6 * 3600
_DURATION = re.compile(r"([1-9][0-9]{0,5})(s|m|h)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?")
_KEYS = {"setup": {"run", "egress", "lockfiles", "timeout"}, "verify": {"run", "timeout"}}
_LOCKFILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.@+-]*){0,15}")
MAX_LOCKFILES = 20


class EnvironmentSpecError(ValueError):
    """The spec cannot be used; the message names the file, the key and the problem."""


def parse_environment(data: bytes, source: str) -> EnvironmentSpec:
    """The spec in data (the file's bytes), or EnvironmentSpecError saying what is wrong."""
    if len(data) > MAX_SPEC_BYTES:
        raise EnvironmentSpecError(f"{source}: the file is over {MAX_SPEC_BYTES:,} bytes")
    try:
        document = tomllib.loads(data.decode())
    except UnicodeDecodeError:
        raise EnvironmentSpecError(f"{source}: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise EnvironmentSpecError(f"{source}: not valid TOML: {exc}") from None
    return spec_from_document(document, source)


def spec_from_document(document: dict[str, Any], source: str) -> EnvironmentSpec:
    """The spec from an already parsed TOML document (the operator's files use this too)."""
    _known_keys(document, source)
    setup = document.get("setup", {})
    verify = document.get("verify")
    return EnvironmentSpec(
        setup=SetupSpec(
            run=_commands(setup, "setup", source),
            egress=_hosts(setup.get("egress", []), source),
            lockfiles=_lockfiles(setup.get("lockfiles", []), source),
            timeout_seconds=parse_duration(setup.get("timeout", "30m"), "setup.timeout", source),
        ),
        verify=_verify(verify, source) if verify is not None else None,
        source=source,
    )


def parse_duration(value: object, key: str, source: str) -> int:
    """Seconds of "90s", "15m", "2h" (or a bare number of seconds)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise EnvironmentSpecError(
            f'{source}: {key} must be a duration such as "90s", "15m" or "1h", not {value!r:.60}'
        )
    if seconds > MAX_TIMEOUT_SECONDS:
        raise EnvironmentSpecError(f"{source}: {key} is over the limit of 6h")
    return seconds


def _known_keys(document: dict[str, Any], source: str) -> None:
    for table, value in document.items():
        if table not in _KEYS:
            raise EnvironmentSpecError(
                f"{source}: unknown table [{table:.60}] (known: [setup], [verify])"
            )
        if not isinstance(value, dict):
            raise EnvironmentSpecError(f"{source}: {table} must be a table, [{table}]")
        for key in value:
            if key not in _KEYS[table]:
                known = ", ".join(sorted(_KEYS[table]))
                raise EnvironmentSpecError(
                    f"{source}: unknown key {table}.{key:.60} (known in [{table}]: {known})"
                )


def _verify(table: dict[str, Any], source: str) -> VerifySpec:
    commands = _commands(table, "verify", source)
    if not commands:
        raise EnvironmentSpecError(f"{source}: verify.run must name at least one command")
    timeout = parse_duration(table.get("timeout", "15m"), "verify.timeout", source)
    return VerifySpec(run=commands, timeout_seconds=timeout)


def _commands(table: dict[str, Any], name: str, source: str) -> list[str]:
    key = f"{name}.run"
    value = table.get("run", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EnvironmentSpecError(f'{source}: {key} must be a list of command lines, ["..."]')
    if len(value) > MAX_COMMANDS:
        raise EnvironmentSpecError(f"{source}: {key} has more than {MAX_COMMANDS} commands")
    for index, line in enumerate(value):
        if not line.strip():
            raise EnvironmentSpecError(f"{source}: {key}[{index}] is empty")
        if len(line) > MAX_COMMAND_CHARS or "\0" in line:
            raise EnvironmentSpecError(
                f"{source}: {key}[{index}] is over {MAX_COMMAND_CHARS} characters or has a NUL"
            )
    return list(value)


def _hosts(value: object, source: str) -> list[str]:
    hosts = _string_list(value, "setup.egress", "hosts", MAX_EGRESS_HOSTS, source)
    for index, host in enumerate(hosts):
        if not _HOST.fullmatch(host):
            raise EnvironmentSpecError(
                f"{source}: setup.egress[{index}] is not a host or host:port: {host!r:.80}"
            )
    return [host.lower() for host in hosts]


def _lockfiles(value: object, source: str) -> list[str]:
    paths = _string_list(value, "setup.lockfiles", "paths", MAX_LOCKFILES, source)
    for index, path in enumerate(paths):
        if not _LOCKFILE.fullmatch(path) or ".." in path.split("/"):
            raise EnvironmentSpecError(
                f"{source}: setup.lockfiles[{index}] is not a path inside the repository: "
                f"{path!r:.80}"
            )
    return paths


def _string_list(value: object, key: str, what: str, limit: int, source: str) -> list[str]:
    """value as a list of at most `limit` strings, or the refusal naming key."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EnvironmentSpecError(f'{source}: {key} must be a list of {what}, ["..."]')
    if len(value) > limit:
        raise EnvironmentSpecError(f"{source}: {key} names more than {limit}")
    return list(value)
