"""`python -m sandbox run`: the scenario end to end over loopback HTTP, and serving for manual tickets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sandbox.azurite import free_port
from sandbox.tickets import signed_headers
from tests.localsystem import serving

ROOT = Path(__file__).resolve().parent.parent


def test_run_once_plays_the_scenario_and_exits_0() -> None:
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", "--once", "--port", str(port)], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenario: every job ended as expected" in result.stdout
    for case in ("verified reset (manager approves)", "same ticket again", "manager denies", "user without a manager",
                 "Verified ID + Face Check", "Face Check fails", "break-glass account", "privileged, no extra approval",
                 "unknown user", "closed ticket"):
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith(case))
        assert line.rstrip().endswith("yes"), line


def test_run_serves_manual_tickets_after_ready() -> None:
    secret = "test-secret-for-manual-tickets"
    with serving(secret) as port:
        body = json.dumps({"table": "sc_req_item", "sys_id": "0a" * 16, "number": "RITM0010007",
                           "action": "reset_mfa", "user": "max.methods@contoso.example"}).encode()
        response = httpx.post(f"http://127.0.0.1:{port}/api/itsm/servicenow", content=body, timeout=30,
                              headers=signed_headers(secret, body))
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        from sandbox.tokens import mint

        auth = {"Authorization": "Bearer " + mint(oid="5ce7a210-0000-4000-8000-00000000a002",
                                                  upn="desk@contoso.example", roles=["Jobs.Read", "Tap.Retrieve"])}
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs/{job_id}", timeout=10).status_code == 401
        for _ in range(200):
            job = httpx.get(f"http://127.0.0.1:{port}/api/jobs/{job_id}", timeout=10, headers=auth).json()
            if job["state"] == "succeeded":
                break
            time.sleep(0.1)
        assert job["state"] == "succeeded" and len(job["methods_removed"]) == 10
        tap = httpx.get(f"http://127.0.0.1:{port}/api/jobs/{job_id}/tap", timeout=10, headers=auth)
        assert tap.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs/{job_id}/tap", timeout=10,
                         headers=auth).status_code == 410


def test_contradictory_flags_are_a_clear_error() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", "--once", "--no-scenario"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--no-scenario" in result.stderr and "Traceback" not in result.stderr
