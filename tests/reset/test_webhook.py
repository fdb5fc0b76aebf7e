"""The ServiceNow webhook: signature, replay window, size, media type, schema, duplicates, queue outage."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.system import Sandbox
from shared.queue.port import QueueUnavailableError
from tests.reset.conftest import body_of, post, ticket


async def test_an_accepted_ticket_is_queued_once(sandbox: Sandbox) -> None:
    response = await post(sandbox, ticket())
    assert response.status_code == 202
    body = body_of(response)
    assert body["status"] == "queued" and body["job_id"]
    [message] = sandbox.queue.active
    assert message.message_id == "sc_req_item:" + "a1" * 16 + ":reset_mfa"
    assert message.session_id == "ada.lovelace@contoso.example"
    again = await post(sandbox, ticket())
    assert again.status_code == 200
    assert body_of(again)["job_id"] == body["job_id"] and body_of(again)["state"] == "queued"
    assert len(sandbox.queue.active) == 1


@pytest.mark.parametrize("change", [
    {"X-Mfaops-Signature": "v1=bm90IHRoZSByaWdodCBtYWM="},
    {"X-Mfaops-Signature": ""},
    {"X-Mfaops-Timestamp": "yesterday"},
])
async def test_a_bad_or_missing_signature_is_401(sandbox: Sandbox, change: dict[str, str]) -> None:
    response = await post(sandbox, ticket(), headers=change)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert sandbox.queue.active == []


async def test_a_signature_with_another_secret_is_401(sandbox: Sandbox) -> None:
    assert (await post(sandbox, ticket(), secret="not-the-secret")).status_code == 401


@pytest.mark.parametrize("skew", [-301, 301, 3600])
async def test_a_stale_or_future_timestamp_is_401(sandbox: Sandbox, skew: int) -> None:
    response = await post(sandbox, ticket(), timestamp=int(time.time()) + skew)
    assert response.status_code == 401
    assert "300" in body_of(response)["detail"]


async def test_a_replayed_request_inside_the_window_makes_no_second_job(sandbox: Sandbox) -> None:
    stamp = int(time.time()) - 200
    first = await post(sandbox, ticket(), timestamp=stamp)
    second = await post(sandbox, ticket(), timestamp=stamp)
    assert (first.status_code, second.status_code) == (202, 200)
    assert body_of(first)["job_id"] == body_of(second)["job_id"]


async def test_a_body_over_64_kib_is_413(sandbox: Sandbox) -> None:
    big = json.dumps(ticket(padding="x" * (64 * 1024))).encode()
    assert (await post(sandbox, big)).status_code == 413


async def test_a_body_that_is_not_json_is_400_and_another_media_type_415(sandbox: Sandbox) -> None:
    bad = await post(sandbox, b"table=incident&sys_id=1")
    assert bad.status_code == 400 and "not valid JSON" in body_of(bad)["detail"]
    assert (await post(sandbox, b"table=incident", content_type="application/x-www-form-urlencoded")).status_code \
        == 415
    assert (await post(sandbox, ticket(), content_type="text/plain")).status_code == 415


@pytest.mark.parametrize(("change", "field"), [
    ({"sys_id": "not-hex"}, "sys_id"),
    ({"table": "change_request"}, "table"),
    ({"action": "delete_user"}, "action"),
    ({"user": "not an upn"}, "user"),
    ({"number": ""}, "number"),
    ({"revoke_sessions": "maybe"}, "revoke_sessions"),
    ({"surprise": 1}, "surprise"),
])
async def test_schema_errors_are_400_naming_the_field(sandbox: Sandbox, change: dict[str, object],
                                                      field: str) -> None:
    response = await post(sandbox, {**ticket(), **change})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = body_of(response)
    assert problem["field"] == field and field in problem["detail"]
    assert "Traceback" not in response.get_body().decode()


async def test_a_missing_field_is_named(sandbox: Sandbox) -> None:
    body = ticket()
    del body["user"]
    response = await post(sandbox, body)
    assert response.status_code == 400 and body_of(response)["field"] == "user"


async def test_a_queue_outage_is_503_and_the_job_is_kept_for_the_resend(sandbox: Sandbox) -> None:
    real_send = sandbox.queue.send

    async def down(*args: object, **kwargs: object) -> None:
        raise QueueUnavailableError("Service Bus is down")

    sandbox.queue.send = down  # type: ignore[method-assign]
    response = await post(sandbox, ticket())
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    job = await sandbox.container.job_store().find_by_key("sc_req_item:" + "a1" * 16 + ":reset_mfa")
    assert job is not None and job.state.value == "received"
    sandbox.queue.send = real_send  # type: ignore[method-assign]
    again = await post(sandbox, ticket())
    assert again.status_code == 200 and body_of(again)["state"] == "queued"
    assert len(sandbox.queue.active) == 1
