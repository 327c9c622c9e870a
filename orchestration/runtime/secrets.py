"""Reading a secret setting's value where it is handed to a client, and nowhere else."""

from __future__ import annotations


def secret_value(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter else None
