"""Issue 24, section 1: each finding, in the simulator's answer and in the product's behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox.graph import GraphSimulator
from sandbox.graph.tenant import method_from_spec
from sandbox.system import Sandbox
from shared.cleanup.policy import load_policy
from shared.graph.method_names import NAMES, PHISHING_RESISTANT, spellings
from tests.reset.conftest import reset

NOW = datetime.now(UTC)
EXT = "ext.method@contoso.example"


def _give(box: Sandbox | GraphSimulator, upn: str, index: int, **spec: Any) -> str:
    tenant = box.graph.tenant if isinstance(box, Sandbox) else box.tenant
    user = tenant.user(upn)
    assert user is not None
    method = method_from_spec(upn, index, spec, NOW)
    user.methods.append(method)
    return method.id


async def _report(graph_http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every row of the registration report, page after page."""
    rows: list[dict[str, Any]] = []
    url: str | None = "/v1.0/reports/authenticationMethods/userRegistrationDetails"
    while url:
        page = (await graph_http.get(url)).json()
        rows += page["value"]
        url = page.get("@odata.nextLink")
    return rows


# -- methodsRegistered vocabulary -----------------------------------------------------------------------------
def test_one_table_names_every_spelling_and_decides_phishing_resistance_once() -> None:
    fido = set(spellings("fido2"))
    assert {"fido2", "fido2SecurityKey", "passKeyDeviceBound", "passKeyDeviceBoundAuthenticator",
            "passKeyDeviceBoundWindowsHello", "passKeySynced"} <= fido
    assert set(spellings("passKeySynced")) == fido
    assert {"hardwareOneTimePasscode", "externalAuthMethod", "qrCode"} <= set(NAMES)
    assert fido | {"windowsHelloForBusiness", "macOsSecureEnclaveKey", "platformCredential"} <= PHISHING_RESISTANT
    assert not PHISHING_RESISTANT & {"mobilePhone", "email", "softwareOneTimePasscode", "microsoftAuthenticatorPush"}
    from shared.cleanup import policy
    from shared.detection import vocabulary

    assert set(policy.PHISHING_RESISTANT) == set(vocabulary.PHISHING_RESISTANT) == PHISHING_RESISTANT


async def test_the_report_answers_with_the_current_names(graph_http: httpx.AsyncClient,
                                                         graph_sim: GraphSimulator) -> None:
    _give(graph_sim, "ada.lovelace@contoso.example", 80, type="fido2", displayName="key")
    _give(graph_sim, "grace.hopper@contoso.example", 81, type="fido2", displayName="key",
          registeredAs="fido2SecurityKey")
    rows = await _report(graph_http)
    every = {m for r in rows for m in r["methodsRegistered"]}
    assert "fido2" not in every and {"passKeyDeviceBound", "fido2SecurityKey"} <= every
    assert "qrCode" in every  # the frontline worker's QR code


@pytest.mark.parametrize("registered_as", ["passKeyDeviceBound", "fido2SecurityKey", "passKeySynced"])
async def test_the_cleanup_plan_finds_users_under_every_fido2_spelling(sandbox: Sandbox, registered_as: str) -> None:
    upn = "radia.perlman@contoso.example"
    _give(sandbox, upn, 82, type="fido2", displayName="key", registeredAs=registered_as)
    _give(sandbox, upn, 83, type="email", emailAddress="radia@home.example")
    made = await sandbox.container.cleanup_service().plan(load_policy(
        "max_removals_per_run: 100\nrules:\n  - id: weak\n    kind: weak_when_phishing_resistant\n"
        "    remove: [email]\n"))
    user = sandbox.graph.tenant.user(upn)
    assert user is not None and any(i.user == user.id and i.method_type == "email" for i in made.items)


# -- external authentication methods --------------------------------------------------------------------------
async def test_an_external_method_is_deleted_only_by_its_ref(graph_http: httpx.AsyncClient,
                                                             graph_sim: GraphSimulator) -> None:
    user = graph_sim.tenant.user(EXT)
    assert user is not None
    [method] = [m for m in user.methods if m.type == "externalAuthenticationMethod"]
    base = f"/v1.0/users/{user.id}/authentication/externalAuthenticationMethods/{method.id}"
    refused = await graph_http.delete(base)
    assert refused.status_code == 405 and refused.json()["error"]["code"] == "Request_BadRequest"
    assert (await graph_http.delete(base + "/$ref")).status_code == 204
    assert not [m for m in user.methods if m.type == "externalAuthenticationMethod"]


# -- hardware OATH tokens ---------------------------------------------------------------------------------------
async def test_hardware_tokens_are_listed_and_deleted_by_beta_only(graph_http: httpx.AsyncClient,
                                                                   graph_sim: GraphSimulator) -> None:
    user = graph_sim.tenant.user(EXT)
    assert user is not None
    token = _give(graph_sim, EXT, 84, type="hardwareOath", displayName="OTP c200", serialNumber="H1")
    v1 = (await graph_http.get(f"/v1.0/users/{user.id}/authentication/methods")).json()["value"]
    beta = (await graph_http.get(f"/beta/users/{user.id}/authentication/methods")).json()["value"]
    assert token not in {m["id"] for m in v1} and token in {m["id"] for m in beta}
    assert (await graph_http.delete(f"/v1.0/users/{user.id}/authentication/hardwareOathMethods/{token}")
            ).status_code == 400
    assert (await graph_http.delete(f"/beta/users/{user.id}/authentication/hardwareOathMethods/{token}")
            ).status_code == 204


def test_the_validator_accepts_hardware_tokens() -> None:
    policy = load_policy("max_removals_per_run: 5\nrules:\n  - id: h\n    kind: method_type\n"
                         "    remove: [hardwareOneTimePasscode]\n")
    assert policy.rules[0].kind == "method_type"


async def test_a_reset_removes_an_external_method_and_a_hardware_token(sandbox: Sandbox) -> None:
    """Done when: both go, and the reset still ends with sessions revoked and a TAP (the chain went to beta)."""
    token = _give(sandbox, EXT, 85, type="hardwareOath", displayName="OTP c200", serialNumber="H2")
    sandbox.servicenow.records[("sc_req_item", "a1" * 16)]["requested_for"] = EXT
    job = await reset(sandbox, user=EXT)
    assert job["state"] == "succeeded", job
    assert {m["type"] for m in job["methods_removed"]} == {"externalAuthenticationMethod", "hardwareOath"}
    assert job["sessions_revoked"] is True and job["tap_issued"] is True
    user = sandbox.graph.tenant.user(EXT)
    assert user is not None and [m.type for m in user.methods] == ["temporaryAccessPass"]
    deletes = [c["path"] for c in sandbox.graph.calls if c["method"] == "DELETE"]
    assert any(p.startswith("/beta/") and p.endswith(token) for p in deletes)
    assert any(p.startswith("/beta/") and p.endswith("/$ref") for p in deletes)
    outer = [c["path"] for c in sandbox.graph.calls if not c.get("batch")]
    assert outer.count("/beta/$batch") == 2 and "/v1.0/$batch" in outer  # read (v1.0 + beta), then a beta chain


# -- audit wording ---------------------------------------------------------------------------------------------
async def test_the_delete_audit_reads_as_entra_writes_it(sandbox: Sandbox) -> None:
    await reset(sandbox, issue_tap=False)
    job = await reset(sandbox, number="RITM0010009", sys_id="a9" * 16)
    del job
    deleted = [e["resultReason"] for e in sandbox.graph.tenant.audits
               if e["activityDisplayName"] == "Admin deleted security info"]
    assert deleted and all("method method" not in r for r in deleted)
    taps = [r for r in deleted if "temporary access pass" in r]
    assert all(r == "Admin deleted temporary access pass method for user" for r in taps)


# -- identity resource units by tenant size ----------------------------------------------------------------------
@pytest.mark.parametrize(("users", "units"), [(0, 3500), (49, 3500), (50, 5000), (500, 5000), (501, 8000)])
def test_identity_units_by_tenant_size(users: int, units: int) -> None:
    from shared.graph.tenant_size import identity_units

    assert identity_units(users) == units


@pytest.mark.parametrize(("env", "counted", "units"), [
    ({"GRAPH_BUDGET_ENABLED": "true"}, 1, 8000),
    ({"GRAPH_BUDGET_ENABLED": "true", "GRAPH_BUDGET_IDENTITY": "1234/10"}, 0, 1234),
])
async def test_the_identity_budget_follows_the_tenant_unless_set(azurite: Any, env: dict[str, str], counted: int,
                                                                 units: int) -> None:
    import json
    import uuid

    from sandbox.graph.generate import widen
    from sandbox.system import DEMO_TENANT, build_sandbox
    from shared.bootstrap import use_container

    suffix = uuid.uuid4().hex[:8]
    box = build_sandbox(table_connection_string=azurite.connection_string, throttle=False,
                        tenant=widen(json.loads(DEMO_TENANT.read_text()), groups=1, users=600, members_of=()),
                        environ={"JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"byuser{suffix}",
                                 "VERIFY_POLICY": "none", **env})
    use_container(box.container)
    try:
        graph = box.container.graph()
        await graph.snapshot("ada.lovelace@contoso.example", groups=["Break Glass Accounts"])
        await graph.snapshot("grace.hopper@contoso.example", groups=["Break Glass Accounts"])
        counts = [c for c in box.graph.calls if c["path"] == "/v1.0/users/$count"]
        assert len(counts) == counted  # once a day at most
        assert box.container.graph_budget().capacity("identity") == units
    finally:
        use_container(None)
        await box.container.close()


# -- leniencies the simulator no longer has ----------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"$filter": "accountEnabled ne false"}, {"$filter": "not(accountEnabled eq true)"},
                                    {"$filter": "endswith(mail,'@contoso.example')"}, {"$count": "true"}])
async def test_advanced_user_queries_need_consistency_level(graph_http: httpx.AsyncClient,
                                                            params: dict[str, str]) -> None:
    refused = await graph_http.get("/v1.0/users", params=params)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    allowed = await graph_http.get("/v1.0/users", params={**params, "$count": "true"},
                                   headers={"ConsistencyLevel": "eventual"})
    assert allowed.status_code == 200


@pytest.mark.parametrize(("params", "says"), [({"$top": "999"}, "Top"),
                                              ({"$filter": "lastUpdatedDateTime ge 2026-01-01T00:00:00Z"},
                                               "lastUpdatedDateTime")])
async def test_the_registration_report_refuses_what_its_page_does_not_allow(graph_http: httpx.AsyncClient,
                                                                            params: dict[str, str], says: str) -> None:
    refused = await graph_http.get("/v1.0/reports/authenticationMethods/userRegistrationDetails", params=params)
    assert refused.status_code == 400 and says in refused.json()["error"]["message"]
    ok = await graph_http.get("/v1.0/reports/authenticationMethods/userRegistrationDetails",
                              params={"$filter": "methodsRegistered/any(m: m eq 'email') or isAdmin eq true"})
    assert ok.status_code == 200


async def test_a_disabled_users_registration_detail_is_not_found(graph_http: httpx.AsyncClient,
                                                                 graph_sim: GraphSimulator) -> None:
    disabled = next(u for u in graph_sim.tenant.users.values() if not u.account_enabled)
    answer = await graph_http.get(f"/v1.0/reports/authenticationMethods/userRegistrationDetails/{disabled.id}")
    assert answer.status_code == 404


async def test_sign_ins_omit_applied_policies_without_a_ca_permission(graph_http: httpx.AsyncClient,
                                                                      graph_sim: GraphSimulator) -> None:
    graph_sim.tenant.sign_ins.append({"id": "s-ca", "createdDateTime": "2026-12-01T10:00:00Z",
                                      "userPrincipalName": "ada.lovelace@contoso.example", "status": {"errorCode": 0},
                                      "appliedConditionalAccessPolicies": [{"id": "p1", "result": "success"}]})
    graph_sim.max_page = 0

    async def rows() -> list[dict[str, Any]]:
        return list((await graph_http.get("/v1.0/auditLogs/signIns")).json()["value"])

    graph_sim.tenant.app_roles = {"AuditLog.Read.All"}
    without = await rows()
    assert without and not any("appliedConditionalAccessPolicies" in r for r in without)
    graph_sim.tenant.app_roles = {"AuditLog.Read.All", "Policy.Read.All"}
    assert any("appliedConditionalAccessPolicies" in r for r in await rows())


async def test_a_batch_item_with_a_body_needs_its_content_type(graph_http: httpx.AsyncClient,
                                                               graph_sim: GraphSimulator) -> None:
    user = graph_sim.tenant.user("ada.lovelace@contoso.example")
    assert user is not None
    answer = (await graph_http.post("/v1.0/$batch", json={"requests": [
        {"id": "1", "method": "POST", "url": f"/users/{user.id}/revokeSignInSessions", "body": {}},
        {"id": "2", "method": "POST", "url": f"/users/{user.id}/revokeSignInSessions", "body": {},
         "headers": {"Content-Type": "application/json"}}]})).json()
    status = {r["id"]: r["status"] for r in answer["responses"]}
    assert status == {"1": 400, "2": 200}


async def test_every_name_the_report_answers_is_a_documented_one(graph_http: httpx.AsyncClient,
                                                                 graph_sim: GraphSimulator) -> None:
    """methodsRegistered is a string collection the SDK does not type: its vocabulary is judged here instead,
    against the documented names (shared/graph/method_names.py cites the pages)."""
    for index, kind in enumerate(("fido2", "windowsHelloForBusiness", "platformCredential", "softwareOath",
                                  "externalAuthenticationMethod", "hardwareOath", "temporaryAccessPass")):
        _give(graph_sim, "ada.lovelace@contoso.example", 90 + index, type=kind, displayName="x")
    rows = await _report(graph_http)
    answered = {m for r in rows for m in r["methodsRegistered"]}
    assert answered and answered <= set(NAMES), answered - set(NAMES)
    assert "fido2" not in answered  # the current spelling, never the v1.0 page's older example
