"""mfaops's own Graph budget: the documented cost table, bursts that fit, waits instead of 429s, and Retry-After
winning over the model (the reset spread over the buckets is in tests/reset/test_chain.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.graph.budget import GraphBudget, request_costs, total_costs

LIMITS = {"identity": (3500.0, 10.0), "writes": (3000.0, 150.0), "reports": (5.0, 10.0), "protection": (1.0, 1.0)}


@pytest.mark.parametrize(("method", "url", "expected"), [
    ("GET", "/users", {"identity": 2}),
    ("GET", "/users?$select=id", {"identity": 1}),
    ("GET", "https://graph.microsoft.com/v1.0/users/a@b.example?$select=id,userPrincipalName", {"identity": 1}),
    ("GET", "/users/a@b.example/transitiveMemberOf", {"identity": 2}),
    ("GET", "/groups/g/transitiveMembers", {"identity": 5}),
    ("GET", "/groups/g/members?$top=10", {"identity": 2}),
    ("POST", "/users/u/revokeSignInSessions", {"identity": 1, "writes": 1}),
    ("DELETE", "/users/u/authentication/phoneMethods/p", {"reports": 1}),
    ("GET", "/beta/users/u/authentication/signInPreferences", {"reports": 1}),
    ("GET", "http://127.0.0.1:7071/graph/beta/users/u/authentication/signInPreferences", {"reports": 1}),
    ("GET", "/auditLogs/directoryAudits?$filter=x", {"reports": 1}),
    ("GET", "/identity/conditionalAccess/policies", {"protection": 1}),
])
def test_requests_cost_what_the_throttling_page_says(method: str, url: str, expected: dict[str, float]) -> None:
    assert request_costs(method, url) == expected


def test_a_burst_is_cut_to_what_the_tightest_bucket_holds() -> None:
    budget = GraphBudget(LIMITS)
    deletes = [("DELETE", f"/users/u/authentication/fido2Methods/{i}") for i in range(9)]
    assert budget.fits(deletes) == 5
    assert budget.fits([("POST", "/users/u/revokeSignInSessions")] * 20) == 20
    assert GraphBudget(LIMITS, enabled=False).fits(deletes) == 9
    assert total_costs(deletes[:3]) == {"reports": 3}


async def test_a_request_past_the_bucket_waits_for_its_tokens_instead_of_failing() -> None:
    budget = GraphBudget({"reports": (5.0, 10.0)}, time_scale=0.01)  # 5 per 0.1 s
    started = time.monotonic()
    for _ in range(10):
        await budget.acquire([("GET", "/auditLogs/signIns")])
    elapsed = time.monotonic() - started
    assert 0.08 <= elapsed < 1.0 and budget.waited_s > 0


async def test_a_retry_after_wins_over_the_model() -> None:
    budget = GraphBudget({"identity": (3500.0, 10.0)})
    budget.penalize("GET", "/users/u", 0.2)
    started = time.monotonic()
    await budget.acquire([("GET", "/users/u")])
    assert time.monotonic() - started >= 0.18 and budget.penalties == 1


async def test_a_429_one_instance_saw_slows_the_others_through_table_storage(azurite: object) -> None:
    import uuid

    from azure.data.tables.aio import TableServiceClient

    from shared.graph.budget import GraphBudget
    from shared.graph.shared_budget import TableSharedBuckets

    table = f"signal{uuid.uuid4().hex[:10]}"
    limits = {"reports": (5.0, 10.0), "identity": (3500.0, 10.0)}
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:  # type: ignore[attr-defined]
        first = GraphBudget(limits, shared=TableSharedBuckets(service, table))
        second = GraphBudget(limits, shared=TableSharedBuckets(service, table))
        url = "https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails"
        first.penalize("GET", url, 0.6)  # Graph told the first instance to wait 0.6 s on the reports bucket
        await asyncio.gather(*first._pending)
        waited = await second.acquire([("GET", url)])
        assert 0.3 <= waited <= 1.5  # the second instance waited too, without a 429 of its own
        assert await second.acquire([("GET", "https://graph.microsoft.com/v1.0/users/x")]) == 0.0  # other buckets open


async def _two_instances_read_methods(azurite: object, graph_sim: object, *, shared: bool) -> tuple[int, list[int]]:
    """Two workers (each its own budget, Graph client and Table client) read users' methods at once, all in the
    reports bucket; how many 429s the simulator answered, and the statuses seen."""
    import uuid

    import httpx
    from azure.data.tables.aio import TableServiceClient

    from sandbox.graph import build_app
    from shared.graph.budget import BudgetTransport
    from shared.graph.shared_budget import TableSharedBuckets

    throttle = graph_sim.throttle  # type: ignore[attr-defined]
    throttle.enabled = True
    throttle.configure({}, time_scale=0.1)  # the documented 5 per 10 s, as 5 per 1 s
    table = f"budget{uuid.uuid4().hex[:10]}"
    # Each budget at 4 of the bucket's 5: headroom against event-loop jitter on a loaded 2-core CI machine (a
    # grant a few ms early by the simulator's clock is a 429), and still far from two instances' 8.
    limits = {"reports": (4.0, 10.0), "identity": (3500.0, 10.0), "writes": (3000.0, 150.0)}
    users = ["ada.lovelace", "grace.hopper", "max.methods", "alan.turing"]
    statuses: list[int] = []

    async def worker(index: int) -> None:
        async with TableServiceClient.from_connection_string(azurite.connection_string) as service:  # type: ignore[attr-defined]
            budget = GraphBudget(limits, time_scale=0.1,
                                 shared=TableSharedBuckets(service, table) if shared else None)
            transport = BudgetTransport(httpx.ASGITransport(app=build_app(graph_sim)), budget)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://graph.sandbox") as client:
                for i in range(10):
                    user = users[(i + index) % len(users)]
                    answer = await client.get(f"/v1.0/users/{user}@contoso.example/authentication/methods")
                    statuses.append(answer.status_code)

    await asyncio.gather(worker(0), worker(1))
    return throttle.throttled, statuses


async def test_two_instances_share_one_budget_through_table_storage(azurite: object, graph_sim: object) -> None:
    throttled, statuses = await _two_instances_read_methods(azurite, graph_sim, shared=True)
    assert throttled == 0 and statuses == [200] * 20  # two workers together stayed inside the one bucket


async def test_without_the_shared_budget_two_instances_send_twice_the_bucket(azurite: object,
                                                                             graph_sim: object) -> None:
    throttled, statuses = await _two_instances_read_methods(azurite, graph_sim, shared=False)
    assert throttled > 0 and 429 in statuses  # the control: each worker alone keeps its bucket, together not


async def test_a_lease_spends_a_big_bucket_locally_and_a_small_one_is_reserved_in_turn(azurite: object) -> None:
    import math
    import uuid

    from azure.data.tables.aio import TableServiceClient

    from shared.graph.shared_budget import TableSharedBuckets

    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:  # type: ignore[attr-defined]
        buckets = TableSharedBuckets(service, f"lease{uuid.uuid4().hex[:10]}")
        for _ in range(50):  # 50 identity units out of a 175-unit lease: one claim, then local
            assert await buckets.reserve("identity", 1.0, 3500.0, 10.0) == 0.0
        assert buckets.round_trips == 3  # the table's creation, a read that found no row, and the row's creation
        for _ in range(5):
            assert await buckets.reserve("reports", 1.0, 5.0, 10.0) == 0.0
        sixth = await buckets.reserve("reports", 1.0, 5.0, 10.0)
        assert sixth is not None and 1.0 < sixth <= 2.0  # reserved: its token is there in about 2 s
        other = TableSharedBuckets(service, buckets._table)
        seventh = await other.reserve("reports", 1.0, 5.0, 10.0)
        assert seventh is not None and 3.0 < seventh <= 4.0  # another instance queues behind it, not beside it
        refused = await other.reserve("reports", 1.0, 5.0, 10.0, max_wait_s=1.0)
        assert refused == math.inf  # no turn within a second: refused, and nothing reserved
        eighth = await other.reserve("reports", 1.0, 5.0, 10.0)
        assert eighth is not None and 5.0 < eighth <= 6.0


async def test_an_unreachable_store_leaves_the_local_budget_in_charge() -> None:
    from azure.data.tables.aio import TableServiceClient

    from shared.graph.shared_budget import TableSharedBuckets

    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + "A" * 88 + \
           ";TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    async with TableServiceClient.from_connection_string(dead, retry_total=0) as service:
        buckets = TableSharedBuckets(service, "nowhere")
        budget = GraphBudget({"reports": (5.0, 10.0)}, shared=buckets)
        assert await budget.acquire([("GET", "/auditLogs/signIns")]) == 0.0
        trips = buckets.round_trips
        assert trips == 1  # it tried
        assert await budget.acquire([("GET", "/auditLogs/signIns")]) == 0.0
        assert buckets.round_trips == trips  # not asked again at once: the local budget decides for a while


async def test_a_request_with_no_turn_in_time_is_answered_429_by_the_budget_and_never_sent(graph_sim: object) -> None:
    import httpx

    from sandbox.graph import build_app
    from shared.graph.budget import BudgetTransport

    budget = GraphBudget({"reports": (1.0, 10.0)}, max_wait_s=0.2)  # one request per 10 s; nobody waits 0.2 s+
    transport = BudgetTransport(httpx.ASGITransport(app=build_app(graph_sim)), budget)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://graph.sandbox") as client:
        await client.delete("/_sandbox/calls")
        first = await client.get("/v1.0/users/ada.lovelace@contoso.example/authentication/methods")
        second = await client.get("/v1.0/users/grace.hopper@contoso.example/authentication/methods")
        calls = (await client.get("/_sandbox/calls")).json()["calls"]
    assert first.status_code == 200
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert second.json()["error"]["code"] == "TooManyRequests" and "GRAPH_BUDGET_MAX_WAIT_S" in second.text
    assert [c["path"] for c in calls if "authentication" in c["path"]] == [
        "/v1.0/users/ada.lovelace@contoso.example/authentication/methods"]  # the refused one never left
    assert budget.refused == 1
