"""$batch, throttling, faults and the call log of the Graph simulator (raw HTTP)."""

from __future__ import annotations

import httpx
import pytest

from sandbox.graph import GraphSimulator

V1 = "/v1.0"


async def test_batch_answers_each_request_and_logs_them_marked(graph_http: httpx.AsyncClient) -> None:
    await graph_http.delete("/_sandbox/calls")
    response = await graph_http.post(f"{V1}/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": "/users/ada.lovelace@contoso.example"},
        {"id": "2", "method": "GET", "url": "/users/nobody@contoso.example"},
        {"id": "3", "method": "GET", "url": "/users?$top=2"},
    ]})
    assert response.status_code == 200
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"1": 200, "2": 404, "3": 200}
    third = next(r for r in response.json()["responses"] if r["id"] == "3")
    assert len(third["body"]["value"]) == 2
    calls = (await graph_http.get("/_sandbox/calls")).json()["calls"]
    assert [(c["method"], c["path"], c["status"], c.get("batch", False)) for c in calls] == [
        ("GET", "/v1.0/users/ada.lovelace@contoso.example", 200, True),
        ("GET", "/v1.0/users/nobody@contoso.example", 404, True),
        ("GET", "/v1.0/users", 200, True),
        ("POST", "/v1.0/$batch", 200, False),
    ]


async def test_a_failed_dependency_is_424(graph_http: httpx.AsyncClient) -> None:
    response = await graph_http.post(f"{V1}/$batch", json={"requests": [
        {"id": "a", "method": "GET", "url": "/users/ada.lovelace@contoso.example"},
        {"id": "b", "method": "GET", "url": "/users/nobody@contoso.example", "dependsOn": ["a"]},
        {"id": "c", "method": "GET", "url": "/users/grace.hopper@contoso.example", "dependsOn": ["b"]},
        {"id": "d", "method": "GET", "url": "/users/grace.hopper@contoso.example", "dependsOn": ["c"]},
    ]})
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"a": 200, "b": 404, "c": 424, "d": 424}


def _get(rid: str, *depends: str) -> dict[str, object]:
    return {"id": rid, "method": "GET", "url": "/users/ada.lovelace@contoso.example",
            **({"dependsOn": list(depends)} if depends else {})}


@pytest.mark.parametrize("requests", [
    [_get("a"), _get("b", "a"), _get("c", "a", "b")],  # fan-in: a request depends on two
    [_get("a"), _get("b", "a"), _get("c")],  # a chain beside a parallel request
    [_get("a"), _get("b"), _get("c", "a"), _get("d", "b")],  # two chains
    [_get("a"), _get("b", "a"), _get("c", "b"), _get("d", "a")],  # a chain and a fan-out mixed
])
async def test_a_batch_neither_sequential_nor_parallel_is_refused(graph_http: httpx.AsyncClient,
                                                                  requests: list[dict[str, object]]) -> None:
    response = await graph_http.post(f"{V1}/$batch", json={"requests": requests})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"] == "Batch should be either fully sequential or fully parallel"


@pytest.mark.parametrize("requests", [
    [_get("a"), _get("b"), _get("c")],  # fully parallel
    [_get("a"), _get("b", "a"), _get("c", "b")],  # one chain
    [_get("a"), _get("b", "a"), _get("c", "a")],  # all depend on the same one
])
async def test_the_three_accepted_batch_shapes(graph_http: httpx.AsyncClient,
                                               requests: list[dict[str, object]]) -> None:
    response = await graph_http.post(f"{V1}/$batch", json={"requests": requests})
    assert response.status_code == 200 and [r["status"] for r in response.json()["responses"]] == [200] * 3


async def test_a_body_that_is_not_json_is_400_naming_the_parse_error(graph_http: httpx.AsyncClient) -> None:
    response = await graph_http.post(f"{V1}/$batch", content=b'{"requests": [', headers={
        "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "Unable to read JSON request payload" in response.json()["error"]["message"]
    assert "line 1" in response.json()["error"]["message"]


async def test_more_than_twenty_requests_is_a_400(graph_http: httpx.AsyncClient) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/users?$top=1"} for i in range(21)]
    response = await graph_http.post(f"{V1}/$batch", json={"requests": requests})
    assert response.status_code == 400
    assert "20" in response.json()["error"]["message"]
    ok = await graph_http.post(f"{V1}/$batch", json={"requests": requests[:20]})
    assert ok.status_code == 200 and len(ok.json()["responses"]) == 20


async def test_batch_deletes_follow_the_same_rules(graph_http: httpx.AsyncClient) -> None:
    uid = (await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")).json()["id"]
    methods = (await graph_http.get(f"{V1}/users/{uid}/authentication/methods")).json()["value"]
    auth = next(m for m in methods if "Authenticator" in m["@odata.type"])
    response = await graph_http.post(f"{V1}/$batch", json={"requests": [
        {"id": "default", "method": "DELETE", "url": f"/users/{uid}/authentication/microsoftAuthenticatorMethods/"
                                                      f"{auth['id']}"},
        {"id": "phone", "method": "DELETE", "url": f"/users/{uid}/authentication/phoneMethods/"
                                                    "3179e48a-750b-4051-897c-87b9720928f7"},
    ]})
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert by_id["default"]["status"] == 400 and by_id["default"]["body"]["error"]["code"] == "badRequest"
    assert by_id["phone"]["status"] == 204


async def test_a_drained_bucket_answers_429_with_retry_after(graph_http: httpx.AsyncClient,
                                                             graph_sim: GraphSimulator) -> None:
    await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True, "limits": {
        "identity": {"capacity": 3, "window_s": 10}}}})
    statuses = [(await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    throttled = statuses[3]
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 4


async def test_each_batch_request_is_throttled_on_its_own(graph_http: httpx.AsyncClient) -> None:
    await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True, "limits": {
        "identity": {"capacity": 3, "window_s": 10}}}})
    requests = [{"id": str(i), "method": "GET", "url": "/users/ada.lovelace@contoso.example"} for i in range(4)]
    response = await graph_http.post(f"{V1}/$batch", json={"requests": requests})
    assert response.status_code == 200
    inner = {r["id"]: r for r in response.json()["responses"]}
    assert [inner[str(i)]["status"] for i in range(4)] == [200, 200, 200, 429]
    assert "Retry-After" in inner["3"]["headers"]


async def test_protection_and_conditional_access_allow_one_request_a_second_without_retry_after(
        graph_http: httpx.AsyncClient) -> None:
    await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True}})
    first = await graph_http.get(f"{V1}/identity/conditionalAccess/policies")
    second = await graph_http.get(f"{V1}/identityProtection/riskDetections")
    assert first.status_code == 200
    assert second.status_code == 429
    assert "Retry-After" not in second.headers


async def test_reports_allow_five_requests_per_ten_seconds(graph_http: httpx.AsyncClient) -> None:
    await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True}})
    codes = [(await graph_http.get(f"{V1}/auditLogs/directoryAudits")).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


async def test_injected_faults(graph_http: httpx.AsyncClient) -> None:
    await graph_http.post("/_sandbox/config", json={"faults": {"rate_503": 1.0}})
    response = await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")
    assert response.status_code == 503
    await graph_http.post("/_sandbox/config", json={"faults": {"rate_503": 0.0, "rate_429": 1.0}})
    response = await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    await graph_http.post("/_sandbox/config", json={"faults": {"rate_429": 0.0}})
    assert (await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")).status_code == 200


async def test_the_call_log_clears(graph_http: httpx.AsyncClient) -> None:
    await graph_http.get(f"{V1}/users")
    assert (await graph_http.get("/_sandbox/calls")).json()["calls"]
    assert (await graph_http.delete("/_sandbox/calls")).status_code == 204
    assert (await graph_http.get("/_sandbox/calls")).json() == {"calls": []}


async def test_configured_latency_delays_every_request(graph_http: httpx.AsyncClient) -> None:
    import time

    await graph_http.post("/_sandbox/config", json={"latency_ms": 120})
    started = time.monotonic()
    await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")
    assert time.monotonic() - started >= 0.12
    await graph_http.post("/_sandbox/config", json={"latency_ms": 0})


async def test_a_users_methods_count_in_the_reports_bucket(graph_http: httpx.AsyncClient) -> None:
    await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True}})
    uid = (await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example")).json()["id"]
    codes = [(await graph_http.get(f"{V1}/users/{uid}/authentication/methods")).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    # The identity bucket is untouched by them: the directory still answers.
    assert (await graph_http.get(f"{V1}/users/{uid}")).status_code == 200


async def test_identity_costs_follow_the_page_table(graph_http: httpx.AsyncClient) -> None:
    # 6 resource units: GET /users costs 2, GET /users?$select 1, GET users/{id}/transitiveMemberOf 2, a write 1.
    await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True, "limits": {
        "identity": {"capacity": 6, "window_s": 3600}}}})
    assert (await graph_http.get(f"{V1}/users")).status_code == 200
    assert (await graph_http.get(f"{V1}/users?$select=id")).status_code == 200
    assert (await graph_http.get(f"{V1}/users/ada.lovelace@contoso.example/transitiveMemberOf")).status_code == 200
    assert (await graph_http.post(f"{V1}/users/ada.lovelace@contoso.example/revokeSignInSessions")).status_code \
        == 200
    throttled = await graph_http.get(f"{V1}/users?$select=id")
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers


async def test_the_tenant_size_sets_the_identity_bucket_and_time_can_be_compressed(
        graph_http: httpx.AsyncClient) -> None:
    from sandbox.graph.throttle import identity_units

    assert [identity_units(n) for n in (30, 49, 50, 500, 501)] == [3500, 3500, 5000, 5000, 8000]
    config = (await graph_http.post("/_sandbox/config", json={"throttle": {"enabled": True, "time_scale": 0.01}}))
    limits = config.json()["throttle"]["limits"]
    assert limits["reports"] == {"capacity": 5, "window_s": 0.1} and limits["identity"]["capacity"] == 3500
    codes = [(await graph_http.get(f"{V1}/auditLogs/directoryAudits")).status_code for _ in range(6)]
    assert codes[-1] == 429
    import asyncio

    await asyncio.sleep(0.05)  # half a compressed window: two or more tokens back
    assert (await graph_http.get(f"{V1}/auditLogs/directoryAudits")).status_code == 200
