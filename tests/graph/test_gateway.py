"""The Graph gateway: the real msgraph-sdk client (and its middleware) against the simulator in-process."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.graph import GraphSimulator
from shared.errors import (
    DefaultMethodConflictError,
    GraphBadRequestError,
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphThrottledError,
    GraphTransientError,
)
from shared.graph.errors import classify
from shared.graph.port import AuthMethod
from shared.graph.sdk_gateway import SdkGraphGateway
from tests.conftest import make_gateway


async def test_users_are_resolved_by_upn_or_id(gateway: SdkGraphGateway) -> None:
    by_upn = await gateway.get_user("partner_fabrikam.example#EXT#@contoso.example")
    assert by_upn.user_type == "Guest"
    assert await gateway.get_user(by_upn.id) == by_upn
    disabled = await gateway.get_user("old.employee@contoso.example")
    assert disabled.enabled is False
    with pytest.raises(GraphNotFoundError) as info:
        await gateway.get_user("nobody@contoso.example")
    assert info.value.status == 404 and info.value.code == "Request_ResourceNotFound" and info.value.request_id


async def test_memberships_name_groups_and_roles(gateway: SdkGraphGateway) -> None:
    user = await gateway.get_user("alan.turing@contoso.example")
    found = await gateway.memberships(user.id)
    assert found.role_names == {"Privileged Authentication Administrator"}
    assert found.role_template_ids == {"7be44c8a-adaf-4e2a-84d6-ab2649e08a13"}
    glass = await gateway.memberships((await gateway.get_user("breakglass2@contoso.example")).id)
    assert glass.group_names == {"Break Glass Accounts"}


async def test_methods_are_listed_without_the_password_and_typed(gateway: SdkGraphGateway) -> None:
    user = await gateway.get_user("max.methods@contoso.example")
    methods = await gateway.list_methods(user.id)
    assert len(methods) == 10
    assert {m.type for m in methods} == {"phone", "email", "microsoftAuthenticator", "fido2", "softwareOath",
                                         "windowsHelloForBusiness"}
    assert sorted(m.label for m in methods if m.type == "phone") == ["alternateMobile", "mobile", "office"]
    assert all(m.removable for m in methods)
    assert await gateway.default_method(user.id) == "voiceMobile"
    nobody = await gateway.get_user("no.methods@contoso.example")
    assert await gateway.list_methods(nobody.id) == []
    assert await gateway.default_method(nobody.id) is None


async def test_a_default_method_conflict_is_typed(gateway: SdkGraphGateway) -> None:
    user = await gateway.get_user("ada.lovelace@contoso.example")
    authenticator = next(m for m in await gateway.list_methods(user.id) if m.type == "microsoftAuthenticator")
    with pytest.raises(DefaultMethodConflictError) as info:
        await gateway.delete_method(user.id, authenticator)
    assert info.value.status == 400 and info.value.code == "badRequest"


async def test_a_default_conflict_in_a_batch_is_retried_once_the_rest_is_gone(
        gateway: SdkGraphGateway, graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("ada.lovelace@contoso.example")
    methods = sorted(await gateway.list_methods(user.id), key=lambda m: m.type != "microsoftAuthenticator")
    ghost = AuthMethod(type="fido2", id="already-gone")
    outcomes = await gateway.delete_methods(user.id, [[*methods, ghost]])  # the default first: refused, retried
    by_type = {o.method.type: o for o in outcomes}
    assert by_type["microsoftAuthenticator"].removed and by_type["microsoftAuthenticator"].error is None
    assert by_type["phone"].removed and by_type["phone"].error is None
    assert by_type["fido2"].removed and isinstance(by_type["fido2"].error, GraphNotFoundError)
    deletes = [(c["path"].rsplit("/", 2)[-2], c["status"]) for c in graph_sim.calls if c["method"] == "DELETE"]
    assert deletes == [("microsoftAuthenticatorMethods", 400), ("phoneMethods", 204), ("fido2Methods", 404),
                       ("microsoftAuthenticatorMethods", 204)]
    assert len([c for c in graph_sim.calls if c["path"] == "/v1.0/$batch"]) == 2
    assert await gateway.list_methods(user.id) == []


async def test_waves_delete_the_default_last_in_one_batch(gateway: SdkGraphGateway,
                                                          graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("ada.lovelace@contoso.example")
    methods = await gateway.list_methods(user.id)
    default = [m for m in methods if m.type == "microsoftAuthenticator"]
    rest = [m for m in methods if m.type != "microsoftAuthenticator"]
    outcomes = await gateway.delete_methods(user.id, [default, rest][::-1])
    assert all(o.removed and o.error is None for o in outcomes)
    assert len([c for c in graph_sim.calls if c["path"] == "/v1.0/$batch"]) == 1


async def test_a_failed_wave_blocks_the_next_which_is_retried_alone(
        gateway: SdkGraphGateway, graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("ken.thompson@contoso.example")  # default voiceAlternateMobile, mobile too
    methods = {m.label: m for m in await gateway.list_methods(user.id)}
    outcomes = await gateway.delete_methods(user.id, [[methods["mobile"]], [methods["alternateMobile"]]])
    assert [o.removed for o in outcomes] == [False, False]
    assert isinstance(outcomes[0].error, GraphBadRequestError)
    # Round 1: 424 (failed dependency); round 2 alone: the default conflict, since mobile is still there.
    assert isinstance(outcomes[1].error, DefaultMethodConflictError)
    assert len([c for c in graph_sim.calls if c["path"] == "/v1.0/$batch"]) == 2


async def test_a_snapshot_reads_user_roles_methods_and_default_in_one_round_trip(
        gateway: SdkGraphGateway, graph_sim: GraphSimulator) -> None:
    snap = await gateway.snapshot("partner_fabrikam.example#EXT#@contoso.example")
    assert snap.user.user_type == "Guest" and snap.default_method == "sms"
    assert [m.label for m in snap.methods] == ["mobile"]
    admin = await gateway.snapshot("alan.turing@contoso.example")
    assert admin.memberships.role_names == {"Privileged Authentication Administrator"}
    assert {m.type for m in admin.methods} == {"microsoftAuthenticator", "fido2"}
    outer = [c for c in graph_sim.calls if not c.get("batch")]
    # v1.0 for user and roles; a beta batch beside it (signInPreferences, and the methods, which only beta lists
    # with hardware tokens), sent concurrently: one round trip.
    assert sorted(c["path"] for c in outer) == ["/beta/$batch", "/beta/$batch", "/v1.0/$batch", "/v1.0/$batch"]
    beta = [c["path"] for c in graph_sim.calls if c.get("batch") and c["path"].startswith("/beta/")]
    assert sorted({p.rsplit("/", 1)[-1] for p in beta}) == ["methods", "signInPreferences"]
    with pytest.raises(GraphNotFoundError):
        await gateway.snapshot("nobody@contoso.example")


async def test_the_default_method_can_be_changed(gateway: SdkGraphGateway) -> None:
    user = await gateway.get_user("ken.thompson@contoso.example")
    await gateway.set_default_method(user.id, "voiceMobile")
    assert await gateway.default_method(user.id) == "voiceMobile"
    with pytest.raises(GraphBadRequestError):
        await gateway.set_default_method(user.id, "push")


async def test_more_than_twenty_deletes_are_split_into_batches(gateway: SdkGraphGateway,
                                                               graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("no.methods@contoso.example")
    ghosts = [AuthMethod(type="fido2", id=f"gone-{i}") for i in range(45)]
    outcomes = await gateway.delete_methods(user.id, [ghosts])
    assert [o.method.id for o in outcomes] == [g.id for g in ghosts]
    assert all(o.removed for o in outcomes)
    assert len([c for c in graph_sim.calls if c["path"] == "/v1.0/$batch"]) == 3


async def test_a_tap_is_issued_and_its_value_hidden(gateway: SdkGraphGateway) -> None:
    user = await gateway.get_user("no.methods@contoso.example")
    tap = await gateway.create_tap(user.id, lifetime_minutes=120, usable_once=True)
    assert tap.lifetime_minutes == 120 and tap.usable_once
    assert tap.expires - tap.start == timedelta(minutes=120)
    assert len(tap.value.reveal()) == 12
    assert tap.value.reveal() not in repr(tap) and tap.value.reveal() not in f"{tap.value}"
    with pytest.raises(GraphBadRequestError):
        await gateway.create_tap(user.id, lifetime_minutes=9999, usable_once=True)


async def test_the_tap_policy_is_read(gateway: SdkGraphGateway) -> None:
    policy = await gateway.tap_policy()
    assert policy.enabled and policy.minimum_lifetime_minutes == 60 and policy.maximum_lifetime_minutes == 480
    assert policy.exclude_targets[0]["id"] == "9c1b7f1e-5d0b-4f7e-8a51-0e4f7c6f2b01"


async def test_sessions_are_revoked(gateway: SdkGraphGateway, graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("ada.lovelace@contoso.example")
    await gateway.revoke_sessions(user.id)
    assert graph_sim.calls[-1]["path"] == f"/v1.0/users/{user.id}/revokeSignInSessions"
    assert graph_sim.calls[-1]["status"] == 200


async def test_the_registration_report_pages_with_next_link(gateway: SdkGraphGateway) -> None:
    page = await gateway.registration_details(odata_filter="methodsRegistered/any(x:x eq 'mobilePhone')")
    rows = list(page.items)
    while page.next_link:
        page = await gateway.registration_details(next_link=page.next_link)
        rows.extend(page.items)
    assert len(rows) == len({r["id"] for r in rows}) > 7  # past the suite's 7-row pages
    assert all("mobilePhone" in r["methodsRegistered"] for r in rows)
    with pytest.raises(GraphError):  # the List page documents no $top, and Graph refuses one
        await gateway.registration_details(top=4)


async def test_directory_audits_are_read_since_a_time(gateway: SdkGraphGateway, graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("linus.torvalds@contoso.example")
    start = graph_sim.tenant.clock.now() - timedelta(seconds=5)
    await gateway.create_tap(user.id, lifetime_minutes=60, usable_once=True)
    events = await gateway.directory_audits(since=start, activity="Admin registered security info",
                                            service="Authentication Methods")
    assert [e["targetResources"][0]["id"] for e in events] == [user.id]
    assert await gateway.directory_audits(since=datetime(2099, 1, 1, tzinfo=UTC)) == []


async def test_429_with_retry_after_is_honoured_by_the_sdk_retry_handler(graph_sim: GraphSimulator) -> None:
    gateway = make_gateway(graph_sim, GRAPH_MAX_RETRIES="3")
    graph_sim.throttle.enabled = True
    graph_sim.throttle.configure({"identity": {"capacity": 1, "window_s": 1}})
    started = time.monotonic()
    await gateway.get_user("ada.lovelace@contoso.example")  # takes the only token
    user = await gateway.get_user("grace.hopper@contoso.example")  # 429, waits Retry-After: 1, succeeds
    waited = time.monotonic() - started
    assert user.upn == "grace.hopper@contoso.example"
    assert [c["status"] for c in graph_sim.calls] == [200, 429, 200]
    assert waited >= 0.9


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(graph_sim: GraphSimulator) -> None:
    gateway = make_gateway(graph_sim, GRAPH_RETRY_AFTER_CAP_S="2")
    graph_sim.throttle.enabled = True
    graph_sim.throttle.configure({"identity": {"capacity": 1, "window_s": 60}})
    await gateway.get_user("ada.lovelace@contoso.example")
    started = time.monotonic()
    with pytest.raises(GraphThrottledError) as info:
        await gateway.get_user("grace.hopper@contoso.example")
    assert time.monotonic() - started < 1.5
    assert info.value.retry_after_s is not None and info.value.retry_after_s > 2
    assert [c["status"] for c in graph_sim.calls] == [200, 429]


async def test_persistent_503_becomes_a_transient_error_after_the_retries(graph_sim: GraphSimulator) -> None:
    gateway = make_gateway(graph_sim, GRAPH_MAX_RETRIES="1")
    graph_sim.faults.rate_503 = 1.0
    with pytest.raises(GraphTransientError) as info:
        await gateway.get_user("ada.lovelace@contoso.example")
    assert info.value.status == 503
    assert [c["status"] for c in graph_sim.calls] == [503, 503]


async def test_a_broken_connection_is_transient(graph_sim: GraphSimulator) -> None:
    gateway = make_gateway(graph_sim, GRAPH_MAX_RETRIES="0")
    graph_sim.faults.rate_reset = 1.0
    with pytest.raises(GraphTransientError):
        await gateway.get_user("ada.lovelace@contoso.example")


def test_error_classification() -> None:
    assert isinstance(classify(403, "Authorization_RequestDenied", "Insufficient privileges"), GraphForbiddenError)
    assert isinstance(classify(401, "InvalidAuthenticationToken", "expired"), GraphForbiddenError)
    assert isinstance(classify(504, "GatewayTimeout", ""), GraphTransientError)
    throttled = classify(429, "TooManyRequests", "", httpx.Headers({"Retry-After": "2.5"}))
    assert isinstance(throttled, GraphThrottledError) and throttled.retry_after_s == 2.5
    conflict = classify(400, "badRequest", "The requested authentication method id of [x] matches the user's "
                        "current default authentication method, and cannot be deleted until the default "
                        "authentication method is changed")
    assert isinstance(conflict, DefaultMethodConflictError)
    assert type(classify(400, "badRequest", "lifetime out of range")) is GraphBadRequestError


async def test_per_user_mfa_is_read_and_set_through_beta(gateway: SdkGraphGateway,
                                                         graph_sim: GraphSimulator) -> None:
    graph_sim.tenant.app_roles.add("Policy.ReadWrite.AuthenticationMethod")  # type: ignore[union-attr]
    user = await gateway.get_user("dennis.ritchie@contoso.example")
    assert await gateway.per_user_mfa(user.id) == "enforced"
    await gateway.set_per_user_mfa(user.id, "disabled")
    assert await gateway.per_user_mfa(user.id) == "disabled"
    assert [c["path"].split("/")[1] for c in graph_sim.calls] == ["v1.0", "beta", "beta", "beta"]
    with pytest.raises(GraphBadRequestError):
        await gateway.set_per_user_mfa(user.id, "sometimes")


def test_every_removable_type_has_a_delete_path() -> None:
    from shared.graph.port import REMOVABLE_TYPES
    from shared.graph.sdk_gateway import SEGMENTS

    assert set(SEGMENTS) == REMOVABLE_TYPES


async def test_the_managed_identity_path_sends_a_bearer_token_for_graphs_scope(graph_sim: GraphSimulator,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    """The production client (credential + Azure Identity auth provider) against the simulator standing in for
    https://graph.microsoft.com, in-process: no network, but the token path runs for real."""
    import logging

    from azure.core.credentials import AccessToken

    from sandbox.graph import build_app
    from shared.graph.client import build_graph_client
    from shared.settings import load_settings

    scopes_asked: list[tuple[str, ...]] = []

    class FakeManagedIdentity:
        async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            scopes_asked.append(scopes)
            return AccessToken("token-from-the-managed-identity", int(time.time()) + 3600)

        async def close(self) -> None:
            return None

    caplog.set_level(logging.DEBUG)
    client = build_graph_client(load_settings({}), credential=FakeManagedIdentity(),  # type: ignore[arg-type]
                                transport=httpx.ASGITransport(app=build_app(graph_sim)))
    gateway = SdkGraphGateway(client)
    user = await gateway.get_user("ada.lovelace@contoso.example")
    assert user.upn == "ada.lovelace@contoso.example"
    assert graph_sim.last_authorization == "Bearer token-from-the-managed-identity"
    assert scopes_asked and scopes_asked[0] == ("https://graph.microsoft.com/.default",)
    assert "token-from-the-managed-identity" not in caplog.text


async def test_waves_of_several_methods_go_as_one_chain_graph_accepts(gateway: SdkGraphGateway,
                                                                      graph_sim: GraphSimulator) -> None:
    user = await gateway.get_user("max.methods@contoso.example")
    methods = await gateway.list_methods(user.id)
    mobile = [m for m in methods if m.type == "phone" and m.label == "mobile"]
    rest = [m for m in methods if m not in mobile]
    assert len(rest) > 1
    outcomes = await gateway.delete_methods(user.id, [rest, mobile])  # a wave of many, then one after it
    assert all(o.removed for o in outcomes), [str(o.error) for o in outcomes if not o.removed]
    assert [c["status"] for c in graph_sim.calls if c["path"] == "/v1.0/$batch"] == [200]
