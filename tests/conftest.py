"""Shared fixtures. Azurite is real: a session fixture starts it on a free loopback port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from sandbox.azurite import Azurite, AzuriteError, start_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    try:
        server = start_azurite()
    except AzuriteError as exc:
        # Fail, never skip: a suite that quietly drops its storage tests proves nothing.
        pytest.fail(f"cannot start Azurite: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def table_names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"jobs{suffix}", f"jobsbyuser{suffix}"


@pytest.fixture
async def job_store(azurite: Azurite, table_names: tuple[str, str]) -> AsyncIterator[object]:
    from azure.data.tables.aio import TableServiceClient

    from shared.jobs.table_store import TableJobStore

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableJobStore(service, *table_names, update_retries=20)
    yield store
    await service.close()
