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
    store = TableJobStore(service, *table_names, update_retries=20, job_id_key=b"test-job-id-key")
    yield store
    await service.close()


DEMO_TENANT = "sandbox/tenants/demo.json"
GRAPH_BASE = "http://graph.sandbox"


@pytest.fixture
def graph_sim() -> object:
    """A fresh demo tenant. Throttling is off here; tests of throttling turn it on."""
    from pathlib import Path

    from sandbox.graph import GraphSimulator, load_tenant
    from sandbox.graph.throttle import Throttle

    root = Path(__file__).resolve().parent.parent
    return GraphSimulator(load_tenant(root / DEMO_TENANT), throttle=Throttle(enabled=False))


@pytest.fixture
async def graph_http(graph_sim: object) -> AsyncIterator[object]:
    import httpx

    from sandbox.graph import build_app

    transport = httpx.ASGITransport(app=build_app(graph_sim))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=GRAPH_BASE) as client:
        yield client


def make_gateway(sim: object, **settings: str) -> object:
    import httpx

    from sandbox.graph import build_app
    from shared.graph.client import build_graph_client
    from shared.graph.sdk_gateway import SdkGraphGateway
    from shared.settings import load_settings

    config = load_settings({"GRAPH_BASE_URL": GRAPH_BASE, **settings})
    client = build_graph_client(config, transport=httpx.ASGITransport(app=build_app(sim)))  # type: ignore[arg-type]
    return SdkGraphGateway(client, retry_after_cap_s=config.graph_retry_after_cap_s,
                           max_retries=config.graph_max_retries)


@pytest.fixture
def gateway(graph_sim: object) -> object:
    return make_gateway(graph_sim)
