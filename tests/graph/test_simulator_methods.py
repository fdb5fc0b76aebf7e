"""The Graph simulator over raw HTTP: authentication methods, the default-method and phone rules, TAP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from sandbox.graph import GraphSimulator
from sandbox.graph.methods import PASSWORD_ID

V1, BETA = "/v1.0", "/beta"
DEFAULT_CONFLICT = ("Cannot delete default method with other methods configured. Please change default method "
                    "before deletion.")


async def user_id(client: httpx.AsyncClient, name: str) -> str:
    return str((await client.get(f"{V1}/users/{name}@contoso.example")).json()["id"])


async def methods(client: httpx.AsyncClient, uid: str) -> list[dict[str, Any]]:
    response = await client.get(f"{V1}/users/{uid}/authentication/methods")
    assert response.status_code == 200
    return list(response.json()["value"])


async def test_every_method_type_is_listed_with_its_odata_type(graph_http: httpx.AsyncClient,
                                                               graph_sim: GraphSimulator) -> None:
    seen: set[str] = set()
    for uid in graph_sim.tenant.order:
        listed = await methods(graph_http, uid)
        assert listed[0] == {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": PASSWORD_ID,
                             "password": None, "createdDateTime": None}
        seen |= {m["@odata.type"].removeprefix("#microsoft.graph.") for m in listed}
    assert seen == {
        "passwordAuthenticationMethod", "phoneAuthenticationMethod", "emailAuthenticationMethod",
        "fido2AuthenticationMethod", "microsoftAuthenticatorAuthenticationMethod",
        "softwareOathAuthenticationMethod", "temporaryAccessPassAuthenticationMethod",
        "windowsHelloForBusinessAuthenticationMethod", "platformCredentialAuthenticationMethod",
        "externalAuthenticationMethod", "qrCodePinAuthenticationMethod"}


async def test_phone_and_email_methods_have_their_fixed_ids(graph_http: httpx.AsyncClient) -> None:
    listed = await methods(graph_http, await user_id(graph_http, "grace.hopper"))
    ids = {m.get("phoneType", m["@odata.type"]): m["id"] for m in listed}
    assert ids["mobile"] == "3179e48a-750b-4051-897c-87b9720928f7"
    assert ids["alternateMobile"] == "b6332ec1-7057-4abe-9331-3d72feddfe41"
    assert ids["office"] == "e37fc753-ff3b-4958-9484-eaa9425c82bc"
    assert ids["#microsoft.graph.emailAuthenticationMethod"] == "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"


async def test_the_password_cannot_be_deleted(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "ada.lovelace")
    assert (await graph_http.delete(f"{V1}/users/{uid}/authentication/passwordMethods/{PASSWORD_ID}")
            ).status_code == 405
    assert (await graph_http.delete(f"{V1}/users/{uid}/authentication/methods/{PASSWORD_ID}")).status_code == 405
    assert (await graph_http.get(f"{V1}/users/{uid}/authentication/methods/{PASSWORD_ID}")).status_code == 200


async def test_unknown_method_ids_and_wrong_types_are_404(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "ada.lovelace")
    response = await graph_http.delete(f"{V1}/users/{uid}/authentication/fido2Methods/not-a-method")
    assert response.status_code == 404
    phone = "3179e48a-750b-4051-897c-87b9720928f7"
    assert (await graph_http.get(f"{V1}/users/{uid}/authentication/fido2Methods/{phone}")).status_code == 404
    assert (await graph_http.get(f"{V1}/users/{uid}/authentication/phoneMethods/{phone}")).status_code == 200


async def test_the_default_method_goes_last(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "ada.lovelace")  # phone + authenticator, default push
    authenticator = next(m for m in await methods(graph_http, uid) if "Authenticator" in m["@odata.type"])
    url = f"{V1}/users/{uid}/authentication/microsoftAuthenticatorMethods/{authenticator['id']}"
    refused = await graph_http.delete(url)
    assert refused.status_code == 400
    assert refused.json()["error"] == {**refused.json()["error"], "code": "badRequest", "message": DEFAULT_CONFLICT}
    assert (await graph_http.delete(f"{V1}/users/{uid}/authentication/phoneMethods/"
                                    "3179e48a-750b-4051-897c-87b9720928f7")).status_code == 204
    assert (await graph_http.delete(url)).status_code == 204
    prefs = (await graph_http.get(f"{BETA}/users/{uid}/authentication/signInPreferences")).json()
    assert prefs["userPreferredMethodForSecondaryAuthentication"] is None
    assert [m["@odata.type"] for m in await methods(graph_http, uid)] == [
        "#microsoft.graph.passwordAuthenticationMethod"]


async def test_changing_the_default_moves_the_rule(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "ada.lovelace")
    assert (await graph_http.get(f"{V1}/users/{uid}/authentication/signInPreferences")).status_code == 400
    patched = await graph_http.patch(f"{BETA}/users/{uid}/authentication/signInPreferences",
                                     json={"userPreferredMethodForSecondaryAuthentication": "sms"})
    assert patched.status_code == 204
    phone = f"{V1}/users/{uid}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"
    assert (await graph_http.delete(phone)).status_code == 400
    authenticator = next(m for m in await methods(graph_http, uid) if "Authenticator" in m["@odata.type"])
    assert (await graph_http.delete(f"{V1}/users/{uid}/authentication/microsoftAuthenticatorMethods/"
                                    f"{authenticator['id']}")).status_code == 204
    assert (await graph_http.delete(phone)).status_code == 204
    bad = await graph_http.patch(f"{BETA}/users/{uid}/authentication/signInPreferences",
                                 json={"userPreferredMethodForSecondaryAuthentication": "push"})
    assert bad.status_code == 400


async def test_alternate_mobile_cannot_outlive_mobile(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "ken.thompson")  # mobile + alternateMobile, default voiceAlternateMobile
    mobile = f"{V1}/users/{uid}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"
    alternate = f"{V1}/users/{uid}/authentication/phoneMethods/b6332ec1-7057-4abe-9331-3d72feddfe41"
    refused = await graph_http.delete(mobile)
    assert refused.status_code == 400 and "alternateMobile" in refused.json()["error"]["message"]
    assert (await graph_http.delete(alternate)).status_code == 400  # it is the default and mobile remains
    await graph_http.patch(f"{BETA}/users/{uid}/authentication/signInPreferences",
                           json={"userPreferredMethodForSecondaryAuthentication": "sms"})
    assert (await graph_http.delete(alternate)).status_code == 204
    assert (await graph_http.delete(mobile)).status_code == 204
    nobody = await user_id(graph_http, "no.methods")
    added = await graph_http.post(f"{V1}/users/{nobody}/authentication/phoneMethods",
                                  json={"phoneNumber": "+1 5550100", "phoneType": "alternateMobile"})
    assert added.status_code == 400


async def test_per_user_mfa_requirements_are_beta(graph_http: httpx.AsyncClient, graph_sim: GraphSimulator) -> None:
    graph_sim.tenant.app_roles.add("Policy.ReadWrite.AuthenticationMethod")  # type: ignore[union-attr]
    uid = await user_id(graph_http, "dennis.ritchie")
    assert (await graph_http.get(f"{BETA}/users/{uid}/authentication/requirements")).json() == {
        "perUserMfaState": "enforced"}
    assert (await graph_http.patch(f"{BETA}/users/{uid}/authentication/requirements",
                                   json={"perUserMfaState": "disabled"})).status_code == 204
    assert (await graph_http.get(f"{BETA}/users/{uid}/authentication/requirements")).json()["perUserMfaState"] == \
        "disabled"
    assert (await graph_http.patch(f"{BETA}/users/{uid}/authentication/requirements",
                                   json={"perUserMfaState": "sometimes"})).status_code == 400


# -- Temporary Access Pass ---------------------------------------------------------------------------------

async def create_tap(client: httpx.AsyncClient, uid: str, **body: Any) -> httpx.Response:
    return await client.post(f"{V1}/users/{uid}/authentication/temporaryAccessPassMethods", json=body)


async def test_a_tap_value_is_only_in_the_create_response(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "no.methods")
    created = await create_tap(graph_http, uid, lifetimeInMinutes=60, isUsableOnce=True)
    assert created.status_code == 201
    body = created.json()
    assert len(body["temporaryAccessPass"]) == 12  # the demo policy's defaultLength
    assert body["isUsable"] is True and body["methodUsabilityReason"] == "EnabledByPolicy"
    listed = await methods(graph_http, uid)
    tap = next(m for m in listed if m["@odata.type"].endswith("temporaryAccessPassAuthenticationMethod"))
    assert tap["temporaryAccessPass"] is None
    single = (await graph_http.get(f"{V1}/users/{uid}/authentication/temporaryAccessPassMethods/{body['id']}")).json()
    assert single["temporaryAccessPass"] is None


async def test_one_tap_per_user_a_new_one_replaces_the_old(graph_http: httpx.AsyncClient,
                                                            graph_sim: GraphSimulator) -> None:
    uid = await user_id(graph_http, "no.methods")
    first = (await create_tap(graph_http, uid)).json()
    graph_sim.tenant.clock.set(graph_sim.tenant.clock.now() + timedelta(seconds=1))
    second = (await create_tap(graph_http, uid)).json()
    taps = [m for m in await methods(graph_http, uid) if "TemporaryAccessPass" in m["@odata.type"] or
            "temporaryAccessPass" in m["@odata.type"]]
    assert [t["id"] for t in taps] == [second["id"]] != [first["id"]]


@pytest.mark.parametrize("body", [{"lifetimeInMinutes": 30}, {"lifetimeInMinutes": 481},
                                  {"lifetimeInMinutes": 5}, {"lifetimeInMinutes": "sixty"}])
async def test_tap_lifetime_must_fit_the_policy(graph_http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await create_tap(graph_http, await user_id(graph_http, "no.methods"), **body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "badRequest"


async def test_a_one_time_only_policy_refuses_multi_use(graph_http: httpx.AsyncClient,
                                                        graph_sim: GraphSimulator) -> None:
    graph_sim.tenant.tap_policy["isUsableOnce"] = True
    uid = await user_id(graph_http, "no.methods")
    assert (await create_tap(graph_http, uid, isUsableOnce=False)).status_code == 400
    created = await create_tap(graph_http, uid)
    assert created.status_code == 201 and created.json()["isUsableOnce"] is True


async def test_a_disabled_policy_or_an_excluded_user_gets_no_tap(graph_http: httpx.AsyncClient,
                                                                 graph_sim: GraphSimulator) -> None:
    excluded = await create_tap(graph_http, await user_id(graph_http, "breakglass1"))
    assert excluded.status_code == 400
    graph_sim.tenant.tap_policy["state"] = "disabled"
    assert (await create_tap(graph_http, await user_id(graph_http, "no.methods"))).status_code == 400


async def test_tap_usability_follows_the_clock_and_use(graph_http: httpx.AsyncClient,
                                                       graph_sim: GraphSimulator) -> None:
    async def reason(name: str) -> str:
        listed = await methods(graph_http, await user_id(graph_http, name))
        tap = next(m for m in listed if m["@odata.type"].endswith("temporaryAccessPassAuthenticationMethod"))
        assert tap["isUsable"] is (tap["methodUsabilityReason"] == "EnabledByPolicy")
        return str(tap["methodUsabilityReason"])

    assert await reason("tap.active") == "EnabledByPolicy"
    assert await reason("tap.used") == "OneTimeUsed"
    assert await reason("tap.expired") == "Expired"
    assert await reason("tap.future") == "NotYetValid"
    uid = await user_id(graph_http, "no.methods")
    await create_tap(graph_http, uid, lifetimeInMinutes=60, isUsableOnce=True)
    assert (await graph_http.post(f"/_sandbox/users/{uid}/useTap")).status_code == 200
    assert await reason("no.methods") == "OneTimeUsed"
    moved = await graph_http.post("/_sandbox/clock", json={
        "now": (graph_sim.tenant.clock.now() + timedelta(hours=9)).isoformat()})
    assert moved.status_code == 200
    assert await reason("tap.active") == "Expired"
    graph_sim.tenant.tap_policy["state"] = "disabled"
    assert await reason("tap.future") == "DisabledByPolicy"


async def test_one_of_two_registrations_of_the_default_kind_may_go(graph_http: httpx.AsyncClient) -> None:
    uid = await user_id(graph_http, "max.methods")  # two Authenticator apps among ten methods
    await graph_http.patch(f"{BETA}/users/{uid}/authentication/signInPreferences",
                           json={"userPreferredMethodForSecondaryAuthentication": "push"})
    apps = [m for m in await methods(graph_http, uid) if "Authenticator" in m["@odata.type"]]
    first = await graph_http.delete(f"{V1}/users/{uid}/authentication/microsoftAuthenticatorMethods/{apps[0]['id']}")
    assert first.status_code == 204
    last = await graph_http.delete(f"{V1}/users/{uid}/authentication/microsoftAuthenticatorMethods/{apps[1]['id']}")
    assert last.status_code == 400 and last.json()["error"]["message"] == DEFAULT_CONFLICT


async def test_adding_a_phone_and_changing_per_user_mfa_are_audited(graph_http: httpx.AsyncClient,
                                                                    graph_sim: GraphSimulator) -> None:
    graph_sim.tenant.app_roles.add("Policy.ReadWrite.AuthenticationMethod")  # type: ignore[union-attr]
    uid = await user_id(graph_http, "no.methods")
    assert (await graph_http.post(f"{V1}/users/{uid}/authentication/phoneMethods",
                                  json={"phoneNumber": "+1 5550100", "phoneType": "mobile"})).status_code == 201
    await graph_http.patch(f"{BETA}/users/{uid}/authentication/requirements", json={"perUserMfaState": "enforced"})
    activities = [(e["loggedByService"], e["activityDisplayName"]) for e in graph_sim.tenant.audits]
    assert activities == [("Authentication Methods", "Admin registered security info"),
                          ("Core Directory", "Update user")]
    change = graph_sim.tenant.audits[1]["targetResources"][0]["modifiedProperties"][0]
    assert change["displayName"] == "StrongAuthenticationRequirement" and '"State": 2' in change["newValue"]
