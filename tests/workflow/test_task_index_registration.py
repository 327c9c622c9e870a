"""Against a server without fixbot's search attributes, starting and listing name the fix."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestration.client.gateway import TaskGateway, workflow_id
from orchestration.client.registration import (
    SearchAttributesMissing,
    ensure_registered,
    registered_types,
)
from orchestration.client.task_index import TaskFilter, TaskIndexReader
from orchestration.models.index import SEARCH_ATTRIBUTES
from orchestration.runtime import embedded_temporal
from orchestration.runtime.embedded_temporal import DevServer, temporal_binary
from tests.cli.test_cli_errors import fixbot
from tests.workflow.index_standin import task_on, unique_repo


@pytest.fixture
async def bare_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server started the plain way: no search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


def run_commands(message: str) -> None:
    """Run each `temporal ...` line of an error message, as an operator would paste it."""
    lines = [line for line in message.splitlines() if line.startswith("temporal ")]
    assert len(lines) == len(SEARCH_ATTRIBUTES), message
    for line in lines:
        argv = shlex.split(line)
        subprocess.run([temporal_binary(), *argv[1:]], check=True, capture_output=True)


async def test_start_names_the_commands_and_they_fix_the_namespace(
    bare_temporal: WorkflowEnvironment,
) -> None:
    """Starting a task fails with one command per attribute; after running exactly those
    commands the same start succeeds."""
    gateway = TaskGateway(bare_temporal.client, "no-worker")
    task = task_on(unique_repo())
    with pytest.raises(SearchAttributesMissing) as refused:
        await gateway.start(task)
    message = str(refused.value)
    assert "FixbotState (Keyword)" in message and "FixbotCost (Double)" in message
    assert "--namespace default --name FixbotRepositories --type KeywordList" in message
    run_commands(message)
    assert await gateway.start(task) == workflow_id(task.task_id)
    await bare_temporal.client.get_workflow_handle(workflow_id(task.task_id)).terminate()


async def test_listing_names_the_command(bare_temporal: WorkflowEnvironment) -> None:
    """Even a listing without filters says what to register before it runs any query."""
    with pytest.raises(SearchAttributesMissing, match="--name FixbotOutcome --type Keyword"):
        await TaskIndexReader(bare_temporal.client).list(TaskFilter())


def test_fixbot_list_prints_the_command(bare_temporal: WorkflowEnvironment) -> None:
    """The CLI shows the message as an error (exit 1), not a traceback."""
    address = bare_temporal.client.service_client.config.target_host
    done = fixbot("list", TEMPORAL_ADDRESS=address)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"temporal operator search-attribute create --address {address}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_an_attribute_of_another_type_is_named(bare_temporal: WorkflowEnvironment) -> None:
    """FixbotCost registered as a Keyword cannot be fixed by creating it: the error says so."""
    client = bare_temporal.client
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={"FixbotCost": int(SearchAttributeIndexedValueType.KEYWORD)},
        )
    )
    with pytest.raises(SearchAttributesMissing, match="FixbotCost is a Keyword, fixbot needs"):
        await ensure_registered(client)


async def test_embedded_server_registers_into_a_database_from_before_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start-dev --search-attribute` skips an existing database; the embedded server adds
    what is missing itself, so `fixbot dev` users keep their old tasks and gain the index."""
    database = tmp_path / "temporal.db"
    with monkeypatch.context() as older_fixbot:
        older_fixbot.setattr(embedded_temporal, "search_attribute_args", list)
        older_fixbot.setattr(DevServer, "_register_search_attributes", lambda self: None)
        old = DevServer(database)
        old.start()
        old.stop()
    server = DevServer(database)
    server.start()
    try:
        client = await Client.connect(server.address)
        known = await registered_types(client)
        assert known is not None
        assert {k.name: int(k.indexed_value_type) for k in SEARCH_ATTRIBUTES}.items() <= (
            known.items()
        )
    finally:
        server.stop()
