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
    from shared.graph.throttle_signal import TableThrottleSignal

    table = f"signal{uuid.uuid4().hex[:10]}"
    limits = {"reports": (5.0, 10.0), "identity": (3500.0, 10.0)}
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:  # type: ignore[attr-defined]
        first = GraphBudget(limits, signal=TableThrottleSignal(service, table))
        second = GraphBudget(limits, signal=TableThrottleSignal(service, table))
        url = "https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails"
        first.penalize("GET", url, 0.6)  # Graph told the first instance to wait 0.6 s on the reports bucket
        await asyncio.gather(*first._pending)
        waited = await second.acquire([("GET", url)])
        assert 0.3 <= waited <= 1.5  # the second instance waited too, without a 429 of its own
        assert await second.acquire([("GET", "https://graph.microsoft.com/v1.0/users/x")]) == 0.0  # other buckets open
