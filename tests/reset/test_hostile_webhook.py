"""2,400 generated hostile webhook requests (a seeded generator, so a failure replays): never a 5xx, never a job
from an unsigned, stale or re-signed-elsewhere request, every refusal a problem body."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

import azure.functions as func

from sandbox.system import Sandbox
from shared.reset.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.reset.conftest import entry, ticket

CASES = 2400
ODD = ["", " ", "\x00", "\u200b", "é", "ß", "\ud7ff", "💥", "\n", "\r\n", "\\", '"', "'", "/", "?", "#", "%00",
       "../", "<script>", "${jndi:x}", "9" * 400, "-1", "1e309", "NaN", "v1=", "v1=,v1=", "sha256=", "V1=", "=" * 60]


def odd_string(rng: random.Random) -> str:
    return "".join(rng.choice(ODD) for _ in range(rng.randint(0, 4)))


def odd_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 10**30, 1.5, -0.0])
    if kind in (2, 3, 4):
        return odd_string(rng)
    if kind == 5:
        return [odd_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {odd_string(rng) or "k": odd_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def hostile_body(rng: random.Random) -> bytes:
    shape = rng.randint(0, 9)
    if shape == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    if shape == 1:
        depth = rng.choice([9, 50, 1000, 20000])
        return b"[" * depth + b"]" * depth
    if shape == 2:
        return b'{"n": ' + b"7" * rng.choice([33, 4400, 60000]) + b"}"
    if shape == 3:
        return json.dumps(odd_json(rng)).encode()
    if shape == 4:
        return json.dumps(ticket(**{rng.choice(["user", "requested_by", "number", "sys_id", "table", "action"]):
                                    odd_json(rng)})).encode()
    if shape == 5:
        return json.dumps(ticket())[: rng.randint(0, 60)].encode()
    if shape == 6:
        return json.dumps(ticket(user=rng.choice(["ada@contoso.example\u202e", "ADA@contoso.example ",
                                                  "ada@contoso.example\x00", "a" * 65 + "@contoso.example"]))).encode()
    if shape == 7:
        return "\ufeff".encode() + json.dumps(ticket()).encode()
    if shape == 8:
        return json.dumps(ticket()).encode("utf-16")
    return json.dumps({**ticket(), "extra": "x" * rng.randint(0, 70_000)}).encode()


def hostile_headers(rng: random.Random, secret: str, body: bytes) -> tuple[dict[str, str], bool]:
    """Headers, and whether they carry a valid, fresh signature over this exact body."""
    now = int(time.time())
    shape = rng.randint(0, 9)
    content_type = rng.choice(["application/json", "application/json; charset=utf-8", "application/notjson",
                               "multipart/form-data; boundary=json", "text/plain", "", "APPLICATION/JSON"])
    headers = {"Content-Type": content_type} if content_type else {}
    if shape == 0:
        return headers, False
    if shape == 1:
        headers.update({TIMESTAMP_HEADER: odd_string(rng), SIGNATURE_HEADER: odd_string(rng)})
        return headers, False
    if shape == 2:  # stale or future, correctly signed
        stamp = now + rng.choice([-1, 1]) * rng.randint(301, 10**6)
        headers.update({TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, body)})
        return headers, False
    if shape == 3:  # a valid signature over another body
        headers.update({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret, now, body + b" ")})
        return headers, False
    if shape == 4:  # signature variants
        good = sign(secret, now, body)
        variant = rng.choice([good[3:], good.upper(), " " + good.replace("=", " = "), "v2=" + good[3:],
                              "sha256=" + good[3:], good + "x", good[:-2], good.replace("+", "-")])
        headers.update({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: variant})
        return headers, False
    if shape == 5:  # signed with another secret
        headers.update({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret + "x", now, body)})
        return headers, False
    stamp = now + rng.randint(-299, 299)
    headers.update({TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, body)})
    return headers, True


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
