"""The two lanes of the Graph budget (issue 27, section 1): the interactive lane first, a background turn that an
interactive arrival takes over, the background share of each bucket, shared reservations that a background request
never turns into a debt, and the lane following the flow rather than the call site."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.graph.budget import GraphBudget
from shared.graph.lanes import BACKGROUND, INTERACTIVE, background_flow, current_lane, lane

# The reports bucket, compressed a hundredfold: 5 per 0.1 s.
LIMITS = {"identity": (3500.0, 10.0), "writes": (3000.0, 150.0), "reports": (5.0, 10.0), "protection": (1.0, 1.0)}
READ = [("GET", "/users/u/authentication/methods")]


def _budget(share: float = 0.6) -> GraphBudget:
    return GraphBudget(LIMITS, time_scale=0.01, background_share=share)


async def test_an_interactive_request_is_served_before_background_requests_that_wait() -> None:
    budget = _budget(share=1.0)
    budget.drain()
    order: list[str] = []

    async def take(name: str, which: str) -> None:
        await budget.acquire(READ, which)
        order.append(name)

    background = [asyncio.create_task(take(f"b{i}", BACKGROUND)) for i in range(4)]
    await asyncio.sleep(0.001)  # the background requests are in line, the bucket empty
    await take("reset", INTERACTIVE)
    await asyncio.gather(*background)
    assert order[0] == "reset"  # it arrived last, and it was served first
    assert sorted(order[1:]) == ["b0", "b1", "b2", "b3"]


async def test_a_background_request_first_in_line_gives_its_turn_to_an_interactive_arrival() -> None:
    budget = _budget(share=1.0)
    budget.drain()  # the next token is 0.02 s away: the background request is first in line, waiting for it
    bg = asyncio.create_task(budget.acquire([("GET", "/users/u/authentication/methods")] * 3, BACKGROUND))
    await asyncio.sleep(0.005)
    started = time.monotonic()
    await budget.acquire(READ, INTERACTIVE)
    interactive_wait = time.monotonic() - started
    assert not bg.done()  # the interactive request took the first token; the background one still waits
    assert interactive_wait < 0.05  # one token's refill, not the background request's three
    await bg


async def test_background_work_takes_at_most_its_share_of_a_bucket_and_interactive_work_all_of_it() -> None:
    budget = _budget(share=0.6)
    started = time.monotonic()
    for _ in range(3):  # 0.6 of 5: three at once from an idle bucket
        await budget.acquire(READ, BACKGROUND)
    assert time.monotonic() - started < 0.01
    fourth = await budget.acquire(READ, BACKGROUND)
    assert fourth > 0.01  # the fourth waits for the share to refill, though the bucket itself still holds two
    started = time.monotonic()
    await budget.acquire(READ * 2, INTERACTIVE)
    assert time.monotonic() - started < 0.01  # the two the background share could not take
    assert budget.lane_requests == {"interactive": 0, "background": 0}  # counted at the transport, not here


async def test_over_a_window_background_work_gets_its_share_and_no_more() -> None:
    budget = _budget(share=0.6)
    budget.drain()
    count = 0

    async def background() -> None:
        nonlocal count
        while True:
            await budget.acquire(READ, BACKGROUND)
            count += 1

    task = asyncio.create_task(background())
    await asyncio.sleep(0.5)  # five windows: the bucket refills 25, the share 15
    task.cancel()
    assert 12 <= count <= 16


@pytest.mark.parametrize("share", [0.6, 1.0])
async def test_the_lane_follows_the_flow_into_what_it_awaits_and_the_tasks_it_starts(share: float) -> None:
    seen: list[str] = []

    async def deep() -> None:
        seen.append(current_lane())

    @background_flow
    async def inventory_pass() -> None:
        await deep()
        await asyncio.gather(asyncio.create_task(deep()), deep())

    await inventory_pass()
    await deep()
    assert seen == [BACKGROUND, BACKGROUND, BACKGROUND, INTERACTIVE]
    with lane(BACKGROUND):
        assert current_lane() == BACKGROUND
    assert current_lane() == INTERACTIVE
    with pytest.raises(ValueError), lane("bulk"):
        pass


async def test_requests_are_counted_by_lane_at_the_transport_and_taken_once() -> None:
    import httpx

    from shared.graph.budget import BudgetTransport

    budget = _budget()
    inner = httpx.MockTransport(lambda request: httpx.Response(200, json={"value": []}))
    async with httpx.AsyncClient(transport=BudgetTransport(inner, budget)) as client:
        await client.get("https://graph.microsoft.com/v1.0/users/u/authentication/methods")
        with lane(BACKGROUND):
            await client.post("https://graph.microsoft.com/v1.0/$batch", json={"requests": [
                {"id": "1", "method": "GET", "url": "/users/a/authentication/methods"},
                {"id": "2", "method": "GET", "url": "/users/b/authentication/methods"}]})
    assert budget.take_lane_counts() == {"interactive": 1, "background": 2}
    assert budget.take_lane_counts() == {"interactive": 0, "background": 0}


async def test_a_background_reservation_in_the_shared_buckets_is_no_debt_an_interactive_one_waits_behind(
        azurite: object) -> None:
    import uuid

    from azure.data.tables.aio import TableServiceClient

    from shared.graph.shared_budget import TableSharedBuckets

    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:  # type: ignore[attr-defined]
        table = f"lanes{uuid.uuid4().hex[:10]}"
        background, reset = TableSharedBuckets(service, table), TableSharedBuckets(service, table)
        for _ in range(5):
            assert await background.reserve("reports", 1.0, 5.0, 10.0, preemptible=True) == 0.0
        tentative = await background.reserve("reports", 1.0, 5.0, 10.0, preemptible=True)
        assert tentative is not None and 1.0 < tentative <= 2.0  # told when, and nothing reserved
        again = await background.reserve("reports", 1.0, 5.0, 10.0, preemptible=True)
        assert again is not None and 1.0 < again <= 2.0  # still the first token: it made no debt
        mine = await reset.reserve("reports", 1.0, 5.0, 10.0)
        assert mine is not None and 1.0 < mine <= 2.0  # the reset's turn is that first token, not the one after
        behind = await background.reserve("reports", 1.0, 5.0, 10.0, preemptible=True)
        assert behind is not None and 3.0 < behind <= 4.0  # the background request now waits behind the reset


async def test_two_instances_background_share_is_kept_in_the_shared_row(azurite: object) -> None:
    import uuid

    from azure.data.tables.aio import TableServiceClient

    from shared.graph.shared_budget import TableSharedBuckets

    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:  # type: ignore[attr-defined]
        table = f"share{uuid.uuid4().hex[:10]}"
        one = GraphBudget(LIMITS, shared=TableSharedBuckets(service, table), background_share=0.6)
        two = GraphBudget(LIMITS, shared=TableSharedBuckets(service, table), background_share=0.6)
        waits = [await one.acquire(READ, BACKGROUND), await two.acquire(READ, BACKGROUND),
                 await one.acquire(READ, BACKGROUND)]
        assert waits == [0.0, 0.0, 0.0]
        started = time.monotonic()
        fourth = asyncio.create_task(two.acquire(READ, BACKGROUND))
        await asyncio.sleep(0.3)
        assert not fourth.done()  # three of five taken by the two instances together: the share is spent
        assert await one.acquire(READ, INTERACTIVE) == 0.0  # and the bucket still serves a reset at once
        fourth.cancel()
        assert time.monotonic() - started < 1.0
