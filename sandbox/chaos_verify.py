"""The attack suite's doors into proof before reset (issue 25): forged and replayed decisions, a decision by
someone who is not the manager, by the requester, after expiry, two decisions racing; call-back attestations with
the wrong digits or without the role; the operator's TAP route and a bulk policy against the policy in force.
Every attack must end with no method removed for a job whose proofs did not pass, and no 5xx."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import azure.functions as func

from sandbox.hostile import hostile_body, odd_string
from sandbox.system import Sandbox
from sandbox.tickets import submit
from shared.identity.principal import PRINCIPAL_HEADER, encode_principal
from shared.jobs.model import Job, JobState


@dataclass
class VerifyAttacks:
    attempts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # answered 4xx (or refused in the service)
    let_through: list[str] = field(default_factory=list)  # an attack that decided something or got a TAP
    http_5xx: int = 0
    methods_removed_unverified: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"attempts": dict(self.attempts), "refused": dict(self.refused), "let_through": len(self.let_through),
                "http_5xx": self.http_5xx, "methods_removed_unverified": self.methods_removed_unverified,
                "examples": self.let_through[:5]}


def _user(box: Sandbox, upn: str) -> Any:
    user = box.graph.tenant.user(upn)
    assert user is not None, upn
    return user


def _as(box: Sandbox, upn: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    user = _user(box, upn)
    return {PRINCIPAL_HEADER: encode_principal(object_id=user.id, upn=user.upn, roles=roles)}


def _entry(name: str) -> Any:
    import function_app
    from sandbox.localhost import user_function

    return user_function(function_app.app, name)


async def _open(box: Sandbox, upn: str, n: int, requested_by: str = "agent@contoso.example") -> Job:
    sys_id = f"{0xC0FFEE00 + n:032x}"
    box.servicenow.records[("sc_req_item", sys_id)] = {
        "table": "sc_req_item", "sys_id": sys_id, "number": f"RITM{30000 + n:07d}", "state": "1",
        "approval": "approved", "active": "true", "requested_for": upn, "u_mfa_privileged_approval": "approved"}
    body = {"table": "sc_req_item", "sys_id": sys_id, "number": f"RITM{30000 + n:07d}", "action": "reset_mfa",
            "user": upn, "requested_by": requested_by}
    answer = await submit(box.webhook_secret, body)
    await box.deliver_all()
    return await box.container.job_store().get(json.loads(answer.get_body())["job_id"])


async def _decide(box: Sandbox, vid: str, headers: dict[str, str], body: Any) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = func.HttpRequest("POST", f"http://localhost/api/verify/manager/{vid}", body=raw,
                               route_params={"verification_id": vid},
                               headers={"Content-Type": "application/json", **headers})
    response: func.HttpResponse = await _entry("manager_decision")(request)
    return response


def _count(out: VerifyAttacks, door: str, response: func.HttpResponse, *, decided_ok: bool = False) -> None:
    out.attempts[door] += 1
    if response.status_code >= 500:
        out.http_5xx += 1
        out.let_through.append(f"{door}: {response.status_code}")
    elif response.status_code >= 400:
        out.refused[door] += 1
    elif not decided_ok:
        out.let_through.append(f"{door}: answered {response.status_code}")


async def verification_doors(box: Sandbox, *, seed: int = 7, forged: int = 60) -> VerifyAttacks:
    """Every door into the gate, attacked; the sandbox's policy must be the built-in one (VERIFY_POLICY "")."""
    out = VerifyAttacks()
    rng = random.Random(seed)
    manager = "grace.hopper@contoso.example"
    victims = ["ada.lovelace@contoso.example", "linus.torvalds@contoso.example", "edsger.dijkstra@contoso.example",
               "donald.knuth@contoso.example", "ken.thompson@contoso.example"]
    before = {upn: sorted(m.id for m in _user(box, upn).methods) for upn in victims}
    jobs = [await _open(box, upn, n) for n, upn in enumerate(victims[:4])]
    vids = [j.verification.id for j in jobs if j.verification is not None]
    # 1. Forged decisions: odd principals, made-up ids, hostile bodies, foreign origins, form posts.
    for _ in range(forged):
        vid = rng.choice([*vids, odd_string(rng)[:40] or "x", "A" * 22, "../../jobs"])
        headers = rng.choice([{}, {PRINCIPAL_HEADER: odd_string(rng)}, _as(box, "ada.lovelace@contoso.example"),
                              _as(box, "tim.cook@contoso.example")])
        if rng.random() < 0.3:
            headers = {**_as(box, manager), "Origin": "https://evil.example"}
        body: Any = rng.choice([hostile_body(rng), {"decision": "approve"}, {"decision": "deny"},
                                {"decision": "approve", "extra": 1}, b"decision=approve"])
        response = await _decide(box, vid, headers, body)
        _count(out, "forged_decision", response)
    # 2. Not the manager, and the requester (who is not the manager).
    for who in ("ada.lovelace@contoso.example", "barbara.liskov@contoso.example"):
        _count(out, "not_the_manager", await _decide(box, vids[0], _as(box, who), {"decision": "approve"}))
    # 3. The manager asked for the reset themselves: the proof failed at once; their approval is refused.
    own = await _open(box, victims[4], 9, requested_by=manager)
    if own.verification is not None:
        _count(out, "requester_is_manager", await _decide(box, own.verification.id, _as(box, manager),
                                                          {"decision": "approve"}))
    # 4. Two decisions racing (approve and deny at once): exactly one decides.
    race = await asyncio.gather(_decide(box, vids[1], _as(box, manager), {"decision": "approve"}),
                                _decide(box, vids[1], _as(box, manager), {"decision": "deny", "reason": "no"}))
    out.attempts["race"] += 2
    winners = [r for r in race if r.status_code == 200]
    if len(winners) != 1:
        out.let_through.append(f"race: {[r.status_code for r in race]}")
    out.refused["race"] += sum(1 for r in race if 400 <= r.status_code < 500)
    # 5. A replayed decision: the same approval again.
    _count(out, "replay", await _decide(box, vids[1], _as(box, manager), {"decision": "approve"}))
    # 6. After expiry.
    service = box.container.verification_service()
    saved = service.now
    later = box.graph.tenant.clock.now() + timedelta(days=2)
    service.now = lambda: later
    try:
        _count(out, "after_expiry", await _decide(box, vids[2], _as(box, manager), {"decision": "approve"}))
    finally:
        service.now = saved
    # 7. Call-back attestations: no role, wrong digits, a job that asks for none, hostile bodies.
    attest = _entry("callback_attestation")
    for door, roles, body in (("callback_no_role", ("Jobs.Read",), {"number_last4": "0111", "confirmed": True}),
                              ("callback_not_asked", ("Jobs.Verify",), {"number_last4": "0111", "confirmed": True}),
                              ("callback_hostile", ("Jobs.Verify",), {"number_last4": "01111", "confirmed": "yes"})):
        request = func.HttpRequest("POST", f"http://localhost/api/jobs/{jobs[3].job_id}/verify/callback",
                                   body=json.dumps(body).encode(), route_params={"job_id": jobs[3].job_id},
                                   headers={"Content-Type": "application/json",
                                            **_as(box, "katherine.johnson@contoso.example", roles)})
        _count(out, door, await attest(request))
    # 8. The operator's TAP route on a manager-delivered job, after its reset (the race's winner, if approval).
    await box.deliver_all()
    tap_route = _entry("get_job_tap")
    for job in jobs:
        request = func.HttpRequest("GET", f"http://localhost/api/jobs/{job.job_id}/tap", body=b"",
                                   route_params={"job_id": job.job_id},
                                   headers=_as(box, "katherine.johnson@contoso.example", ("Tap.Retrieve",)))
        response = await tap_route(request)
        _count(out, "operator_tap", response)
    # 9. A bulk policy that removes a proof, or changes where the TAP goes: refused against the policy in force.
    from shared.verify.policy import load_verify_policy, policy_in_force, strengthens

    in_force = policy_in_force(box.settings.verify_policy)
    assert in_force is not None
    for text in ("tiers:\n  - id: privileged\n    when: {privileged: true}\n    require: {all: [manager]}\n"
                 "    tap_delivery: manager\n  - id: standard\n    require: {any: [manager]}\n"
                 "    tap_delivery: manager\n",
                 "tiers:\n  - id: standard\n    require: {all: []}\n",
                 "tiers:\n  - id: privileged\n    when: {privileged: true}\n    require: {all: [manager, callback]}\n"
                 "    tap_delivery: manager\n  - id: standard\n    require: {any: [manager]}\n"
                 "    tap_delivery: operator\n"):
        out.attempts["weaker_bulk_policy"] += 1
        if strengthens(load_verify_policy(text), in_force):
            out.refused["weaker_bulk_policy"] += 1
        else:
            out.let_through.append(f"weaker bulk policy accepted: {text!r}")
    # What happened to the victims: nothing removed for any job whose proofs did not pass.
    store = box.container.job_store()
    for upn in victims:
        now = sorted(m.id for m in _user(box, upn).methods)
        removed = set(before[upn]) - set(now)
        if not removed:
            continue
        passed = [j for j in await store.list_for_user(upn) if j.verification is not None
                  and j.verification.state == "passed" and j.state is JobState.SUCCEEDED]
        if not passed:
            out.methods_removed_unverified += len(removed)
            out.let_through.append(f"{upn} lost {len(removed)} methods without a passed verification")
    return out


# -- issue 26: the public doors (the user's page, its status and TAP, the Request Service's callback, recovery) ---
VERIFIED_POLICY = ("tiers:\n  - id: privileged\n    when: {privileged: true}\n    require: {all: [manager, callback]}\n"
                   "    tap_delivery: manager\n  - id: everyone\n    require: {all: [verified_id]}\n"
                   "    tap_delivery: verified_user\n    self_service: true\n")


async def public_doors(box: Sandbox, *, seed: int = 9, cases: int = 60) -> VerifyAttacks:
    """Hostile callbacks, guessed pages, stolen cookies and user enumeration through recovery. The sandbox must
    run with SELF_SERVICE_RECOVERY=true; the gate's policy is swapped for one that asks for verified_id."""
    from shared.verify.policy import load_verify_policy

    out = VerifyAttacks()
    rng = random.Random(seed)
    gate = box.container.verification_gate()
    saved = (gate._policy, gate._loaded)
    gate._policy, gate._loaded = load_verify_policy(VERIFIED_POLICY), True
    box.container.recovery_service().floor_s = 0.3
    try:
        victim = "radia.perlman@contoso.example"
        before = sorted(m.id for m in _user(box, victim).methods)
        job = await _open(box, victim, 20)
        assert job.verification is not None
        vid = job.verification.id
        page = _entry("user_verification_page")
        opened = await page(func.HttpRequest("GET", f"http://localhost/api/public/verify/{vid}", body=b"",
                                             route_params={"verification_id": vid}))
        key = box.settings.verified_id_callback_key.get_secret_value()
        callback = _entry("verified_id_callback")
        stored = (await box.container.job_store().get(job.job_id)).verification
        request_id = str(stored.proofs[0].data.get("request_id", "")) if stored is not None else ""
        for _ in range(cases):
            body: Any = rng.choice([hostile_body(rng), {"requestId": request_id, "requestStatus":
                                                        "presentation_verified", "state": vid},
                                    {"requestId": odd_string(rng), "requestStatus": "presentation_verified",
                                     "state": vid}])
            api_key = rng.choice([key, "", odd_string(rng)[:60], key[:-1]])
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = await callback(func.HttpRequest("POST", "http://localhost/api/public/verify/callback",
                                                       body=raw, headers={"api-key": api_key,
                                                                          "Content-Type": "application/json"}))
            _count(out, "callback", response, decided_ok=True)  # a decision only counts if the proof passed
        cookie = opened.headers.get("Set-Cookie", "").split(";")[0].partition("=")[2]
        for door, suffix in (("status", "/status"), ("tap", "/tap")):
            name = "user_verification_status" if door == "status" else "user_verification_tap"
            for guess in ("A" * 22, vid, odd_string(rng)[:40] or "x"):
                for jar in ("", "forged", cookie if door == "tap" else "forged2"):
                    response = await _entry(name)(func.HttpRequest(
                        "GET", f"http://localhost/api/public/verify/{guess}{suffix}", body=b"",
                        route_params={"verification_id": guess}, headers={"Cookie": f"mfaops_verify={jar}"}))
                    _count(out, door, response)
        # Enumeration: existing and made-up names, each from its own address, answer alike.
        start = _entry("recover_start")
        seen: set[tuple[int, str]] = set()
        for n, name in enumerate(["grace.hopper@contoso.example", "nobody.here@contoso.example",
                                  "breakglass1@contoso.example", "alan.turing@contoso.example",
                                  odd_string(rng)[:60]]):
            response = await start(func.HttpRequest(
                "POST", "http://localhost/api/public/recover", body=f"upn={name}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": f"192.0.2.{n}"}))
            out.attempts["recover"] += 1
            if response.status_code >= 500:
                out.http_5xx += 1
            seen.add((response.status_code, response.headers.get("Location", "/x").rsplit("/", 1)[0]))
        if len(seen) != 1:
            out.let_through.append(f"recovery answers differ by name: {sorted(seen)}")
        else:
            out.refused["recover"] += out.attempts["recover"]  # none told whether the name exists
        final = (await box.container.job_store().get(job.job_id)).verification
        if final is not None and final.state == "passed":
            out.let_through.append("a hostile callback passed the victim's proof")
        if sorted(m.id for m in _user(box, victim).methods) != before:
            out.methods_removed_unverified += 1
            out.let_through.append(f"{victim} lost methods without a presentation")
    finally:
        gate._policy, gate._loaded = saved
    return out
