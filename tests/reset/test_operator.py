"""The operator's reset (the CLI's service) and the per-user lock every door shares."""

from __future__ import annotations

import asyncio
from collections import Counter

from sandbox.system import Sandbox
from shared.reset.service import OperatorReset
from tests.reset.conftest import post, ticket


async def test_two_operators_and_a_ticket_at_once_reset_a_user_once(sandbox: Sandbox) -> None:
    service = sandbox.container.reset_service()
    user = "ada.lovelace@contoso.example"
    response = await post(sandbox, ticket())
    assert response.status_code == 202
    orders = [OperatorReset(user=user, by=f"desk{i}@contoso.example", reason="race") for i in range(2)]
    jobs = await asyncio.gather(*(service.reset_by_operator(o) for o in orders), sandbox.deliver_all())
    states = sorted(j.state.value for j in jobs[:2])  # type: ignore[union-attr]
    deleted = Counter(c["path"] for c in sandbox.graph.calls if c["method"] == "DELETE" and c["status"] == 204)
    assert deleted and max(deleted.values()) == 1, "no method deleted twice"
    assert states.count("succeeded") <= 1
    parked = [j for j in jobs[:2] if j.state.value == "awaiting_approval"]  # type: ignore[union-attr]
    assert len(parked) + states.count("succeeded") == 2
    codes = {next(s.outcome for s in reversed(j.steps) if s.action == "guardrail") for j in parked}  # type: ignore[union-attr]
    assert codes <= {"user_busy", "recently_reset"}


async def test_the_user_lock_is_exclusive_reentrant_and_expires(sandbox: Sandbox) -> None:
    store = sandbox.container.job_store()
    assert await store.claim("reset-user:x", "job-a", ttl_s=60) == "job-a"
    assert await store.claim("reset-user:x", "job-b", ttl_s=60) == "job-a"
    assert await store.claim("reset-user:x", "job-a", ttl_s=60) == "job-a"  # a redelivery of the holder
    await store.release("reset-user:x", "job-b")  # not the holder: nothing happens
    assert await store.claim("reset-user:x", "job-b", ttl_s=60) == "job-a"
    await store.release("reset-user:x", "job-a")
    assert await store.claim("reset-user:x", "job-b", ttl_s=0.01) == "job-b"
    await asyncio.sleep(0.05)
    assert await store.claim("reset-user:x", "job-c", ttl_s=60) == "job-c"  # a crashed holder's lock expired
