"""The operator CLI against the local system (`make run`'s sandbox over loopback): commands, --json shapes, exit
codes, and bad input as one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.tickets import signed_headers
from tests.localsystem import serving

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-for-the-cli"


def mfaops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def local_system() -> Iterator[str]:
    with serving(SECRET) as port:
        yield f"http://127.0.0.1:{port}"


def reset_ada(base: str) -> str:
    body = json.dumps({"table": "sc_req_item", "sys_id": "a1" * 16, "number": "RITM0010001", "action": "reset_mfa",
                       "user": "ada.lovelace@contoso.example", "requested_by": "desk@contoso.example"}).encode()
    response = httpx.post(f"{base}/api/itsm/servicenow", content=body, headers=signed_headers(SECRET, body), timeout=30)
    assert response.status_code in (200, 202), response.text
    job_id = str(response.json()["job_id"])
    for _ in range(200):
        shown = mfaops("--local", "--json", "jobs", "show", job_id)
        if json.loads(shown.stdout)["state"] == "succeeded":
            return job_id
        time.sleep(0.1)
    raise AssertionError("the reset did not finish")


def test_jobs_show_who_reset_and_methods_on_the_local_system(local_system: str) -> None:
    job_id = reset_ada(local_system)
    shown = mfaops("--local", "--json", "jobs", "show", job_id)
    assert shown.returncode == 0 and shown.stderr == ""
    job = json.loads(shown.stdout)
    assert job["job_id"] == job_id and job["kind"] == "reset" and job["target"]["upn"] == "ada.lovelace@contoso.example"
    who = mfaops("--local", "--json", "who-reset", "ada.lovelace@contoso.example")
    assert who.returncode == 0
    [row] = json.loads(who.stdout)["resets"]
    assert row["job_id"] == job_id and row["requested_by"] == "desk@contoso.example"
    assert row["source"]["number"] == "RITM0010001" and len(row["methods_removed"]) == 2
    listed = json.loads(mfaops("--local", "--json", "jobs", "list", "--state", "succeeded").stdout)
    assert job_id in [j["job_id"] for j in listed["jobs"]]
    methods = mfaops("--local", "--json", "methods", "grace.hopper@contoso.example")
    assert methods.returncode == 0
    doc = json.loads(methods.stdout)
    assert doc["user"]["userPrincipalName"] == "grace.hopper@contoso.example" and doc["methods"]
    assert {"type", "id", "createdDateTime", "isDefault"} <= set(doc["methods"][0])
    table = mfaops("--local", "methods", "grace.hopper@contoso.example")
    assert table.returncode == 0 and "methods of grace.hopper@contoso.example" in table.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (("jobs", "show", "no-such-job"), 2, "no job"),
    (("methods", "nobody@contoso.example"), 2, "not found"),
    (("methods", "not a user"), 2, "USER"),
    (("who-reset", "a/../b@c.d"), 2, "USER"),
    (("jobs", "list"), 2, "--user or --state"),
    (("jobs", "list", "--state", "sleeping"), 2, "--state"),
    (("jobs", "bogus"), 2, "No such command"),
])
def test_bad_input_is_one_line_and_a_documented_exit_code(local_system: str, args: tuple[str, ...], code: int,
                                                          says: str) -> None:
    result = mfaops("--local", *args)
    assert result.returncode == code, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_without_a_local_system_the_cli_says_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ}
    result = subprocess.run([sys.executable, "-c", "import cli.target as t, pathlib, sys; "
                             f"t.LOCAL_FILE = pathlib.Path({str(tmp_path / 'none.json')!r}); "
                             "from cli.main import entry; sys.argv = ['mfaops', '--local', 'jobs', 'show', 'x']; "
                             "entry()"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "make run" in result.stderr and result.stderr.count("\n") == 1


def test_version_and_help_name_the_exit_codes() -> None:
    assert mfaops("version").stdout.startswith("mfaops ")
    helped = mfaops("--help")
    assert helped.returncode == 0 and "Exit codes" in helped.stdout and "3 refused by a guardrail" in helped.stdout
