"""A bulk reset of 500 users of a generated tenant through `mfaops --local`, interrupted part-way (SIGINT) and
resumed with the same batch id: every user reset exactly once, counted in the Graph call log; and dead letters
listed and replayed on the record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from sandbox.graph.generate import generate
from sandbox.tickets import signed_headers
from tests.localsystem import serving

ROOT = Path(__file__).resolve().parent.parent
USERS = 500
NO_BUDGET = {"GRAPH_BUDGET_ENABLED": "false"}  # throttling is off in this tenant; the test is about resuming


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def test_a_bulk_of_500_interrupted_and_resumed_resets_everyone_exactly_once(tmp_path: Path) -> None:
    tenant = generate(USERS, seed=7)
    tenant["throttle"] = {"enabled": False}
    tenant_file = tmp_path / "big.json"
    tenant_file.write_text(json.dumps(tenant))
    users = [u["userPrincipalName"] for u in tenant["users"]]
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("user,reason\n" + "".join(f"{u},campaign\n" for u in users))
    args = ("--local", "--json", "reset", "--from-file", str(csv_file), "--by", "secops@contoso.example",
            "--reason", "phishing", "--batch-id", "phish-500", "--concurrency", "8", "--allow-over-limit",
            "--approved-by", "ciso@contoso.example", "--yes")
    with serving("bulk-secret", tenant=tenant_file, env=NO_BUDGET) as port:
        base = f"http://127.0.0.1:{port}"
        over = subprocess.run(cli(*args[:-4], "--yes"), cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, **NO_BUDGET})
        assert over.returncode == 3 and "RESETS_PER_HOUR_LIMIT" in over.stderr and over.stdout == ""

        first = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, **NO_BUDGET})
        assert first.stdout is not None
        done_first = 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and done_first < 120:
            line = first.stdout.readline()
            if not line:
                break
            done_first += json.loads(line)["kind"] == "item"
        first.send_signal(signal.SIGINT)
        rest, errors = first.communicate(timeout=120)
        done_first += sum(json.loads(line)["kind"] == "item" for line in rest.splitlines())
        assert first.returncode == 1 and "interrupted" in errors and "Traceback" not in errors
        assert 120 <= done_first < USERS

        second = subprocess.run(cli(*args), cwd=ROOT, capture_output=True, text=True, timeout=600,
                                env={**os.environ, **NO_BUDGET})
        assert "Traceback" not in second.stderr
        lines = [json.loads(line) for line in second.stdout.splitlines()]
        summary = lines[-1]
        assert summary["kind"] == "summary" and summary["total"] == USERS
        assert summary["succeeded"] + sum(summary["refused"].values()) + sum(summary["failed"].values()) == USERS
        assert summary["failed"] == {} and summary["skipped"] >= 100
        assert set(summary["refused"]) <= {"guest_user", "disabled_user"}
        assert second.returncode == (3 if summary["refused"] else 0)

        calls = httpx.get(f"{base}/graph/_sandbox/calls", timeout=30).json()["calls"]
        deleted = Counter(c["path"] for c in calls if c["method"] == "DELETE" and c["status"] == 204)
        assert deleted and max(deleted.values()) == 1, "no method deleted twice"
        taps = Counter(c["path"] for c in calls if c["method"] == "POST" and c["status"] == 201)
        per_user = Counter(path.split("/")[3] for path in taps.elements())
        assert per_user and max(per_user.values()) <= 2  # a user caught mid-chain by the interrupt gets a new TAP
        expected = [u for u in tenant["users"] if u.get("userType") != "Guest" and u.get("accountEnabled", True)]
        assert summary["succeeded"] == len(expected)
        removed = sum(len(u["methods"]) for u in expected)
        assert sum(deleted.values()) >= removed


def test_dead_letters_are_listed_shown_replayed_and_purged_on_the_record(tmp_path: Path) -> None:
    env = {"QUEUE_MAX_DELIVERIES": "2", "GRAPH_MAX_RETRIES": "0", "GRAPH_BUDGET_ENABLED": "false"}
    with serving("dlq-secret", env=env) as port:
        base = f"http://127.0.0.1:{port}"
        httpx.post(f"{base}/graph/_sandbox/config", json={"faults": {"rate_503": 1.0}}, timeout=10)
        body = json.dumps({"table": "sc_req_item", "sys_id": "a1" * 16, "number": "RITM0010001",
                           "action": "reset_mfa", "user": "ada.lovelace@contoso.example"}).encode()
        accepted = httpx.post(f"{base}/api/itsm/servicenow", content=body, timeout=30,
                              headers=signed_headers("dlq-secret", body))
        job_id = accepted.json()["job_id"]
        letters: list[dict[str, object]] = []
        for _ in range(100):
            listed = subprocess.run(cli("--local", "--json", "dlq", "list"), cwd=ROOT, capture_output=True,
                                    text=True, timeout=60)
            letters = json.loads(listed.stdout)["dead_letters"]
            if letters:
                break
            time.sleep(0.3)
        [letter] = letters
        assert letter["job_id"] == job_id and letter["delivery_count"] == 2
        shown = subprocess.run(cli("--local", "--json", "dlq", "show", str(letter["message_id"])), cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert "ada.lovelace@contoso.example" in json.loads(shown.stdout)["body"]
        httpx.post(f"{base}/graph/_sandbox/config", json={"faults": {"rate_503": 0.0}}, timeout=10)
        replayed = subprocess.run(cli("--local", "--json", "dlq", "replay", str(letter["message_id"]), "--by",
                                      "ops@contoso.example", "--yes"), cwd=ROOT, capture_output=True, text=True,
                                  timeout=60)
        assert replayed.returncode == 0, replayed.stderr
        state = ""
        for _ in range(100):
            job = json.loads(subprocess.run(cli("--local", "--json", "jobs", "show", job_id), cwd=ROOT,
                                            capture_output=True, text=True, timeout=60).stdout)
            state = job["state"]
            if state == "succeeded":
                break
            time.sleep(0.3)
        assert state == "succeeded"
        assert any(s["action"] == "retry" and "replayed from the dead-letter queue" in s["detail"]
                   for s in job["steps"])
        assert json.loads(subprocess.run(cli("--local", "--json", "dlq", "list"), cwd=ROOT, capture_output=True,
                                         text=True, timeout=60).stdout)["dead_letters"] == []
        purged = subprocess.run(cli("--local", "--json", "dlq", "purge", "--yes"), cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert purged.returncode == 0 and json.loads(purged.stdout) == {"purged": 0}
