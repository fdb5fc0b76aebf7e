"""The composition root builds each client once, lazily, and says which setting is missing."""

from __future__ import annotations

import pytest

from shared.bootstrap import Container
from shared.errors import ConfigurationError
from shared.settings import load_settings


def test_nothing_is_built_until_asked_and_then_only_once() -> None:
    container = Container(load_settings({"TABLE_SERVICE_URL": "https://acct.table.core.windows.net/",
                                         "JOB_ID_KEY": "k"}))
    assert container._tables is None and container._graph is None
    service = container.table_service()
    assert service is container.table_service()
    assert service.url.startswith("https://acct.table.core.windows.net")
    assert container.job_store() is container.job_store()
    assert container.graph() is container.graph()
    assert container.credential() is container.credential()  # one token cache for every client


@pytest.mark.parametrize(("method", "setting"), [
    ("table_service", "TABLE_SERVICE_URL"),
    ("tickets", "SERVICENOW_INSTANCE_URL"),
    ("queue", "ServiceBusConnection__fullyQualifiedNamespace"),
])
def test_a_missing_setting_is_named(method: str, setting: str) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        getattr(Container(load_settings({})), method)()


async def test_the_production_queue_is_service_bus_with_the_managed_identity() -> None:
    from shared.queue.servicebus import ServiceBusJobQueue

    container = Container(load_settings({"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
                                         "RESET_QUEUE": "resets"}))
    queue = container.queue()
    assert isinstance(queue, ServiceBusJobQueue)
    assert queue._namespace == "ns.servicebus.windows.net" and queue._queue == "resets"
    await container.close()
