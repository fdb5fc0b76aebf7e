"""The one-time TAP endpoint, and a scan proving no TAP value or secret reaches logs, tables or tickets."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables.aio import TableServiceClient

from sandbox.azurite import Azurite
from sandbox.system import Sandbox
from tests.reset.conftest import body_of, entry, get_job, operator_request, reset


async def take_tap(job_id: str) -> func.HttpResponse:
    response: func.HttpResponse = await entry("get_job_tap")(
        operator_request("GET", f"/api/jobs/{job_id}/tap", job_id))
    return response


async def test_the_tap_is_returned_once_then_gone(sandbox: Sandbox) -> None:
    job = await reset(sandbox)
    first = await take_tap(job["job_id"])
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    tap = body_of(first)
    assert len(tap["temporaryAccessPass"]) == 12 and tap["usable_once"] is True
    second = await take_tap(job["job_id"])
    assert second.status_code == 410 and second.mimetype == "application/problem+json"


async def test_a_job_without_a_tap_or_an_unknown_job_is_404(sandbox: Sandbox) -> None:
    job = await reset(sandbox, issue_tap=False)
    assert (await take_tap(job["job_id"])).status_code == 404
    assert (await take_tap("no-such-job")).status_code == 404
    missing = await entry("get_job")(operator_request("GET", "/api/jobs/nope", "nope"))
    assert missing.status_code == 404 and body_of(missing)["title"] == "Job not found"


async def test_an_expired_tap_is_gone(sandbox: Sandbox) -> None:
    from datetime import timedelta

    job = await reset(sandbox)
    drop = sandbox.container.tap_drop()
    from shared.errors import TapGoneError

    with pytest.raises(TapGoneError):
        await drop.take(job["job_id"], now=sandbox.graph.tenant.clock.now() + timedelta(hours=2))


async def test_two_concurrent_retrievals_get_the_value_once(sandbox: Sandbox) -> None:
    import asyncio

    job = await reset(sandbox)
    answers = await asyncio.gather(*(take_tap(job["job_id"]) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 410, 410, 410]


async def all_table_text(azurite: Azurite) -> str:
    chunks: list[str] = []
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        async for table in service.list_tables():
            async for entity in service.get_table_client(table.name).list_entities():
                chunks.append(json.dumps({k: str(v) for k, v in entity.items()}))
    return "\n".join(chunks)


async def test_no_tap_value_or_secret_reaches_logs_tables_or_tickets(
        sandbox: Sandbox, azurite: Azurite, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    job = await reset(sandbox)
    view = await get_job(job["job_id"])
    tap_value = body_of(await take_tap(job["job_id"]))["temporaryAccessPass"]
    settings = sandbox.settings
    secrets = {
        "TAP value": tap_value,
        "webhook secret": settings.servicenow_webhook_secret.get_secret_value(),
        "TAP drop key": settings.tap_drop_key.get_secret_value(),
        "ServiceNow password": settings.servicenow_password.get_secret_value(),
    }
    places: dict[str, Any] = {
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "tables": await all_table_text(azurite),
        "ticket journal": json.dumps(sandbox.servicenow.journal),
        "ticket records": json.dumps({f"{k[0]}/{k[1]}": v for k, v in sandbox.servicenow.records.items()}),
        "job view": json.dumps(view),
        "alerts": json.dumps(sandbox.alerts.raised),
        "graph audit log": json.dumps(sandbox.graph.tenant.audits),
        "settings repr": repr(settings),
    }
    assert view["tap_issued"] and places["ticket journal"] != "[]" and "ada.lovelace" in places["tables"]
    leaks = [(secret, place) for secret, value in secrets.items() for place, text in places.items()
             if value and value in text]
    assert leaks == []
