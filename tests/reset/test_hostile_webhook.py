"""2,400 generated hostile webhook requests (a seeded generator, so a failure replays): never a 5xx, never a job
from an unsigned, stale or re-signed-elsewhere request, every refusal a problem body."""

from __future__ import annotations

import json
import random
from collections import Counter

import azure.functions as func

from sandbox.hostile import hostile_body, hostile_headers
from sandbox.system import Sandbox
from tests.reset.conftest import entry

CASES = 2400


async def test_2400_hostile_requests_never_answer_5xx_and_make_jobs_only_when_signed(sandbox: Sandbox) -> None:
    rng = random.Random(20261201)
    webhook = entry("servicenow_webhook")
    statuses: Counter[int] = Counter()
    unsigned_accepted = 0
    for _ in range(CASES):
        body = hostile_body(rng)
        headers, signed = hostile_headers(rng, sandbox.webhook_secret, body)
        response: func.HttpResponse = await webhook(
            func.HttpRequest("POST", "http://localhost/api/itsm/servicenow", headers=headers, body=body))
        statuses[response.status_code] += 1
        if response.status_code in (200, 202) and not signed:
            unsigned_accepted += 1
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
            assert json.loads(response.get_body())["status"] == response.status_code
    assert sum(statuses.values()) == CASES
    assert not [s for s in statuses if s >= 500], statuses
    assert unsigned_accepted == 0
    assert statuses[401] > 1000 and statuses[400] > 100 and statuses[415] > 50, statuses
