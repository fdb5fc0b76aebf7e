"""The reset worker killed (SIGKILL) between two deletes: its peek-lock expires, the message is redelivered to
another worker process, the job resumes from what is gone, and no method is deleted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sandbox.tickets import signed_headers
from tests.localsystem import serving

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "kill-secret"
USER = "max.methods@contoso.example"  # ten methods: with the reports bucket on, the deletes span several windows


def worker(lock_s: float = 4.0) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sandbox", "worker", "--lock-s", str(lock_s)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def deletes(base: str) -> list[str]:
    calls = httpx.get(f"{base}/graph/_sandbox/calls", timeout=30).json()["calls"]
    return [c["path"] for c in calls if c["method"] == "DELETE" and 200 <= c["status"] < 300]


def test_a_worker_killed_between_two_deletes_is_taken_over_and_nothing_is_deleted_twice() -> None:
    with serving(SECRET, env={"MFAOPS_LOCAL_WORKER": "off"}) as port:
        base = f"http://127.0.0.1:{port}"
        sys_id = "a1" * 16
        body = json.dumps({"table": "sc_req_item", "sys_id": sys_id, "number": "RITM0010001", "action": "reset_mfa",
                           "user": USER, "requested_by": "desk@contoso.example"}).encode()
        # The demo ticket asks for Ada: point it at the user with ten methods (the Table API, as an admin would).
        local = json.loads((ROOT / ".sandbox" / "local.json").read_text())
        patched = httpx.patch(f"{base}/servicenow/api/now/table/sc_req_item/{sys_id}", json={"requested_for": USER},
                              auth=(local["SERVICENOW_USERNAME"], local["SERVICENOW_PASSWORD"]), timeout=30)
        assert patched.status_code == 200, patched.text
        response = httpx.post(f"{base}/api/itsm/servicenow", content=body, headers=signed_headers(SECRET, body),
                              timeout=30)
        assert response.status_code in (200, 202), response.text
        job_id = response.json()["job_id"]
        first = worker()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not deletes(base):
            time.sleep(0.05)
        done_before_kill = deletes(base)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert done_before_kill, "the first worker never deleted anything"
        second = worker()
        try:
            state = ""
            while time.monotonic() < deadline + 60:
                shown = subprocess.run([sys.executable, "-m", "cli", "--local", "--json", "jobs", "show", job_id],
                                       cwd=ROOT, capture_output=True, text=True, timeout=60)
                state = json.loads(shown.stdout)["state"] if shown.returncode == 0 else ""
                if state in ("succeeded", "failed", "rejected", "awaiting_approval"):
                    break
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        job = json.loads(shown.stdout)
        every = deletes(base)
        assert state == "succeeded", [s for s in job["steps"] if s["outcome"] not in ("ok",)]
        assert len(every) == len(set(every)), "a method was deleted twice"
        assert len(done_before_kill) < len(every)  # the first worker died part-way; the second finished
        assert len(job["methods_removed"]) == 10
        assert job["attempts"] >= 2
        assert os.path.exists(ROOT / ".sandbox" / "local.json")
