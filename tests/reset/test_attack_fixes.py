"""The holes an attack on the reset path found (issue 11), one test per defect, and the identity rules."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import azure.functions as func
import pytest

from sandbox.system import Sandbox
from sandbox.tickets import signed_request
from shared.identity.principal import PRINCIPAL_HEADER, encode_principal
from shared.reset.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.reset.conftest import (
    OPERATOR_UPN,
    as_operator,
    body_of,
    entry,
    get_job,
    operator_request,
    post,
    reset,
    ticket,
)


async def call(name: str, req: func.HttpRequest) -> func.HttpResponse:
    response: func.HttpResponse = await entry(name)(req)
    return response


def second_ticket(box: Sandbox, number: str, sys_id: str, user: str = "ada.lovelace@contoso.example") -> None:
    base = box.servicenow.records[("sc_req_item", "a1" * 16)]
    box.servicenow.records[("sc_req_item", sys_id)] = {**base, "sys_id": sys_id, "number": number,
                                                        "requested_for": user}


# 1. A forged retry of a succeeded job ------------------------------------------------------------------------
async def test_a_retry_of_a_succeeded_job_is_refused_and_no_second_tap_is_issued(sandbox: Sandbox) -> None:
    job = await reset(sandbox)
    assert job["state"] == "succeeded"
    forged = await call("retry_job", operator_request("POST", "/api/jobs/x/retry", job["job_id"],
                                                      b'{"by": "nobody@evil.example"}'))
    assert forged.status_code == 409 and forged.mimetype == "application/problem+json"
    await sandbox.deliver_all()
    after = await get_job(job["job_id"])
    assert after["state"] == "succeeded" and after["attempts"] == job["attempts"]
    taps = [m for m in sandbox.graph.tenant.user("ada.lovelace@contoso.example").methods  # type: ignore[union-attr]
            if m.type == "temporaryAccessPass"]
    assert len(taps) == 1


async def test_the_retry_records_the_authenticated_caller_never_the_body(sandbox: Sandbox) -> None:
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["approval"] = "requested"
    job = await reset(sandbox)
    assert job["state"] == "rejected"
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["approval"] = "approved"
    response = await call("retry_job", operator_request(
        "POST", "/api/jobs/x/retry", job["job_id"], b'{"by": "@\\ninvented text", "reason": "approved late"}'))
    assert response.status_code == 202
    retry = [s for s in body_of(response)["steps"] if s["action"] == "retry"][-1]
    assert OPERATOR_UPN in retry["detail"] and "invented" not in retry["detail"]


@pytest.mark.parametrize("reason", ["x" * 501, "line\nbreak", 42])
async def test_a_retry_reason_must_be_short_printable_text(sandbox: Sandbox, reason: object) -> None:
    body = json.dumps({"reason": reason}).encode()
    response = await call("retry_job", operator_request("POST", "/api/jobs/x/retry", str(uuid.uuid4()), body))
    assert response.status_code == 400 and body_of(response)["field"] == "reason"


async def test_a_break_glass_rejection_is_never_retried(sandbox: Sandbox) -> None:
    second_ticket(sandbox, "RITM0010002", "b2" * 16, "breakglass1@contoso.example")
    job = await reset(sandbox, number="RITM0010002", sys_id="b2" * 16, user="breakglass1@contoso.example")
    assert job["state"] == "rejected" and job["error"]["code"] == "break_glass"
    response = await call("retry_job", operator_request("POST", "/api/jobs/x/retry", job["job_id"], b"{}"))
    assert response.status_code == 409 and "break_glass" in body_of(response)["detail"]


# 2. Job ids are not computable; a TAP needs an identity ------------------------------------------------------
async def test_the_job_id_is_not_the_uuid5_of_the_ticket(sandbox: Sandbox) -> None:
    accepted = body_of(await post(sandbox, ticket()))
    key = "sc_req_item:" + "a1" * 16 + ":reset_mfa"
    assert accepted["job_id"] != str(uuid.uuid5(uuid.UUID("6f1d4c1e-6a55-4f55-9d7e-1a8f0b6c2d10"), key))


async def test_a_function_key_alone_fetches_no_tap_and_retries_nothing(sandbox: Sandbox) -> None:
    job = await reset(sandbox)
    bare = func.HttpRequest("GET", "http://localhost/api/jobs/x/tap", body=b"", route_params={"job_id": job["job_id"]})
    refused = await call("get_job_tap", bare)
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    reader = await call("get_job_tap", operator_request("GET", "/api/jobs/x/tap", job["job_id"], b"", "Jobs.Read"))
    assert reader.status_code == 403 and "Tap.Retrieve" in body_of(reader)["detail"]
    taken = await call("get_job_tap", operator_request("GET", "/api/jobs/x/tap", job["job_id"], b"", "Tap.Retrieve"))
    assert taken.status_code == 200
    recorded = await get_job(job["job_id"])
    [step] = [s for s in recorded["steps"] if s["action"] == "tap_retrieval"]
    assert step["outcome"] == "retrieved" and OPERATOR_UPN in step["detail"]
    assert body_of(taken)["temporaryAccessPass"] not in json.dumps(recorded)


@pytest.mark.parametrize(("route", "method"), [("get_job", "GET"), ("get_job_tap", "GET"), ("retry_job", "POST")])
@pytest.mark.parametrize("header", [None, "not base64!", "e30=", encode_principal(object_id="not-a-guid")])
async def test_every_operator_route_demands_a_principal(sandbox: Sandbox, route: str, method: str,
                                                        header: str | None) -> None:
    headers = {PRINCIPAL_HEADER: header} if header is not None else {}
    req = func.HttpRequest(method, "http://localhost/api/jobs/x", body=b"{}", headers=headers,
                           route_params={"job_id": "x"})
    response = await call(route, req)
    assert response.status_code == 401 and body_of(response)["status"] == 401


def test_only_the_webhook_and_the_managers_page_are_outside_platform_authentication() -> None:
    """Every HTTP function but the signed webhook and the manager's page demands a principal; Bicep excludes only
    those paths. The page itself redirects an anonymous browser to the sign-in; its decision and TAP routes answer
    401 without a principal."""
    import re
    from pathlib import Path

    import function_app
    from sandbox.localhost import http_functions

    routes = {route for route, _methods, _fn in http_functions(function_app.app)}
    assert "itsm/servicenow" in routes
    bicep = (Path(__file__).resolve().parents[2] / "bicep" / "resources.bicep").read_text()
    excluded = re.search(r"excludedPaths:\s*\[([^\]]*)\]", bicep)
    assert excluded is not None
    assert re.findall(r"'([^']+)'", excluded.group(1)) == ["/api/itsm/servicenow", "/api/verify/manager/*",
                                                           "/api/public/*"]
    assert "requireAuthentication: true" in bicep and "Return401" in bicep
    unauthenticated = []
    for route, methods, fn in http_functions(function_app.app):
        if route == "itsm/servicenow" or route.startswith("public/"):
            continue  # the webhook and the user's public routes: below
        for method in methods:
            req = func.HttpRequest(method, f"http://localhost/api/{route}", body=b"",
                                   route_params={"job_id": "x", "verification_id": "A" * 22})
            response = asyncio.run(fn(req))
            expected = 302 if (route, method) == ("verify/manager/{verification_id}", "GET") else 401
            if response.status_code != expected:
                unauthenticated.append((route, method, response.status_code))
            if expected == 302:
                assert response.headers["Location"].startswith("/.auth/login/aad?post_login_redirect_uri=")
    assert unauthenticated == []
    # Anonymous at the Functions host (no function key: a browser following a link sends none) are exactly the
    # manager's routes; every other route keeps its key.
    anonymous = set()
    for source in (Path(__file__).resolve().parents[2] / "functions").glob("*.py"):
        anonymous |= set(re.findall(r'route="([^"]+)", methods=\[([^\]]+)\], auth_level=func\.AuthLevel\.ANONYMOUS',
                                    source.read_text()))
    assert anonymous == {("verify/manager/{verification_id}", '"GET"'), ("verify/manager/{verification_id}", '"POST"'),
                         ("verify/manager/{verification_id}/tap", '"GET"'),
                         ("public/verify/{verification_id}", '"GET"'),
                         ("public/verify/{verification_id}/status", '"GET"'),
                         ("public/verify/{verification_id}/tap", '"GET"'), ("public/verify/callback", '"POST"'),
                         ("public/recover", '"GET"'), ("public/recover", '"POST"')}


# 3. Malformed headers are 401s --------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {TIMESTAMP_HEADER: "9" * 400},
    {TIMESTAMP_HEADER: "-5"},
    {TIMESTAMP_HEADER: " 1700000000"},
    {TIMESTAMP_HEADER: "\u0661\u0667" + "\u0660" * 8},  # Arabic-Indic digits: int() would take them
    {SIGNATURE_HEADER: "v1=é" + "a" * 42 + "="},
    {SIGNATURE_HEADER: "v1=\u200b"},
    {SIGNATURE_HEADER: ",".join(["v1=" + "A" * 43 + "="] * 50)},
    {SIGNATURE_HEADER: "sha256=abc"},
])
async def test_malformed_signature_headers_are_401_problems(sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = await post(sandbox, ticket(), headers=headers)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


# 4. Bodies that crashed the parser ----------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    b"[" * 1000 + b"]" * 1000,
    b'{"user": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"table": "incident", "n": ' + b"9" * 4400 + b"}",
    b'{"n": 1e999999}',
    b'{"n": NaN}',
    b'"\\ud800"',
])
async def test_signed_bodies_that_crashed_the_parser_are_400(sandbox: Sandbox, raw: bytes) -> None:
    response = await post(sandbox, raw)
    assert response.status_code == 400, response.get_body()
    assert sandbox.queue.active == []


# 6. Content type ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/notjson", "multipart/form-data; boundary=json", "",
                                          "text/json", "application/json-seq"])
async def test_only_application_json_is_accepted(sandbox: Sandbox, content_type: str) -> None:
    response = await post(sandbox, ticket(), content_type=content_type)
    assert response.status_code == 415


async def test_application_json_with_parameters_is_accepted(sandbox: Sandbox) -> None:
    response = await post(sandbox, ticket(), content_type="Application/JSON; charset=utf-8")
    assert response.status_code == 202


# 7. Loose fields ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value"), [
    ("user", "ada\x00@contoso.example"), ("user", "ada\u200b@contoso.example"), ("user", "a/../../x@b.c"),
    ("user", "ada?x=1@contoso.example"), ("user", "ada#frag@contoso.example"), ("user", " ada@contoso.example"),
    ("user", "ada@contoso.example\n"), ("user", ".ada@contoso.example"), ("user", "ada..l@contoso.example"),
    ("requested_by", "<script>alert(1)</script>"), ("requested_by", "agent\r\n@contoso.example"),
    ("requested_by", "x" * 200),
])
async def test_loose_fields_are_refused_naming_the_field(sandbox: Sandbox, field: str, value: str) -> None:
    response = await post(sandbox, ticket(**{field: value}))
    assert response.status_code == 400 and body_of(response)["field"] == field


async def test_a_guest_upn_is_still_a_valid_user() -> None:
    from shared.reset.request import is_upn

    assert is_upn("partner_fabrikam.example#EXT#@contoso.example")
    assert not is_upn("partner#EXT#x@contoso.example")


# 8. Resets in a row -------------------------------------------------------------------------------------------
async def test_a_second_reset_within_the_cooldown_is_parked_and_the_first_tap_stays_valid(sandbox: Sandbox) -> None:
    first = await reset(sandbox)
    assert first["state"] == "succeeded"
    second_ticket(sandbox, "RITM0010077", "77" * 16)
    second = await reset(sandbox, number="RITM0010077", sys_id="77" * 16)
    assert second["state"] == "awaiting_approval", second
    park = [s for s in second["steps"] if s["action"] == "guardrail"][-1]
    assert park["outcome"] == "recently_reset" and first["job_id"] in park["detail"]
    notes = [n for n in sandbox.servicenow.journal if n["sys_id"] == "77" * 16]  # type: ignore[attr-defined]
    assert notes and "waiting for approval" in notes[-1]["value"]
    taken = await call("get_job_tap", operator_request("GET", "/api/jobs/x/tap", first["job_id"]))
    assert taken.status_code == 200


async def test_an_approved_reset_in_a_row_supersedes_the_earlier_tap(sandbox: Sandbox) -> None:
    first = await reset(sandbox)
    second_ticket(sandbox, "RITM0010078", "78" * 16)
    second = await reset(sandbox, number="RITM0010078", sys_id="78" * 16)
    approved = await call("retry_job", operator_request("POST", "/api/jobs/x/retry", second["job_id"],
                                                        b'{"reason": "user lost the first pass"}'))
    assert approved.status_code == 202
    await sandbox.deliver_all()
    assert (await get_job(second["job_id"]))["state"] == "succeeded"
    gone = await call("get_job_tap", operator_request("GET", "/api/jobs/x/tap", first["job_id"]))
    assert gone.status_code == 410 and f"superseded by job {second['job_id']}" in body_of(gone)["detail"]
    assert (await call("get_job_tap", operator_request("GET", "/api/jobs/x/tap", second["job_id"]))).status_code \
        == 200


# 9. Skew edge -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("skew", [-300, 300])
def test_the_skew_edge_is_the_same_on_both_sides(skew: int) -> None:
    from shared.reset.signature import verify

    now = 1_800_000_000.9
    stamp = str(int(now) + skew)
    verify("s", stamp, sign("s", stamp, b"{}"), b"{}", now=now, max_skew_s=300)


@pytest.mark.parametrize("skew", [-301, 301])
def test_one_second_past_the_edge_is_refused_on_both_sides(skew: int) -> None:
    from shared.reset.signature import SignatureError, verify

    now = 1_800_000_000.9
    stamp = str(int(now) + skew)
    with pytest.raises(SignatureError):
        verify("s", stamp, sign("s", stamp, b"{}"), b"{}", now=now, max_skew_s=300)


# 5. A 500 does not take down a neighbour's request ------------------------------------------------------------
async def test_an_unhandled_error_answers_500_and_keeps_the_connection_for_others() -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Route

    from sandbox.localhost import _endpoint

    async def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("bug")

    async def fine(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(0.01)
        return func.HttpResponse("ok")

    app = Starlette(routes=[Route("/boom", _endpoint(boom)), Route("/fine", _endpoint(fine))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as client:
        answers = await asyncio.gather(*[client.get("/boom" if i % 3 == 0 else "/fine") for i in range(30)])
    statuses = sorted({r.status_code for r in answers})
    assert statuses == [200, 500]
    assert answers[0].json()["status"] == 500 and "bug" not in answers[0].text


def test_a_bearer_token_becomes_the_principal_header_as_the_platform_sets_it() -> None:
    from sandbox.localhost import platform_headers
    from sandbox.tokens import mint
    from shared.identity.principal import parse_principal

    token = mint(oid="0b5e1c7a-1111-4c2e-9a53-5d7c1e0f0001", upn="ops@contoso.example", roles=["Jobs.Read"])
    headers = platform_headers({"authorization": f"Bearer {token}", PRINCIPAL_HEADER.lower(): "forged"})
    principal = parse_principal(headers["x-ms-client-principal"])
    assert principal.by == "ops@contoso.example" and principal.roles == {"Jobs.Read"}
    assert "forged" not in headers.values()


def test_an_app_only_principal_is_recorded_by_object_id() -> None:
    from shared.identity.principal import parse_principal

    header = encode_principal(object_id="0B5E1C7A-1111-4C2E-9A53-5D7C1E0F0002", roles=["Jobs.Retry"],
                              app_id="11111111-2222-3333-4444-555555555555")
    principal = parse_principal(header)
    assert principal.is_app and principal.by == "0b5e1c7a-1111-4c2e-9a53-5d7c1e0f0002"


async def test_stale_signatures_over_a_valid_body_make_no_job(sandbox: Sandbox) -> None:
    raw = json.dumps(ticket()).encode()
    req = signed_request(sandbox.webhook_secret, raw, timestamp=int(time.time()) - 301)
    response = await call("servicenow_webhook", req)
    assert response.status_code == 401 and sandbox.queue.active == []
    assert as_operator()  # the helper builds a header the parser accepts


# Issue 23, finding 6 --------------------------------------------------------------------------------------------
async def test_the_requester_without_a_upn_claim_cannot_approve_their_own_privileged_reset(sandbox: Sandbox) -> None:
    from shared.reset.service import OperatorReset

    grace = sandbox.graph.tenant.user("grace.hopper@contoso.example")
    assert grace is not None
    service = sandbox.container.reset_service()
    job = await service.reset_by_operator(OperatorReset(user="margaret.hamilton@contoso.example",
                                                        by="grace.hopper@contoso.example", reason="lost phone"))
    assert job.state.value == "awaiting_approval"
    before = len(sandbox.graph.tenant.user("margaret.hamilton@contoso.example").methods)  # type: ignore[union-attr]
    # The same person, signed in, whose token carries only the object id.
    same = {PRINCIPAL_HEADER: encode_principal(object_id=grace.id, roles=("Jobs.Retry", "Jobs.Read"))}
    response = await call("retry_job", operator_request("POST", "/api/jobs/x/retry", job.job_id, b"{}",
                                                        headers=same))
    after = await get_job(job.job_id)
    assert after["state"] == "awaiting_approval", (response.status_code, after["state"])
    assert len(sandbox.graph.tenant.user("margaret.hamilton@contoso.example").methods) == before  # type: ignore
    over = await call("retry_job", operator_request("POST", "/api/jobs/x/retry", job.job_id,
                                                    b'{"allow_over_limit": true}', headers=same))
    assert over.status_code == 403  # and never over the limit either


@pytest.mark.parametrize("sandbox_env", [{"RESETS_PER_HOUR_LIMIT": "1", "JOBS_TABLE": "jobsprivlimit",
                                          "JOBS_BY_USER_TABLE": "byuserprivlimit"}])
async def test_a_privileged_approval_never_lifts_the_blast_radius_limit(sandbox: Sandbox) -> None:
    from datetime import timedelta

    from shared.reset.service import OperatorReset

    assert (await reset(sandbox))["state"] == "succeeded"  # the hour's one reset
    service = sandbox.container.reset_service()
    job = await service.reset_by_operator(OperatorReset(user="margaret.hamilton@contoso.example",
                                                        by="grace.hopper@contoso.example", reason="lost phone",
                                                        approved_by="ciso@contoso.example"))
    assert job.state.value == "awaiting_approval" and "blast_radius" in job.steps[-1].detail
    store = sandbox.container.job_store()
    assert await store.admissions_since(sandbox.graph.tenant.clock.now() - timedelta(hours=1)) == 1
