"""End-to-end fixtures: the real function entry points against Azurite and the simulators."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest

from sandbox.azurite import Azurite
from sandbox.system import Sandbox, build_sandbox
from sandbox.tickets import submit
from shared.bootstrap import use_container
from shared.identity.principal import PRINCIPAL_HEADER, encode_principal

OPERATOR_OID = "0b5e1c7a-1111-4c2e-9a53-5d7c1e0f0001"
OPERATOR_UPN = "secops@contoso.example"
ALL_ROLES = ("Jobs.Read", "Tap.Retrieve", "Jobs.Retry")


def as_operator(*roles: str, upn: str = OPERATOR_UPN, oid: str = OPERATOR_OID) -> dict[str, str]:
    """The principal header App Service Authentication would set for this caller."""
    return {PRINCIPAL_HEADER: encode_principal(object_id=oid, upn=upn, roles=roles or ALL_ROLES)}


def operator_request(method: str, path: str, job_id: str, body: bytes = b"", *roles: str,
                     headers: dict[str, str] | None = None) -> func.HttpRequest:
    all_headers = {**as_operator(*roles), **({"Content-Type": "application/json"} if body else {}),
                   **(headers or {})}
    return func.HttpRequest(method, f"http://localhost{path}", body=body, route_params={"job_id": job_id},
                            headers=all_headers)


def entry(name: str) -> Any:
    """A function of function_app by name, as the Functions host would call it."""
    import function_app
    from sandbox.localhost import user_function

    return user_function(function_app.app, name)


@pytest.fixture
def sandbox_env() -> dict[str, str]:
    """Settings for the sandbox under test; tests may change them before the sandbox is built."""
    suffix = uuid.uuid4().hex[:10]
    return {"JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


@pytest.fixture
async def sandbox(azurite: Azurite, sandbox_env: dict[str, str]) -> AsyncIterator[Sandbox]:
    # The reset's own mechanics are tested with the gate off; the gate's tests turn it on (VERIFY_POLICY "").
    box = build_sandbox(table_connection_string=azurite.connection_string,
                        environ={"VERIFY_POLICY": "none", **sandbox_env}, throttle=False)
    use_container(box.container)
    yield box
    use_container(None)
    await box.container.close()


def ticket(number: str = "RITM0010001", sys_id: str = "a1" * 16, user: str = "ada.lovelace@contoso.example",
           table: str = "sc_req_item", **extra: Any) -> dict[str, Any]:
    return {"table": table, "sys_id": sys_id, "number": number, "action": "reset_mfa", "user": user,
            "requested_by": "agent@contoso.example", **extra}


async def post(box: Sandbox, body: dict[str, Any] | bytes, *, secret: str | None = None,
               **kwargs: Any) -> func.HttpResponse:
    return await submit(secret or box.webhook_secret, body, **kwargs)


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


async def get_job(job_id: str) -> dict[str, Any]:
    response = await entry("get_job")(operator_request("GET", f"/api/jobs/{job_id}", job_id))
    assert response.status_code == 200, response.get_body()
    return dict(body_of(response))


async def reset(box: Sandbox, **ticket_fields: Any) -> dict[str, Any]:
    """Post a ticket, deliver the queue, return the job as the API shows it."""
    response = await post(box, ticket(**ticket_fields))
    assert response.status_code in (200, 202), response.get_body()
    await box.deliver_all()
    return await get_job(body_of(response)["job_id"])
