"""The Graph simulator over raw HTTP: users, paging, $filter, reports, audit, protection, policies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from sandbox.graph import GraphSimulator

V1 = "/v1.0"


async def all_pages(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    response = await client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        if "@odata.nextLink" not in body:
            return items
        response = await client.get(body["@odata.nextLink"])


async def test_an_unknown_user_is_a_404_with_graphs_error_shape(graph_http: httpx.AsyncClient) -> None:
    response = await graph_http.get(f"{V1}/users/nobody@contoso.example")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert error["innerError"]["request-id"] == response.headers["request-id"]


async def test_a_user_is_found_by_id_or_upn_case_insensitively(graph_http: httpx.AsyncClient) -> None:
    by_upn = (await graph_http.get(f"{V1}/users/Ada.Lovelace@CONTOSO.example")).json()
    by_id = (await graph_http.get(f"{V1}/users/{by_upn['id']}")).json()
    assert by_id == by_upn
    assert by_upn["userPrincipalName"] == "ada.lovelace@contoso.example"


async def test_users_page_by_next_link_without_loss_or_repeat(graph_http: httpx.AsyncClient,
                                                              graph_sim: GraphSimulator) -> None:
    users = await all_pages(graph_http, f"{V1}/users", **{"$top": "7"})
    assert len(users) == len(graph_sim.tenant.users) == 31
    assert len({u["id"] for u in users}) == 31


async def test_users_filter_and_select(graph_http: httpx.AsyncClient) -> None:
    guests = await all_pages(graph_http, f"{V1}/users", **{"$filter": "userType eq 'Guest'"})
    assert [g["displayName"] for g in guests] == ["Pat Partner (Fabrikam)"]
    taps = await all_pages(graph_http, f"{V1}/users", **{"$filter": "startswith(userPrincipalName,'tap.')",
                                                         "$select": "id,userPrincipalName"})
    assert len(taps) == 4
    assert all(set(t) == {"id", "userPrincipalName"} for t in taps)
    disabled = await all_pages(graph_http, f"{V1}/users", **{"$filter": "accountEnabled eq false"})
    assert [d["userPrincipalName"] for d in disabled] == ["old.employee@contoso.example", "mfaops@contoso.example"]


@pytest.mark.parametrize("params", [{"$top": "0"}, {"$top": "1000"}, {"$filter": "userType eq"},
                                    {"$filter": "userType wibble 'x'"}, {"$top": "ten"}])
async def test_bad_query_options_are_a_400(graph_http: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await graph_http.get(f"{V1}/users", params=params)
    assert response.status_code == 400
    assert "error" in response.json()


async def test_transitive_member_of_lists_groups_and_directory_roles(graph_http: httpx.AsyncClient) -> None:
    objects = (await graph_http.get(f"{V1}/users/breakglass1@contoso.example/transitiveMemberOf")).json()["value"]
    kinds = {(o["@odata.type"], o["displayName"]) for o in objects}
    assert kinds == {("#microsoft.graph.group", "Break Glass Accounts"),
                     ("#microsoft.graph.directoryRole", "Global Administrator")}
    role = next(o for o in objects if o["@odata.type"].endswith("directoryRole"))
    assert role["roleTemplateId"] == "62e90394-69f5-4237-9190-012177145e10"


async def test_group_members_by_display_name_filter(graph_http: httpx.AsyncClient) -> None:
    groups = (await graph_http.get(f"{V1}/groups", params={"$filter": "displayName eq 'Break Glass Accounts'"})
              ).json()["value"]
    assert len(groups) == 1
    members = (await graph_http.get(f"{V1}/groups/{groups[0]['id']}/transitiveMembers")).json()["value"]
    assert sorted(m["userPrincipalName"] for m in members) == ["breakglass1@contoso.example",
                                                               "breakglass2@contoso.example"]


async def test_revoke_sign_in_sessions_answers_200_true(graph_http: httpx.AsyncClient) -> None:
    response = await graph_http.post(f"{V1}/users/ada.lovelace@contoso.example/revokeSignInSessions")
    assert response.status_code == 200
    assert response.json()["value"] is True


async def test_registration_report_filters_and_skips_disabled_users(graph_http: httpx.AsyncClient) -> None:
    url = f"{V1}/reports/authenticationMethods/userRegistrationDetails"
    everyone = await all_pages(graph_http, url)
    assert "old.employee@contoso.example" not in {r["userPrincipalName"] for r in everyone}
    assert len(everyone) == 29
    mobile = await all_pages(graph_http, url, **{"$filter": "methodsRegistered/any(x:x eq 'mobilePhone')"})
    assert mobile and all("mobilePhone" in r["methodsRegistered"] for r in mobile)
    assert "ada.lovelace@contoso.example" in {r["userPrincipalName"] for r in mobile}
    admins = await all_pages(graph_http, url, **{"$filter": "isAdmin eq true"})
    assert {r["userPrincipalName"].split("@")[0] for r in admins} == {
        "breakglass1", "breakglass2", "alan.turing", "margaret.hamilton", "katherine.johnson", "john.mccarthy"}
    guests = await all_pages(graph_http, url, **{"$filter": "userType eq 'guest'"})
    assert len(guests) == 1
    grace = next(r for r in everyone if r["userPrincipalName"].startswith("grace."))
    assert grace["methodsRegistered"] == ["mobilePhone", "alternateMobilePhone", "officePhone", "email"]
    assert grace["userPreferredMethodForSecondaryAuthentication"] == "sms"


async def test_writes_append_audit_events_that_filter_and_page(graph_http: httpx.AsyncClient,
                                                               graph_sim: GraphSimulator) -> None:
    uid = (await graph_http.get(f"{V1}/users/linus.torvalds@contoso.example")).json()["id"]
    oath = next(m for m in (await graph_http.get(f"{V1}/users/{uid}/authentication/methods")).json()["value"]
                if m["@odata.type"].endswith("softwareOathAuthenticationMethod"))
    auth = next(m for m in (await graph_http.get(f"{V1}/users/{uid}/authentication/methods")).json()["value"]
                if m["@odata.type"].endswith("microsoftAuthenticatorAuthenticationMethod"))
    assert (await graph_http.delete(f"{V1}/users/{uid}/authentication/microsoftAuthenticatorMethods/{auth['id']}")
            ).status_code == 204
    assert (await graph_http.delete(f"{V1}/users/{uid}/authentication/softwareOathMethods/{oath['id']}")
            ).status_code == 204
    created = await graph_http.post(f"{V1}/users/{uid}/authentication/temporaryAccessPassMethods", json={})
    assert created.status_code == 201
    now = graph_sim.tenant.clock.now()
    since = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"{V1}/auditLogs/directoryAudits"
    deleted = await all_pages(graph_http, url, **{
        "$filter": f"activityDisplayName eq 'Admin deleted security info' and activityDateTime ge {since} "
                   f"and activityDateTime le {until}"})
    assert len(deleted) == 2
    assert all(e["initiatedBy"]["app"]["displayName"] == "mfaops" for e in deleted)
    assert all(e["loggedByService"] == "Authentication Methods" for e in deleted)
    assert deleted[0]["targetResources"][0]["id"] == uid
    tap_events = await all_pages(graph_http, url,
                                 **{"$filter": "activityDisplayName eq 'Admin registered security info'"})
    names = {p["displayName"] for p in tap_events[0]["targetResources"][0]["modifiedProperties"]}
    assert names == {"TemporaryAccessPass.Id", "TemporaryAccessPass.StartDateTime", "TemporaryAccessPass.EndDateTime",
                     "TemporaryAccessPass.AccessPassUsage"}
    assert created.json()["temporaryAccessPass"] not in str(tap_events)
    paged = await all_pages(graph_http, url, **{"$top": "1", "$orderby": "activityDateTime asc"})
    assert [e["activityDisplayName"] for e in paged] == ["Admin deleted security info"] * 2 + [
        "Admin registered security info"]
    later = await all_pages(graph_http, url, **{"$filter": "activityDateTime ge 2099-01-01T00:00:00Z"})
    assert later == []


async def test_a_user_registering_a_phone_writes_both_audit_events(graph_http: httpx.AsyncClient) -> None:
    uid = (await graph_http.get(f"{V1}/users/no.methods@contoso.example")).json()["id"]
    response = await graph_http.post(f"/_sandbox/users/{uid}/register", json={
        "type": "phone", "phoneType": "mobile", "phoneNumber": "+1 4255550199", "ipAddress": "198.51.100.23",
        "time": "2026-11-21T10:00:00Z"})
    assert response.status_code == 201
    events = await all_pages(graph_http, f"{V1}/auditLogs/directoryAudits", **{
        "$filter": "activityDateTime ge 2026-11-21T09:59:00Z and activityDateTime le 2026-11-21T10:01:00Z"})
    by_service = {e["loggedByService"]: e for e in events}
    registered = by_service["Authentication Methods"]
    assert registered["activityDisplayName"] == "User registered security info"
    assert registered["resultReason"] == "User registered Mobile Phone SMS"
    assert registered["initiatedBy"]["user"]["ipAddress"] == "198.51.100.23"
    update = by_service["Core Directory"]
    assert update["activityDisplayName"] == "Update user"
    strong = next(p for p in update["targetResources"][0]["modifiedProperties"]
                  if p["displayName"] == "StrongAuthenticationMethod")
    assert strong["oldValue"] == "[]"
    assert '"MethodType": 1' in strong["newValue"] and '"Default": true' in strong["newValue"]
    methods = (await graph_http.get(f"{V1}/users/{uid}/authentication/phoneMethods")).json()["value"]
    assert [m["phoneNumber"] for m in methods] == ["+1 4255550199"]


async def test_sign_ins_risk_and_conditional_access_are_served(graph_http: httpx.AsyncClient) -> None:
    signins = (await graph_http.get(f"{V1}/auditLogs/signIns", params={"$filter": "riskLevelDuringSignIn eq 'high'"})
               ).json()["value"]
    assert [s["ipAddress"] for s in signins] == ["203.0.113.66"]
    assert signins[0]["userId"]
    await graph_http.post("/_sandbox/riskDetections", json={
        "userPrincipalName": "x", "riskEventType": "anonymizedIPAddress", "riskLevel": "medium"})
    detections = (await graph_http.get(f"{V1}/identityProtection/riskDetections")).json()["value"]
    assert {d["riskEventType"] for d in detections} == {"unfamiliarFeatures", "anonymizedIPAddress"}
    risky = (await graph_http.get(f"{V1}/identityProtection/riskyUsers")).json()["value"]
    assert risky[0]["id"] == signins[0]["userId"]
    policies = (await graph_http.get(f"{V1}/identity/conditionalAccess/policies")).json()["value"]
    registration = [p for p in policies
                    if "urn:user:registersecurityinfo" in p["conditions"]["applications"]["includeUserActions"]]
    assert [p["state"] for p in registration] == ["enabledForReportingButNotEnforced"]
    tap = (await graph_http.get(f"{V1}/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/"
                                "TemporaryAccessPass")).json()
    assert tap["state"] == "enabled" and tap["maximumLifetimeInMinutes"] == 480


async def test_send_mail_is_stored_not_sent(graph_http: httpx.AsyncClient, graph_sim: GraphSimulator) -> None:
    graph_sim.tenant.app_roles.add("Mail.Send")  # type: ignore[union-attr]  # the grants file's enableMailAlerts
    message = {"message": {"subject": "MFA reset", "toRecipients": [{"emailAddress": {"address": "a@b.example"}}]}}
    response = await graph_http.post(f"{V1}/users/ada.lovelace@contoso.example/sendMail", json=message)
    assert response.status_code == 202
    stored = (await graph_http.get("/_sandbox/mail")).json()["mail"]
    assert stored[0]["message"]["subject"] == "MFA reset"
    assert (await graph_http.post(f"{V1}/users/ada.lovelace@contoso.example/sendMail", json={})).status_code == 400


async def test_sandbox_control_is_not_reachable_under_the_graph_versions(graph_http: httpx.AsyncClient) -> None:
    assert (await graph_http.get(f"{V1}/_sandbox/calls")).status_code == 400
    assert (await graph_http.get("/v2.0/users")).status_code == 400


async def test_sign_ins_and_identity_protection_need_their_licences(graph_http: httpx.AsyncClient,
                                                                     graph_sim: GraphSimulator) -> None:
    for path in ("/auditLogs/signIns", "/identityProtection/riskyUsers", "/identityProtection/riskDetections"):
        assert (await graph_http.get(f"{V1}{path}")).status_code == 200
    graph_sim.tenant.licenses = {"P1": False, "P2": False}
    for path in ("/auditLogs/signIns", "/identityProtection/riskyUsers", "/identityProtection/riskDetections"):
        response = await graph_http.get(f"{V1}{path}")
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        assert error["message"] == "Neither tenant is B2C or tenant doesn't have premium license"
    graph_sim.tenant.licenses = {"P1": True, "P2": False}  # P1 alone: sign-ins yes, Identity Protection no
    assert (await graph_http.get(f"{V1}/auditLogs/signIns")).status_code == 200
    assert (await graph_http.get(f"{V1}/identityProtection/riskyUsers")).status_code == 403


async def test_directory_roles_list_activated_roles_and_their_members(graph_http: httpx.AsyncClient) -> None:
    roles = (await graph_http.get(f"{V1}/directoryRoles")).json()["value"]
    names = {r["displayName"]: r["id"] for r in roles}
    assert "Global Administrator" in names and "Privileged Authentication Administrator" in names
    members = (await graph_http.get(f"{V1}/directoryRoles/{names['Privileged Authentication Administrator']}"
                                    "/members")).json()["value"]
    assert [m["userPrincipalName"] for m in members] == ["alan.turing@contoso.example"]
    assert (await graph_http.get(f"{V1}/directoryRoles/nope/members")).status_code == 404


async def test_directory_audits_page_oldest_first_with_the_services_filter(graph_http: httpx.AsyncClient,
                                                                          graph_sim: GraphSimulator) -> None:
    now = graph_sim.tenant.clock.now()
    for i, service in enumerate(["Authentication Methods", "Core Directory", "Group Management"] * 3):
        graph_sim.tenant.audits.append({"id": f"evt{i}", "activityDisplayName": "x", "loggedByService": service,
                                        "activityDateTime": (now - timedelta(minutes=i)).isoformat()
                                        .replace("+00:00", "Z")})
    since = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    items = await all_pages(graph_http, f"{V1}/auditLogs/directoryAudits", **{
        "$filter": f"activityDateTime ge {since} and (loggedByService eq 'Authentication Methods' or "
                   "loggedByService eq 'Core Directory')", "$orderby": "activityDateTime asc", "$top": "2"})
    ours = [i["id"] for i in items if i["id"].startswith("evt")]
    assert ours == ["evt7", "evt6", "evt4", "evt3", "evt1", "evt0"]
