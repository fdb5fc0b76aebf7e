"""The short scenario `make run` plays: signed tickets through the real webhook, then a table of jobs."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.tickets import signed_headers
from sandbox.tokens import mint

# The scenario reads jobs as a service desk tool would: with a (sandbox) Entra token holding Jobs.Read.
READER = {"Authorization": "Bearer " + mint(oid="5ce7a210-0000-4000-8000-00000000a001",
                                            upn="servicedesk@contoso.example", roles=["Jobs.Read"])}

FINAL = {"succeeded", "failed", "rejected", "awaiting_approval", "verification_failed"}


@dataclass(frozen=True)
class Case:
    name: str
    ticket: dict[str, Any]
    expect_http: int
    expect_state: str
    expect_code: str = ""
    # Proof before reset: the manager who signs in (the sandbox sign-in) and decides, when the policy asks.
    manager: str = ""
    decision: str = ""
    # Verified ID: the user opens their page and presents with this Face Check score (the wallet simulator).
    face_match: float = 0.0


def _ticket(number: str, sys_id: str, user: str, table: str = "sc_req_item") -> dict[str, Any]:
    return {"table": table, "sys_id": sys_id, "number": number, "action": "reset_mfa",
            "user": f"{user}@contoso.example", "requested_by": "servicedesk@contoso.example"}


CASES = [
    Case("verified reset (manager approves)", _ticket("RITM0010001", "a1" * 16, "ada.lovelace"), 202, "succeeded",
         manager="grace.hopper@contoso.example", decision="approve"),
    Case("same ticket again", _ticket("RITM0010001", "a1" * 16, "ada.lovelace"), 200, "succeeded"),
    Case("manager denies", _ticket("RITM0010020", "a7" * 16, "linus.torvalds"), 202, "verification_failed",
         "manager: denied", manager="grace.hopper@contoso.example", decision="deny"),
    Case("user without a manager", _ticket("RITM0010021", "a8" * 16, "barbara.liskov"), 202, "verification_failed",
         "manager: no_manager"),
    Case("Verified ID + Face Check", _ticket("RITM0010022", "a9" * 16, "ken.thompson"), 202, "succeeded",
         face_match=91.0),
    Case("Face Check fails", _ticket("RITM0010023", "aa" * 16, "dennis.ritchie"), 202, "verification_failed",
         "verified_id: faceCheckFailed", face_match=42.0),
    Case("break-glass account", _ticket("RITM0010002", "b2" * 16, "breakglass1"), 202, "rejected", "break_glass"),
    Case("privileged, no extra approval", _ticket("RITM0010003", "c3" * 16, "alan.turing"), 202,
         "awaiting_approval"),
    Case("unknown user", _ticket("RITM0010004", "d4" * 16, "ghost.user"), 202, "rejected", "user_not_found"),
    Case("closed ticket", _ticket("INC0010005", "e5" * 16, "grace.hopper", "incident"), 202, "rejected",
         "ticket_closed"),
]


async def post_ticket(client: httpx.AsyncClient, secret: str, ticket: dict[str, Any]) -> httpx.Response:
    body = json.dumps(ticket).encode()
    return await client.post("/api/itsm/servicenow", content=body, headers=signed_headers(secret, body))


async def play(base_url: str, secret: str, *, timeout_s: float = 60.0) -> tuple[bool, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        for case in CASES:
            response = await post_ticket(client, secret, case.ticket)
            body = response.json()
            rows.append({"case": case, "http": response.status_code, "job_id": body.get("job_id", ""),
                         "state": body.get("status") or body.get("state", ""), "code": ""})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for row in rows:
                if row["job_id"] and row["state"] not in FINAL:
                    job = (await client.get(f"/api/jobs/{row['job_id']}", headers=READER)).json()
                    row["state"], row["code"] = job["state"], (job.get("error") or {}).get("code", "")
                    row["removed"] = len(job.get("methods_removed", []))
                    if job["state"] == "verification_failed":
                        row["code"] = ((job.get("error") or {}).get("message") or "")
                    wanted: Case = row["case"]
                    if job["state"] == "awaiting_verification" and wanted.decision and not row.get("decided"):
                        row["decided"] = await _manager_decides(base_url, job["verification"]["id"], wanted)
                    if job["state"] == "awaiting_verification" and wanted.face_match and not row.get("presented"):
                        row["presented"] = await _user_presents(base_url, client, job, wanted)
            if all(r["state"] in FINAL or not r["job_id"] for r in rows):
                break
            await asyncio.sleep(0.2)
    ok = True
    for row in rows:
        expected: Case = row["case"]
        row["ok"] = (row["http"] == expected.expect_http and row["state"] == expected.expect_state
                     and (not expected.expect_code or row["code"] == expected.expect_code))
        ok = ok and row["ok"]
    return ok, rows


async def _manager_decides(base_url: str, verification_id: str, case: Case) -> int:
    """What a manager does with the link in the mail: sign in (the sandbox's /.auth/login/aad), then Approve or
    Deny on the page (the page's own POST, same origin)."""
    page = f"/api/verify/manager/{verification_id}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, follow_redirects=True) as browser:
        opened = await browser.get(page)  # anonymous: redirected to the sign-in
        if "/.auth/login/aad" not in str(opened.url):
            return opened.status_code
        await browser.get("/.auth/login/aad", params={"login_hint": case.manager, "post_login_redirect_uri": page})
        body = {"decision": case.decision, **({"reason": "I did not ask my desk for this"}
                                              if case.decision == "deny" else {})}
        answer = await browser.post(page, json=body, headers={"Origin": base_url})
        return answer.status_code


async def _user_presents(base_url: str, client: httpx.AsyncClient, job: dict[str, Any], case: Case) -> int:
    """What the user does with the link the agent gives them: open their page (which makes the presentation
    request), then present in the wallet (the Request Service simulator's controls) with a Face Check score."""
    page = f"/api/public/verify/{job['verification']['id']}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as phone:
        opened = await phone.get(page)
        if opened.status_code != 200:
            return opened.status_code
    shown = (await client.get(f"/api/jobs/{job['job_id']}", headers=READER)).json()
    proof = next(p for p in shown["verification"]["proofs"] if p["kind"] == "verified_id")
    user = job["target"]["upn"] or case.ticket["user"]
    answer = await client.post(f"/verifiedid/_sandbox/requests/{proof['request_id']}/present",
                               json={"user": user, "face_match": case.face_match})
    return answer.status_code


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'case':34} {'ticket':12} {'user':32} {'http':>4}  {'job state':20} {'detail':20} {'as expected'}"
    lines = [head, "-" * len(head)]
    for row in rows:
        case: Case = row["case"]
        lines.append(f"{case.name:34} {case.ticket['number']:12} {case.ticket['user']:32} {row['http']:>4}  "
                     f"{row['state']:20} {row['code'] or str(row.get('removed', '')) + ' removed':20} "
                     f"{'yes' if row['ok'] else 'NO (expected ' + case.expect_state + ')'}")
    return "\n".join(lines)
