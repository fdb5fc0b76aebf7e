"""The verified_id proof (issue 26): the user's page binds to the first browser and makes the presentation request,
the Request Service's callback decides the proof, and the TAP goes to the verified user once. Through the function
entry points, Azurite, the Graph simulator and the Request Service simulator (which calls the callback back)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from sandbox.system import Sandbox
from tests.reset.conftest import body_of, entry, get_job, post, ticket

POLICY = ("expire_after_minutes: 60\ntiers:\n  - id: standard\n    require: {all: [verified_id]}\n"
          "    tap_delivery: verified_user\n")
POLICY_FILE = Path(__file__).resolve().parent / "_verified_id_policy.yaml"


def env() -> dict[str, str]:
    POLICY_FILE.write_text(POLICY)
    suffix = uuid.uuid4().hex[:10]
    return {"VERIFY_POLICY": str(POLICY_FILE), "JOBS_TABLE": f"jobs{suffix}",
            "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}"}


GATED = pytest.mark.parametrize("sandbox_env", [env()])


def page(vid: str, suffix: str = "", cookie: str = "", method: str = "GET") -> func.HttpRequest:
    headers = {"Cookie": f"mfaops_verify={cookie}"} if cookie else {}
    return func.HttpRequest(method, f"http://localhost/api/public/verify/{vid}{suffix}", body=b"",
                            route_params={"verification_id": vid},
                            headers={**headers, "X-Forwarded-For": "198.51.100.7"})


async def open_job(box: Sandbox) -> dict[str, Any]:
    response = await post(box, ticket())
    await box.deliver_all()
    return await get_job(body_of(response)["job_id"])


async def open_page(box: Sandbox, vid: str) -> tuple[func.HttpResponse, str]:
    response = await entry("user_verification_page")(page(vid))
    cookie = response.headers.get("Set-Cookie", "")
    match = re.match(r"mfaops_verify=([^;]+)", cookie)
    return response, match.group(1) if match else ""


async def status(vid: str, cookie: str) -> dict[str, Any]:
    response = await entry("user_verification_status")(page(vid, "/status", cookie))
    assert response.status_code == 200, response.get_body()
    return dict(json.loads(response.get_body()))


def proof_of(job: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in job["verification"]["proofs"] if p["kind"] == "verified_id")


@GATED
async def test_the_user_proves_themselves_and_gets_the_tap_once(sandbox: Sandbox) -> None:
    job = await open_job(sandbox)
    assert job["state"] == "awaiting_verification"
    vid = job["verification"]["id"]
    assert job["verification"]["tap_delivery"] == "verified_user"
    note = sandbox.servicenow.journal_for("a1" * 16)[-1]
    assert f"/api/public/verify/{vid}" in note
    response, cookie = await open_page(sandbox, vid)
    assert response.status_code == 200 and cookie
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "Secure" in set_cookie and "SameSite=Strict" in set_cookie
    text = response.get_body().decode()
    assert "<svg" in text and "openid-vc://" in text and "Ada" in text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    [sent] = sandbox.verifiedid.received
    assert sent["authority"] == sandbox.settings.verified_id_authority and sent["includeReceipt"] is False
    assert sent["callback"]["url"].endswith("/api/public/verify/callback") and sent["callback"]["state"] == vid
    assert set(sent["callback"]["headers"]) == {"api-key"}
    credential = sent["requestedCredentials"][0]
    assert credential["type"] == "VerifiedEmployee"
    assert credential["configuration"]["validation"] == {
        "allowRevoked": False, "validateLinkedDomain": True,
        "faceCheck": {"sourcePhotoClaimName": "photo", "matchConfidenceThreshold": 70}}
    assert "screen you opened yourself" in credential["purpose"]
    # Another browser: opened elsewhere; its status and TAP are refused.
    other, other_cookie = await open_page(sandbox, vid)
    assert other.status_code == 403 and not other_cookie and "another browser" in other.get_body().decode()
    refused = await entry("user_verification_status")(page(vid, "/status", "forged"))
    assert refused.status_code == 403
    assert (await status(vid, cookie))["state"] == "pending"
    shown = proof_of(await get_job(job["job_id"]))
    request_id = shown["request_id"]
    assert shown["url"].startswith("openid-vc://")
    await sandbox.verifiedid.scan(request_id)
    assert (await status(vid, cookie))["state"] == "scanned"
    assert sandbox.graph.tenant.user("ada.lovelace@contoso.example").methods  # type: ignore[union-attr]
    await sandbox.verifiedid.present(request_id, user="ada.lovelace@contoso.example", face_match=85.5)
    await sandbox.deliver_all()
    done = await get_job(job["job_id"])
    assert done["state"] == "succeeded", done
    proof = proof_of(done)
    assert proof["state"] == "passed" and proof["score"] == 85.5 and proof["threshold"] == 70
    assert proof["issuer"] == sandbox.settings.verified_id_authority and proof["type"] == "VerifiedEmployee"
    current = await status(vid, cookie)
    assert current["tap_ready"] is True
    tap = await entry("user_verification_tap")(page(vid, "/tap", cookie))
    assert tap.status_code == 200 and tap.headers["Cache-Control"] == "no-store"
    value = json.loads(tap.get_body())["temporaryAccessPass"]
    again = await entry("user_verification_tap")(page(vid, "/tap", cookie))
    assert again.status_code == 410
    stranger = await entry("user_verification_tap")(page(vid, "/tap", "forged"))
    assert stranger.status_code == 403
    from sandbox.verifiedid import PHOTO

    stored = json.dumps(done) + json.dumps(await get_job(job["job_id"]))
    assert PHOTO not in stored and value not in stored and "Lovelace" not in json.dumps(proof)
    notes = " ".join(sandbox.servicenow.journal_for("a1" * 16))
    assert value not in notes


@GATED
@pytest.mark.parametrize(("present", "reason"), [
    ({"user": "linus.torvalds@contoso.example", "face_match": 95}, "wrong_person"),
    ({"user": "ada.lovelace@contoso.example", "face_match": 60}, "faceCheckFailed"),
    ({"user": "ada.lovelace@contoso.example", "issuer": "did:web:evil.example"}, "issuer_not_accepted"),
    ({"decline": True}, "user_canceled"),
])
async def test_a_presentation_that_does_not_prove_the_user_fails(sandbox: Sandbox, present: dict[str, Any],
                                                                 reason: str) -> None:
    job = await open_job(sandbox)
    vid = job["verification"]["id"]
    _, cookie = await open_page(sandbox, vid)
    request_id = proof_of(await get_job(job["job_id"]))["request_id"]
    await sandbox.verifiedid.present(request_id, **present)
    done = await get_job(job["job_id"])
    assert done["state"] == "verification_failed" and proof_of(done)["reason"] == reason
    assert len(sandbox.graph.tenant.user("ada.lovelace@contoso.example").methods) == 2  # type: ignore[union-attr]
    assert (await status(vid, cookie))["state"] == "failed"
    # A second callback for the decided verification changes nothing.
    again = await sandbox.verifiedid.present(request_id, user="ada.lovelace@contoso.example", face_match=99)
    assert again == 409
    assert (await get_job(job["job_id"]))["state"] == "verification_failed"


def callback(body: Any, key: str) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/public/verify/callback", body=json.dumps(body).encode(),
                            headers={"api-key": key, "Content-Type": "application/json"})


@GATED
async def test_forged_replayed_and_mismatched_callbacks_change_nothing(sandbox: Sandbox) -> None:
    job = await open_job(sandbox)
    vid = job["verification"]["id"]
    await open_page(sandbox, vid)
    request_id = proof_of(await get_job(job["job_id"]))["request_id"]
    key = sandbox.settings.verified_id_callback_key.get_secret_value()
    verified = {"requestId": request_id, "requestStatus": "presentation_verified", "state": vid,
                "verifiedCredentialsData": [{"issuer": sandbox.settings.verified_id_authority,
                                             "type": ["VerifiableCredential", "VerifiedEmployee"],
                                             "claims": {"revocationId": "ada.lovelace@contoso.example"},
                                             "faceCheck": {"matchConfidenceScore": 99}}]}
    handler = entry("verified_id_callback")
    assert (await handler(callback(verified, "wrong-key"))).status_code == 401
    assert (await handler(callback(verified, ""))).status_code == 401
    other = {**verified, "requestId": str(uuid.uuid4())}
    assert (await handler(callback(other, key))).status_code == 409
    unknown = {**verified, "state": "B" * 22}
    assert (await handler(callback(unknown, key))).status_code == 404
    bad = await handler(func.HttpRequest("POST", "http://localhost/api/public/verify/callback", body=b"{",
                                         headers={"api-key": key}))
    assert bad.status_code == 400
    assert (await get_job(job["job_id"]))["state"] == "awaiting_verification"
    # Expiry races a presentation: the verification ends first; the late callback is refused.
    service = sandbox.container.verification_service()
    later = sandbox.graph.tenant.clock.now() + timedelta(hours=2)
    service.now = lambda: later
    sandbox.container.verified_id_service().now = lambda: later
    late = await handler(callback(verified, key))
    assert late.status_code in (404, 409)
    done = await get_job(job["job_id"])
    assert done["state"] == "verification_failed" and proof_of(done)["state"] == "expired"
    assert len(sandbox.graph.tenant.user("ada.lovelace@contoso.example").methods) == 2  # type: ignore[union-attr]


@GATED
async def test_an_expired_link_says_so_and_a_made_up_one_the_same(sandbox: Sandbox) -> None:
    job = await open_job(sandbox)
    vid = job["verification"]["id"]
    later = sandbox.graph.tenant.clock.now() + timedelta(minutes=11)  # VERIFY_LINK_MINUTES is 10
    sandbox.container.verified_id_service().now = lambda: later
    expired, _ = await open_page(sandbox, vid)
    made_up, _ = await open_page(sandbox, "C" * 22)
    assert expired.status_code == made_up.status_code == 404
    assert expired.get_body() .decode().split("<main>")[1] == made_up.get_body().decode().split("<main>")[1]
    assert (await get_job(job["job_id"]))["state"] == "verification_failed"
