"""Whether the cluster knows fixbot's search attributes, and the command that registers them.

The embedded dev server registers them itself. A cluster (or Temporal Cloud) must have them
added once by an operator; until then starting a task is refused by the server and a listing
query cannot name them. Both cases become SearchAttributesMissing, whose message is the
exact `temporal` command to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from orchestration.models.index import SEARCH_ATTRIBUTES, type_name


class SearchAttributesMissing(RuntimeError):
    """The namespace lacks fixbot's search attributes; the message says how to add them."""


def looks_unregistered(exc: RPCError) -> bool:
    """The server's refusal of a start or a query that names an unknown search attribute."""
    return exc.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in exc.message


def registration_command(
    missing: Sequence[SearchAttributeKey[Any]], namespace: str, address: str
) -> str:
    """One `temporal operator search-attribute create` line per attribute: given several
    --name flags and one --type, the CLI (1.9) registers only the first name."""
    return "\n".join(
        f"temporal operator search-attribute create --address {address} "
        f"--namespace {namespace} --name {key.name} --type {type_name(key.indexed_value_type)}"
        for key in missing
    )


async def registered_types(client: Client) -> dict[str, int] | None:
    """The namespace's custom search attributes and their type numbers; None when the server
    will not say (no permission to list them): then the caller goes ahead regardless."""
    request = ListSearchAttributesRequest(namespace=client.namespace)
    try:
        response = await client.operator_service.list_search_attributes(request)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            return None
        raise
    return dict(response.custom_attributes)


async def ensure_registered(client: Client) -> None:
    """Raise SearchAttributesMissing, naming the command to run, unless every attribute is
    registered with fixbot's type."""
    known = await registered_types(client)
    if known is None:
        return
    _refuse_wrong_types(known)
    missing = [k for k in SEARCH_ATTRIBUTES if k.name not in known]
    if not missing:
        return
    address = client.service_client.config.target_host
    names = ", ".join(f"{k.name} ({type_name(k.indexed_value_type)})" for k in missing)
    raise SearchAttributesMissing(
        f"namespace {client.namespace!r} lacks fixbot's search attributes {names}; "
        "register them once with:\n"
        + registration_command(missing, client.namespace, address)
        + "\n(Temporal Cloud: `tcld namespace search-attributes add`, same names and types)"
    )


def _refuse_wrong_types(known: dict[str, int]) -> None:
    """An attribute of fixbot's name but another type cannot be fixed by registering it."""
    wrong = [
        f"{k.name} is a {type_name(known[k.name])}, fixbot needs {type_name(k.indexed_value_type)}"
        for k in SEARCH_ATTRIBUTES
        if k.name in known and known[k.name] != int(k.indexed_value_type)
    ]
    if wrong:
        raise SearchAttributesMissing(
            "search attributes registered with the wrong type: " + "; ".join(wrong)
        )


async def register_search_attributes(client: Client) -> None:
    """Add fixbot's attributes through the operator API: for servers that cannot take them on
    the command line, such as the time-skipping test server."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in SEARCH_ATTRIBUTES
            },
        )
    )
