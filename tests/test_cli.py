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
    assert "reason" in row
    listed = json.loads(mfaops("--local", "--json", "jobs", "list", "--state", "succeeded").stdout)
    assert job_id in [j["job_id"] for j in listed["jobs"]]
    methods = mfaops("--local", "--json", "methods", "grace.hopper@contoso.example")
    assert methods.returncode == 0
    doc = json.loads(methods.stdout)
    assert doc["user"]["userPrincipalName"] == "grace.hopper@contoso.example" and doc["methods"]
    assert {"@odata.type", "id", "isDefault"} <= set(doc["methods"][0])
    phones = [m for m in doc["methods"] if m["@odata.type"].endswith("phoneAuthenticationMethod")]
    assert phones and all(m["phoneNumber"].startswith("*") and m["phoneNumber"][-2:].isdigit() for m in phones)
    assert sum(m["isDefault"] for m in doc["methods"]) <= 1
    table = mfaops("--local", "methods", "grace.hopper@contoso.example")
    assert table.returncode == 0 and "methods of grace.hopper@contoso.example" in table.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (("jobs", "show", "no-such-job"), 2, "no job"),
    (("methods", "nobody@contoso.example"), 2, "not found"),
    (("methods", "not a user"), 2, "USER"),
    (("who-reset", "a/../b@c.d"), 2, "USER"),
    (("jobs", "list"), 2, "--user, --state or --kind"),
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


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, input=stdin)


def test_a_single_reset_is_guarded_recorded_and_shows_the_tap_only_when_asked(local_system: str) -> None:
    httpx.delete(f"{local_system}/graph/_sandbox/calls", timeout=10)
    dry = run_cli("--local", "--json", "reset", "linus.torvalds@contoso.example", "--by", "desk@contoso.example",
                  "--dry-run")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and plan["verdict"]["decision"] == "proceed" and plan["would_remove"]
    calls = httpx.get(f"{local_system}/graph/_sandbox/calls", timeout=10).json()["calls"]
    assert not [c for c in calls if c["method"] == "DELETE"], "a dry run changes nothing"
    no_terminal = run_cli("--local", "reset", "linus.torvalds@contoso.example", "--by", "desk@contoso.example",
                          "--reason", "lost phone", stdin="")
    assert no_terminal.returncode == 2 and "--yes" in no_terminal.stderr
    done = run_cli("--local", "--json", "reset", "linus.torvalds@contoso.example", "--by", "desk@contoso.example",
                   "--reason", "lost phone", "--yes")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "succeeded" and job["source"] == {"kind": "operator", "operator": "desk@contoso.example"}
    assert "temporaryAccessPass" not in job and job["tap_issued"]
    assert "acting as desk@contoso.example (local" in done.stderr
    revealed = run_cli("--local", "--json", "reset", "donald.knuth@contoso.example", "--by",
                       "desk@contoso.example", "--reason", "new phone", "--yes", "--reveal-tap")
    tap = json.loads(revealed.stdout)["temporaryAccessPass"]
    assert len(tap) >= 8
    shown = run_cli("--local", "--json", "jobs", "show", json.loads(revealed.stdout)["job_id"])
    assert tap not in shown.stdout and "tap_retrieval" in shown.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (("reset", "breakglass1@contoso.example"), 3, ""),
    (("reset", "alan.turing@contoso.example"), 3, ""),
    (("reset", "alan.turing@contoso.example", "--approved-by", "desk@contoso.example"), 2, "second person"),
    (("reset", "ghost@contoso.example"), 2, ""),  # an unknown user is bad input (README), not a guardrail
])
def test_guardrails_refuse_with_exit_3(local_system: str, args: tuple[str, ...], code: int, says: str) -> None:
    result = run_cli("--local", "--json", *args, "--by", "desk@contoso.example", "--reason", "test", "--yes")
    assert result.returncode == code, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    if code == 3:
        assert json.loads(result.stdout)["state"] in ("rejected", "awaiting_approval")


def test_a_privileged_user_is_reset_with_a_second_persons_approval_on_the_record(local_system: str) -> None:
    result = run_cli("--local", "--json", "reset", "margaret.hamilton@contoso.example", "--by",
                     "desk@contoso.example", "--approved-by", "secops@contoso.example", "--reason", "x", "--yes")
    job = json.loads(result.stdout)
    assert result.returncode in (0, 3)
    approval = [s for s in job["steps"] if s["action"] == "approval"]
    assert approval and "secops@contoso.example" in approval[0]["detail"]


def test_local_mode_needs_by(local_system: str) -> None:
    result = run_cli("--local", "reset", "ada.lovelace@contoso.example", "--reason", "x", "--yes")
    assert result.returncode == 2 and "--by is required" in result.stderr


def test_jobs_retry_approves_a_parked_job_on_the_record(local_system: str) -> None:
    parked = json.loads(run_cli("--local", "--json", "reset", "katherine.johnson@contoso.example", "--by",
                                "desk@contoso.example", "--reason", "x", "--yes").stdout)
    assert parked["state"] == "awaiting_approval"  # a Helpdesk Administrator: needs a second person
    retried = run_cli("--local", "--json", "jobs", "retry", parked["job_id"], "--by", "secops@contoso.example",
                      "--reason", "approved on the phone", "--yes")
    assert retried.returncode == 0, retried.stderr
    job = json.loads(retried.stdout)
    assert job["state"] == "succeeded"  # an operator's job runs again in place, approved by the retry
    assert any(s["action"] == "retry" and "secops@contoso.example" in s["detail"] for s in job["steps"])
    again = run_cli("--local", "jobs", "retry", parked["job_id"], "--by", "secops@contoso.example", "--reason",
                    "again", "--yes")
    assert again.returncode == 3 and "succeeded" in again.stderr  # a succeeded job is final
    assert run_cli("--local", "jobs", "retry", "nope", "--by", "a@b.example", "--reason", "x", "--yes"
                   ).returncode == 2


def test_bulk_csv_errors_are_reported_by_line_and_the_rest_goes_on(local_system: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("# campaign 7\nuser,reason\nedsger.dijkstra@contoso.example,clicked\n\nnot a user,\n"
                        "edsger.dijkstra@contoso.example,twice\nbarbara.liskov@contoso.example,\"a, b\",extra\n")
    result = run_cli("--local", "--json", "reset", "--from-file", str(csv_file), "--by", "secops@contoso.example",
                     "--reason", "phishing", "--batch-id", "csv-errors", "--yes")
    assert result.returncode == 1, result.stderr
    assert f"{csv_file}:5:" in result.stderr and f"{csv_file}:6:" in result.stderr and f"{csv_file}:7:" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    summary = lines[-1]
    assert summary["kind"] == "summary" and summary["succeeded"] == 1
    assert [b["line"] for b in summary["invalid_lines"]] == [5, 6, 7]
    assert run_cli("--local", "reset", "--from-file", str(tmp_path / "missing.csv"), "--by", "a@b.example",
                   "--reason", "x").returncode == 2
    (tmp_path / "noheader.csv").write_text("ada@contoso.example\n")
    assert run_cli("--local", "reset", "--from-file", str(tmp_path / "noheader.csv"), "--by", "a@b.example",
                   "--reason", "x").returncode == 2
    # Issue 23, finding 8: a field over Python's CSV limit names its line; a file over the cap is refused.
    (tmp_path / "huge.csv").write_text('user,reason\n"' + "x" * 200_000 + '",r\n')
    huge = run_cli("--local", "reset", "--from-file", str(tmp_path / "huge.csv"), "--by", "a@b.example",
                   "--reason", "x", "--yes")
    assert huge.returncode == 2 and f"{tmp_path / 'huge.csv'}:2:" in huge.stderr and "Traceback" not in huge.stderr
    (tmp_path / "hugeheader.csv").write_text('"' + "u" * 200_000 + '"\n')
    header = run_cli("--local", "reset", "--from-file", str(tmp_path / "hugeheader.csv"), "--by", "a@b.example",
                     "--reason", "x", "--yes")
    assert header.returncode == 2 and ":1:" in header.stderr and "Traceback" not in header.stderr
    with open(tmp_path / "big.csv", "w") as big:
        big.write("user,reason\n")
        big.write(("a@b.example," + "r" * 500 + "\n") * 34_000)  # over 16 MiB
    assert run_cli("--local", "reset", "--from-file", str(tmp_path / "big.csv"), "--by", "a@b.example",
                   "--reason", "x", "--yes").returncode == 2
    many = tmp_path / "many.csv"
    many.write_text("user\n" + "".join(f"user{i:05d}@contoso.example\n" for i in range(2000)))
    over = run_cli("--local", "reset", "--from-file", str(many), "--by", "a@b.example", "--reason", "x", "--yes")
    assert over.returncode == 3 and "RESETS_PER_HOUR_LIMIT" in over.stderr


def test_doctor_checks_every_service_and_each_features_permissions(local_system: str) -> None:
    result = run_cli("--local", "--json", "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["check"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert {checks[k] for k in ("settings", "storage", "graph", "servicenow", "servicebus")} == {"pass"}
    assert checks["permission UserAuthenticationMethod.ReadWrite.All (reset)"] == "pass"
    assert checks["permission User.RevokeSessions.All (reset)"] == "skip"  # a write: read from a token's roles
    assert checks["verification"] == "warn"  # this local system runs with VERIFY_POLICY=none: said, not failed


def test_tap_sweep_dry_then_applied(local_system: str) -> None:
    dry = run_cli("--local", "--json", "tap", "sweep")
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert {"scanned", "candidates", "deleted", "kept", "graph_requests"} <= set(doc)
    assert any(d["reason"] == "used" and d["upn"] == "tap.used@contoso.example" for d in doc["deleted"])
    refused = run_cli("--local", "tap", "sweep", "--apply", stdin="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    applied = run_cli("--local", "--json", "tap", "sweep", "--apply", "--yes", "--by", "ops@contoso.example")
    assert applied.returncode == 0, applied.stderr
    done = json.loads(applied.stdout)
    assert done["applied"] and done["job_id"] and {d["method_id"] for d in done["deleted"]} >= {
        d["method_id"] for d in doc["deleted"] if d["upn"] == "tap.used@contoso.example"}
    again = json.loads(run_cli("--local", "--json", "tap", "sweep").stdout)
    assert not [d for d in again["deleted"] if d["upn"] == "tap.used@contoso.example"]


def test_cleanup_plan_show_apply_and_refusals(local_system: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_removals_per_run: 20\nrules:\n  - id: disabled\n    kind: disabled_account\n")
    planned = run_cli("--local", "--json", "cleanup", "plan", "--policy", str(policy))
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert set(plan) >= {"plan_id", "items", "graph_requests"} and plan["items"]
    assert {i["upn"] for i in plan["items"]} == {"old.employee@contoso.example"}
    shown = json.loads(run_cli("--local", "--json", "cleanup", "show", plan["plan_id"]).stdout)
    assert shown["plan_id"] == plan["plan_id"] and shown["status"] == "planned"
    applied = run_cli("--local", "--json", "cleanup", "apply", plan["plan_id"], "--by", "ops@contoso.example", "--yes")
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["removed"] == len(plan["items"]) and result["failed"] == []
    again = run_cli("--local", "cleanup", "apply", plan["plan_id"], "--by", "ops@contoso.example", "--yes")
    assert again.returncode == 3 and "at most once" in again.stderr
    over = tmp_path / "over.yaml"
    over.write_text("max_removals_per_run: 1\nrules:\n  - id: m\n    kind: method_type\n    remove: [mobilePhone]\n")
    refused = run_cli("--local", "--json", "cleanup", "plan", "--policy", str(over))
    assert refused.returncode == 3 and json.loads(refused.stdout)["status"] == "refused"
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_removals_per_run: 1\nrules:\n  - id: m\n    kind: method_type\n    remove: [appPassword]\n")
    invalid = run_cli("--local", "cleanup", "plan", "--policy", str(bad))
    assert invalid.returncode == 2 and "line 5" in invalid.stderr and "Traceback" not in invalid.stderr


def test_monitor_scan_findings_and_contain_on_the_local_system(local_system: str) -> None:
    upn = "alan.turing@contoso.example"  # privileged: a registration on this account is a finding
    answer = httpx.post(f"{local_system}/graph/_sandbox/users/{upn}/register",
                        json={"type": "fido2", "displayName": "New key", "ipAddress": "192.0.2.44"}, timeout=30)
    assert answer.status_code == 201, answer.text
    scan = mfaops("--local", "--json", "monitor", "scan")
    assert scan.returncode == 0, scan.stderr
    lines = [json.loads(line) for line in scan.stdout.splitlines()]
    assert {line["kind"] for line in lines} <= {"event", "finding", "scan"}
    found = [line for line in lines if line["kind"] == "finding" and line["rule"] == "privileged-target"
             and line["target"] == upn]
    assert found and all(set(f) >= {"event_id", "rule", "severity", "target", "summary", "finding_id"}
                         for f in found)
    event = next(line for line in lines if line["kind"] == "event" and line["event_id"] == found[0]["event_id"])
    assert event["methods_added"] == ["fido2SecurityKey"] and event["ip"] == "192.0.2.44"
    again = mfaops("--local", "--json", "monitor", "scan")
    assert not [json.loads(line) for line in again.stdout.splitlines() if json.loads(line)["kind"] == "finding"]
    listed = json.loads(mfaops("--local", "--json", "monitor", "findings", "--severity", "high").stdout)
    assert found[0]["finding_id"] in {f["finding_id"] for f in listed["findings"]}
    posts = httpx.get(f"{local_system}/teams/_sandbox/posts", timeout=30).json()["posts"]
    assert any(found[0]["finding_id"] in json.dumps(p) for p in posts)  # the alert, end to end
    contained = mfaops("--local", "--json", "monitor", "contain", found[0]["finding_id"], "--by",
                       "ops@contoso.example", "--yes")
    assert contained.returncode == 0, contained.stderr
    job = json.loads(contained.stdout)
    assert job["kind"] == "containment" and job["state"] == "succeeded"
    missing = mfaops("--local", "monitor", "contain", "nope", "--by", "ops@contoso.example", "--yes")
    assert missing.returncode == 2 and "no finding" in missing.stderr


def test_monitor_classify_reads_files_and_stdin_and_refuses_malformed_input(tmp_path: Path) -> None:
    from tests.detection.events import am

    events = [am("User registered security info", "User registered Mobile Phone SMS", "ada@contoso.example"),
              am("User reviewed security info", "User reviewed security info", "ada@contoso.example")]
    path = tmp_path / "audits.json"
    path.write_text(json.dumps({"value": events}))
    out = mfaops("monitor", "classify", str(path))
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["kind"] for line in out.stdout.splitlines()] == ["event"]
    piped = subprocess.run([sys.executable, "-m", "cli", "monitor", "classify", "-"], cwd=ROOT, capture_output=True,
                           text=True, input="\n".join(json.dumps(e) for e in events), timeout=60)
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(events[0]) + "\n{not json\n")
    refused = mfaops("monitor", "classify", str(bad))
    assert refused.returncode == 2 and "line 2" in refused.stderr and "Traceback" not in refused.stderr
    assert mfaops("monitor", "classify", str(tmp_path / "none.json")).returncode == 2


def test_posture_check_json_html_and_the_registration_policy_dry_run(local_system: str, tmp_path: Path) -> None:
    page = tmp_path / "posture.html"
    checked = mfaops("--local", "--json", "posture", "check", "--html", str(page))
    report = json.loads(checked.stdout)
    assert set(report) >= {"tenant", "checked_at", "checks"}
    failing = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert checked.returncode == (1 if failing else 0), checked.stderr
    assert page.read_text().startswith("<!doctype html>")
    dry = mfaops("--local", "--json", "posture", "apply-registration-policy", "--report-only", "--by",
                 "ops@contoso.example", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    outcome = json.loads(dry.stdout)
    assert outcome["dry_run"] and outcome["policy"]["state"] == "enabledForReportingButNotEnforced"
    assert len(outcome["excluded_break_glass"]) == 2
    both = mfaops("--local", "posture", "apply-registration-policy", "--report-only", "--enable", "--by",
                  "ops@contoso.example")
    assert both.returncode == 2
    impact = mfaops("--local", "--json", "posture", "impact", "--days", "14")
    assert impact.returncode == 0, impact.stderr
    assert json.loads(impact.stdout)["policy"]["state"] == "enabledForReportingButNotEnforced"
    # Enforcing needs the write permission the demo tenant does not grant: Graph's 403, exit 1, no traceback.
    enforce = mfaops("--local", "posture", "apply-registration-policy", "--enable", "--by", "ops@contoso.example",
                     "--yes")
    assert enforce.returncode == 1 and "403" in enforce.stderr and "Traceback" not in enforce.stderr


def test_tenant_values_are_text_in_the_cli_never_rich_markup(local_system: str) -> None:
    """Issue 23, finding 5: a method named "[/]" crashed `methods`, and "[link=...]" rendered a live link."""
    upn = "donald.knuth@contoso.example"
    hostile = "[/] [link=https://evil.example]x[/link] [bold]b"
    answer = httpx.post(f"{local_system}/graph/_sandbox/users/{upn}/register",
                        json={"type": "microsoftAuthenticator", "displayName": hostile}, timeout=30)
    assert answer.status_code == 201, answer.text
    shown = subprocess.run([sys.executable, "-m", "cli", "--local", "methods", upn], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    flat = "".join(shown.stdout.split())
    assert "[link=https://evil.example]" in flat and "[/]" in flat and "[bold]" in flat
    assert "\x1b]8;" not in shown.stdout  # no terminal hyperlink


def test_jobs_list_by_kind_and_an_unknown_user_is_bad_input(local_system: str) -> None:
    """Issue 23, finding 11: --kind from the CLI contract; an unknown user exits 2 as the README says."""
    reset_ada(local_system)
    listed = run_cli("--local", "--json", "jobs", "list", "--kind", "reset")
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)["jobs"]
    assert jobs and {j["kind"] for j in jobs} == {"reset"}
    both = json.loads(run_cli("--local", "--json", "jobs", "list", "--kind", "reset", "--state", "succeeded").stdout)
    assert both["jobs"] and all(j["state"] == "succeeded" and j["kind"] == "reset" for j in both["jobs"])
    bad = run_cli("--local", "jobs", "list", "--kind", "bogus")
    assert bad.returncode == 2 and "--kind" in bad.stderr
    unknown = run_cli("--local", "--json", "reset", "nobody.here@contoso.example", "--by", "desk@contoso.example",
                      "--reason", "x", "--yes")
    assert unknown.returncode == 2, (unknown.returncode, unknown.stdout, unknown.stderr)
    assert json.loads(unknown.stdout)["error"]["code"] == "user_not_found"


def test_inventory_run_status_show_and_export(local_system: str) -> None:
    # The local system keeps Graph's reports bucket (5 requests per 10 s): a few users, not a whole pass.
    ran = run_cli("--local", "--json", "inventory", "run", "--max-users", "3")
    assert ran.returncode == 0, ran.stderr
    first = json.loads(ran.stdout)
    assert first["read"] == 3 and first["pass_complete"] is False and first["due"] > 3
    status = json.loads(run_cli("--local", "--json", "inventory", "status").stdout)
    assert status["users_covered"] == 3 and status["pass_progress"] == 3 and status["requests_today"]["background"] > 0
    exported = run_cli("--local", "inventory", "export", "--csv")
    assert exported.returncode == 0
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("user_id,upn,default,read_at,type,method_id") and len(lines) >= 4
    assert "+1 4255550" not in exported.stdout and "4255550" not in exported.stdout  # phone numbers masked
    upn = lines[1].split(",")[1]
    shown = run_cli("--local", "--json", "inventory", "show", upn)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["upn"] == upn and all({"type", "id", "display", "created", "last_used"} <= set(m)
                                     for m in doc["methods"])
    missing = run_cli("--local", "inventory", "show", "nobody.here@contoso.example")
    assert missing.returncode == 2 and "not in the inventory" in missing.stderr
    assert run_cli("--local", "inventory", "export").returncode == 2


def test_report_methods_json_csv_and_html(local_system: str, tmp_path: Path) -> None:
    shown = run_cli("--local", "--json", "report", "methods")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert {"users", "by_method_type", "weak_only", "privileged_without_phishing_resistant", "no_method",
            "unused_by_age", "trend", "previous_at"} <= set(doc)
    assert doc["no_method"]["count"] == len(doc["no_method"]["users"]) >= 1
    assert doc["previous_at"] is None or isinstance(doc["previous_at"], str)
    page = tmp_path / "methods.html"
    again = run_cli("--local", "report", "methods", "--csv", "--html", str(page))
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0] == "figure,name,value" and f"users,,{doc['users']}" in lines
    assert 'id="methods"' in page.read_text(encoding="utf-8")
    assert run_cli("--local", "report", "methods", "--html", str(tmp_path / "no" / "such" / "x.html")).returncode == 2


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _same_shape(now: object, before: object) -> bool:
    """Equal shapes, an empty list or map matching any list or map and a null any value (what a list holds, and
    whether a value is set yet, depend on the system's state)."""
    if "NoneType" in (now, before):
        return True
    if isinstance(now, dict) and isinstance(before, dict):
        if not now or not before:  # a map keyed by what happened (requests by lane): empty until something did
            return True
        return now.keys() == before.keys() and all(_same_shape(now[k], before[k]) for k in now)
    if isinstance(now, list) and isinstance(before, list):
        if now and before and all(isinstance(x[0], dict) and "@odata.type" in x[0] for x in (now, before)):
            return True  # Graph's polymorphic items (a user's methods): each type has its own properties
        return not now or not before or _same_shape(now[0], before[0])
    return now == before


def test_json_outputs_keep_the_shapes_they_had_before_the_cli_was_reshaped(local_system: str) -> None:
    """Issue 28: the shapes (keys and value types, recursively) and exit codes of these commands' --json, as the
    single-module CLI printed them (tests/fixtures/cli_json_shapes.json, recorded against a local system)."""
    before = json.loads((ROOT / "tests" / "fixtures" / "cli_json_shapes.json").read_text(encoding="utf-8"))
    for command, (code, shape) in before.items():
        result = run_cli("--local", "--json", *command.split())
        lines = result.stdout.strip().splitlines()
        now = _shape(json.loads(lines[-1])) if lines else None
        assert result.returncode == code, (command, result.stderr[-500:])
        assert _same_shape(now, shape), command
