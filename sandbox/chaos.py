"""The attack suite's engine, shared by `make test` (short form) and `python -m bench.chaos` (full form):
hostile input at every door, then a workload of tickets, duplicates, a bulk, a cleanup, containment, a monitor scan
and a posture check at a set rate of injected faults (Graph, ServiceNow, the alert sinks, Azurite restarted),
and the properties checked after it: nothing lost, nothing deleted twice, no guardrail crossed, no secret written.
One piece at ~580 lines: the workload and the properties checked after it must see the same run.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func

from sandbox.hostile import (
    hostile_audit_file,
    hostile_body,
    hostile_csv,
    hostile_graph_answer,
    hostile_headers,
    hostile_yaml,
    odd_string,
    ticket,
)
from sandbox.system import Sandbox
from sandbox.tickets import submit
from shared.identity.principal import PRINCIPAL_HEADER, encode_principal
from shared.jobs.model import JobState

ROOT = Path(__file__).resolve().parent.parent
HANG_S = 5.0
FINAL_OR_PARKED = {JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED, JobState.AWAITING_APPROVAL,
                   JobState.AWAITING_VERIFICATION, JobState.VERIFICATION_FAILED}


@dataclass
class Summary:
    inputs: int = 0
    by_door: Counter[str] = field(default_factory=Counter)
    http_5xx: int = 0
    tracebacks: int = 0
    hangs: int = 0
    unsigned_jobs: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    fault_rate: float = 0.0
    jobs: Counter[str] = field(default_factory=Counter)
    jobs_lost: int = 0
    failed_by_code: Counter[str] = field(default_factory=Counter)
    tickets_untold: int = 0
    duplicate_deletes: int = 0
    guardrail_violations: list[str] = field(default_factory=list)
    secrets_found: list[str] = field(default_factory=list)
    alerts_lost: int = 0
    watermark_skips: int = 0
    many_group_users: int = 0  # break-glass and privileged users put in hundreds of groups (issue 23)
    containments: int = 0  # concurrent containments tried of one finding
    duplicate_containments: int = 0  # jobs beyond the first for one finding
    markup_injections: list[str] = field(default_factory=list)  # hostile names that reached a sink as markup
    uncovered_graph_calls: list[str] = field(default_factory=list)
    unused_permissions: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def failure(self, what: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(what[:400])

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "by_door": dict(self.by_door), "http_5xx": self.http_5xx,
                "tracebacks": self.tracebacks, "hangs": self.hangs, "unsigned_jobs": self.unsigned_jobs,
                "fault_rate": self.fault_rate, "faults_injected": self.faults,
                "jobs": dict(self.jobs), "failed_by_code": dict(self.failed_by_code),
                "tickets_untold": self.tickets_untold, "jobs_lost": self.jobs_lost,
                "duplicate_deletes": self.duplicate_deletes,
                "guardrail_violations": len(self.guardrail_violations), "secrets_found": len(self.secrets_found),
                "alerts_lost": self.alerts_lost, "watermark_skips": self.watermark_skips,
                "many_group_users": self.many_group_users, "containments_tried": self.containments,
                "duplicate_containments": self.duplicate_containments,
                "markup_injections": len(self.markup_injections),
                "uncovered_graph_calls": self.uncovered_graph_calls, "unused_permissions": self.unused_permissions,
                "examples": self.examples}


# -- 1. hostile input -------------------------------------------------------------------------------------------
async def hostile_doors(box: Sandbox, cases: int, *, seed: int = 1, summary: Summary | None = None) -> Summary:
    import function_app
    from sandbox.localhost import user_function
    from shared.cleanup.policy import PolicyError, load_policy
    from shared.detection.classify import InputError, classify
    from shared.detection.events import PhoneHasher, normalise
    from shared.detection.rules import RuleConfig
    from shared.graph import sdk_gateway
    from shared.reset.bulk import parse_users_csv
    from shared.tap.rules import SweepPolicy, verdict

    out = summary or Summary()
    rng = random.Random(seed)
    webhook = user_function(function_app.app, "servicenow_webhook")
    routes = {name: user_function(function_app.app, name) for name in ("get_job", "get_job_tap", "retry_job")}
    config = RuleConfig.from_settings(box.settings)
    hasher = PhoneHasher(b"chaos")
    secret = box.webhook_secret

    def sync(door: str, call: Callable[..., Any], allowed: tuple[type[BaseException], ...], *args: Any) -> None:
        started = time.monotonic()
        try:
            call(*args)
        except allowed:
            pass
        except Exception as exc:
            out.tracebacks += 1
            out.failure(f"{door}: {type(exc).__name__}: {exc} {traceback.format_exc(limit=2)}")
        if time.monotonic() - started > HANG_S:
            out.hangs += 1
            out.failure(f"{door}: {time.monotonic() - started:.1f} s")

    for index in range(cases):
        door = ("webhook", "webhook", "operator", "csv", "yaml", "audit_file", "graph_answer")[index % 7]
        out.inputs += 1
        out.by_door[door] += 1
        if door == "webhook":
            body = hostile_body(rng)
            headers, valid = hostile_headers(rng, secret, body)
            request = func.HttpRequest("POST", "http://localhost/api/itsm/servicenow", headers=headers, body=body)
            response = await _timed(out, door, webhook(request))
            if response is not None:
                _check_http(out, door, response)
                if response.status_code in (200, 202) and not valid:
                    out.unsigned_jobs += 1
                    out.failure(f"webhook made a job without a valid signature: {headers}")
        elif door == "operator":
            name = rng.choice(list(routes))
            job_id = rng.choice([odd_string(rng), "0" * 36, "../../x", "%2e%2e", "a" * 300])
            roles = rng.choice([(), ("Jobs.Read",), ("Tap.Retrieve",), ("Jobs.Retry",), ("Nope",)])
            headers = rng.choice([{}, {PRINCIPAL_HEADER: odd_string(rng)}, {PRINCIPAL_HEADER: encode_principal(
                object_id="0b5e1c7a-1111-4c2e-9a53-5d7c1e0f0001", upn="ops@contoso.example", roles=roles)}])
            if name == "retry_job":
                headers = {**headers, "Content-Type": rng.choice(["application/json", "text/plain"])}
            request = func.HttpRequest("POST" if name == "retry_job" else "GET", "http://localhost/api/jobs/x",
                                       headers=headers, body=hostile_body(rng) if name == "retry_job" else b"",
                                       route_params={"job_id": job_id})
            response = await _timed(out, door, routes[name](request))
            if response is not None:
                _check_http(out, door, response)
        elif door == "csv":
            text = hostile_csv(rng)
            sync(door, parse_users_csv, (), text)
        elif door == "yaml":
            text = hostile_yaml(rng)
            sync(door, load_policy, (PolicyError,), text)
        elif door == "audit_file":
            data = hostile_audit_file(rng)
            sync(door, lambda blob: list(classify(io.BytesIO(blob), config, hasher)), (InputError, UnicodeDecodeError),
                 data)
        else:
            answer = hostile_graph_answer(rng)
            sync(door, normalise, (), answer, hasher)
            if isinstance(answer, dict):
                sync(door, sdk_gateway._method_from_json, (), answer)
                sync(door, sdk_gateway._tap_from_json, (), answer)
                sync(door, lambda tap: verdict(tap, other_methods=1, issued_by_mfaops=False, now=box.graph.tenant
                                               .clock.now(), policy=SweepPolicy(max_age=timedelta(hours=24),
                                                                                allow_multi_use=True)), (), answer)
    return out


async def _timed(out: Summary, door: str, call: Any) -> Any:
    try:
        return await asyncio.wait_for(call, HANG_S)
    except TimeoutError:
        out.hangs += 1
        out.failure(f"{door}: no answer in {HANG_S} s")
    except Exception as exc:  # the function itself raised: what the host would turn into a bare 500
        out.tracebacks += 1
        out.failure(f"{door}: {type(exc).__name__}: {exc}")
    return None


def _check_http(out: Summary, door: str, response: func.HttpResponse) -> None:
    body = response.get_body() or b""
    if response.status_code >= 500:
        out.http_5xx += 1
        out.failure(f"{door}: {response.status_code} {body[:200]!r}")
    if b"Traceback" in body:
        out.tracebacks += 1
    if response.status_code >= 400:
        try:
            problem = json.loads(body)
        except ValueError:
            problem = None
        if not isinstance(problem, dict) or "title" not in problem or "status" not in problem:
            out.failure(f"{door}: {response.status_code} without a problem body")
            out.tracebacks += 1


# -- 2. a faulted workload ----------------------------------------------------------------------------------------
async def faulted_workload(box: Sandbox, *, tickets: int, fault_rate: float, seed: int = 2,
                           summary: Summary | None = None,
                           restart_tables: Callable[[], Any] | None = None) -> Summary:
    """Tickets (each sent 3x at once through the webhook and once on the queue), a bulk, a cleanup, findings with
    containment, a monitor scan and a posture check, all at ``fault_rate`` injected faults."""
    from shared.cleanup.policy import load_policy
    from shared.reset.bulk import BulkRow, run_bulk

    out = summary or Summary()
    out.fault_rate = fault_rate
    rng = random.Random(seed)
    tenant = box.graph.tenant
    out.many_group_users = widen_memberships(box)
    before = {u.id: sorted(m.id for m in u.methods) for u in tenant.users.values()}
    break_glass = {u.id for u in tenant.users.values() if _is_break_glass(box, u)}
    members = [u for u in tenant.users.values() if u.user_type == "Member" and u.account_enabled]
    _set_faults(box, fault_rate, seed)
    box.servicenow.fail_next = 0
    box.teams.fail_next = 10**6  # every alert sink down for the first half

    async def one_ticket(i: int) -> None:
        user = rng.choice(members)
        body = ticket(number=f"RITM{20000 + i:07d}", sys_id=f"{i:032x}", user=user.upn)
        box.servicenow.records[("sc_req_item", body["sys_id"])] = {
            "table": "sc_req_item", "sys_id": body["sys_id"], "number": body["number"], "state": "2",
            "approval": "approved", "active": "true", "requested_for": user.upn,
            "u_mfa_privileged_approval": rng.choice(["", "approved"])}
        copies = [submit(box.webhook_secret, body) for _ in range(3)]
        answers = await asyncio.gather(*copies, return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                out.tracebacks += 1
                out.failure(f"webhook under faults: {type(answer).__name__}: {answer}")
            elif answer.status_code >= 500:
                out.http_5xx += 1

    await asyncio.gather(*(one_ticket(i) for i in range(tickets)))
    box.servicenow.fail_next = max(1, tickets // 4)  # ServiceNow down for part of the write-backs
    # Storage goes down (the callable returns once it is stopped, and hands back what brings it up again).
    outage = await restart_tables() if restart_tables is not None else None
    try:
        await box.deliver_all()
    except Exception as exc:
        if not _expected_under_faults(exc):
            raise
    if outage is not None:
        await outage
    await box.deliver_all()  # what the outage sent back to the queue
    await managers_decide(box, rng, out)  # proof before reset: managers approve (or deny) what waits for them
    await box.deliver_all()
    # A bulk and a cleanup touching users the tickets touched, at the same time.
    rows = [BulkRow(line=n + 2, user=u.upn, reason="chaos") for n, u in enumerate(rng.sample(members, 6))]
    policy = load_policy("max_removals_per_run: 500\nrules:\n  - id: weak\n    kind: method_type\n"
                         "    remove: [mobilePhone, email]\n")
    service = box.container.reset_service()
    cleanup = box.container.cleanup_service()

    async def clean() -> None:
        plan = await cleanup.plan(policy)
        if plan.status == "planned" and plan.items:
            await cleanup.apply(plan.plan_id, by="chaos@contoso.example")

    results = await asyncio.gather(run_bulk(service, rows, by="chaos@contoso.example", reason="chaos",
                                            batch_id=f"chaos{seed}", concurrency=4), clean(), box.deliver_all(),
                                   return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not _expected_under_faults(result):
            out.tracebacks += 1
            out.failure(f"flow under faults: {type(result).__name__}: {result}")
    # The monitor and posture under faults, then with the sinks back.
    for user in rng.sample(members, 4):
        await _register(box, user.upn)
    monitor = box.container.monitor_service()
    await _until_done(out, "monitor", monitor.scan, attempts=12)
    await _until_done(out, "posture", box.container.posture_service().check, attempts=6)
    out.faults = dict(box.graph.faults.injected)
    _set_faults(box, 0.0, seed)
    box.teams.fail_next = 0
    hostile_names(box, rng)
    await monitor.scan()  # sinks back: failed alerts are sent now, the hostile names' findings with them
    await concurrent_containment(box, out)
    markup_in_sinks(box, out)
    await managers_decide(box, rng, out)  # the bulk's users
    await service.fail_stuck(older_than=timedelta(0))  # the stuck-job timer, as if its timeout had passed
    await _properties(box, out, before, break_glass)
    return out


async def managers_decide(box: Sandbox, rng: random.Random, out: Summary) -> None:
    """Each job waiting for its manager: the manager approves (two in three) or denies, as on the page."""
    service = box.container.verification_service()
    for job in await box.container.job_store().list_by_state(JobState.AWAITING_VERIFICATION, limit=1000):
        v = job.verification
        if v is None or not v.manager_id or v.proof("manager") is None:
            continue
        manager = box.graph.tenant.users.get(v.manager_id)
        if manager is None:
            continue
        approve = rng.random() < 2 / 3
        for _ in range(6):  # under faults: as a manager would click again
            try:
                await service.decide_manager(v.id, by=manager.upn, by_id=manager.id, approve=approve,
                                             reason="" if approve else "I did not ask for this")
                break
            except Exception as exc:
                from shared.errors import VerificationError

                if isinstance(exc, VerificationError):
                    break  # decided meanwhile (a callback still pending, an expiry): the gate said why
                if not _expected_under_faults(exc):
                    out.tracebacks += 1
                    out.failure(f"manager decision: {type(exc).__name__}: {exc}")
                    break


# -- issue 23's shapes -------------------------------------------------------------------------------------------
HOSTILE_NAMES = ["[Click to approve](https://evil.example)", "[code]<img src=x onerror=alert(1)>[/code]",
                 "[link=https://evil.example]x[/link]", "**urgent** <script>alert(1)</script>",
                 "{{DATE(2017-02-14T06:08:39Z, SHORT)}}"]


def widen_memberships(box: Sandbox, groups: int = 300) -> int:
    """Break-glass and privileged users in ``groups`` more groups, listed before their own: the guardrails'
    reads must see past any first page of memberships."""
    tenant = box.graph.tenant
    extra = []
    for i in range(groups):
        gid = f"00000000-0000-4000-9000-{i:012d}"
        tenant.groups.setdefault(gid, {"id": gid, "displayName": f"Chaos Team {i:03d}"})
        extra.append(gid)
    widened = 0
    for user in tenant.users.values():
        if user.roles or _is_break_glass(box, user):
            user.groups = [*extra, *(g for g in user.groups if g not in extra)]
            widened += 1
    return widened


def hostile_names(box: Sandbox, rng: random.Random) -> None:
    """Events by apps whose display names are Markdown, markup or a template, on privileged users (findings
    that go to every alert sink)."""
    import uuid

    tenant = box.graph.tenant
    targets = [u for u in tenant.users.values() if u.roles and not _is_break_glass(box, u)]
    now = tenant.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in HOSTILE_NAMES:
        user = rng.choice(targets)
        tenant.audits.append({
            "id": f"Authentication Methods_{uuid.uuid4()}", "category": "UserManagement",
            "correlationId": str(uuid.uuid4()), "result": "success",
            "resultReason": "Admin registered temporary access pass method for user",
            "activityDisplayName": "Admin registered security info", "activityDateTime": now,
            "loggedByService": "Authentication Methods", "operationType": "Add",
            "initiatedBy": {"user": None, "app": {"appId": str(uuid.uuid4()), "displayName": name,
                                                  "servicePrincipalId": str(uuid.uuid4()),
                                                  "servicePrincipalName": name}},
            "targetResources": [{"id": user.id, "displayName": user.display_name, "type": "User",
                                 "userPrincipalName": user.upn, "modifiedProperties": []}],
            "additionalDetails": []})


async def concurrent_containment(box: Sandbox, out: Summary) -> None:
    """Three containments of one finding at once: one job, however they interleave."""
    monitor = box.container.monitor_service()
    found = [f for f in await monitor.findings(limit=1000)
             if not f.containment_job and f.finding.target and "breakglass" not in f.finding.target]
    if not found:
        return
    finding_id = found[0].finding.finding_id
    out.containments += 3
    results = await asyncio.gather(*(monitor.contain(finding_id, by=f"chaos{i}@contoso.example") for i in range(3)),
                                   return_exceptions=True)
    jobs = {r.job_id for r in results if not isinstance(r, BaseException)}
    for r in results:
        if isinstance(r, BaseException) and not _expected_under_faults(r):
            out.tracebacks += 1
            out.failure(f"containment: {type(r).__name__}: {r}")
    out.duplicate_containments += max(0, len(jobs) - 1)
    if len(jobs) > 1:
        out.failure(f"finding {finding_id} contained by {sorted(jobs)}")


def markup_in_sinks(box: Sandbox, out: Summary) -> None:
    """No hostile name reached Teams as Markdown (a link, emphasis, a template) or ServiceNow as a [code] block."""
    import re

    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    for post in box.teams.posts:
        try:
            content = post["body"]["attachments"][0]["content"]
        except (KeyError, IndexError, TypeError):
            continue
        texts = [b.get("text", "") for b in content.get("body", []) if b.get("type") == "TextBlock"]
        texts += [f.get(k, "") for b in content.get("body", []) if b.get("type") == "FactSet"
                  for f in b.get("facts", []) for k in ("title", "value")]
        for text in texts:
            rendered = md.render(str(text))
            if re.search(r"<(a|img|em|strong|script|code)\b", rendered) or "{{" in str(text).replace("\\{", ""):
                out.markup_injections.append(f"teams: {str(text)[:120]}")
    for record in box.servicenow.created:
        blob = f"{record.get('short_description', '')} {record.get('description', '')}"
        if re.search(r"\[\s*/?\s*code\s*\]", blob, re.IGNORECASE):
            out.markup_injections.append(f"servicenow incident: {blob[:120]}")
    for (table, sys_id), _record in box.servicenow.records.items():
        for note in box.servicenow.journal_for(sys_id):
            if re.search(r"\[\s*/?\s*code\s*\]", note, re.IGNORECASE):
                out.markup_injections.append(f"servicenow {table} note: {note[:120]}")
    for failure in out.markup_injections[:3]:
        out.failure(failure)


async def _until_done(out: Summary, what: str, call: Callable[[], Any], *, attempts: int) -> None:
    """Run ``call`` until it gets through the injected faults; a failure faults cannot explain is a finding."""
    for _ in range(attempts):
        try:
            await call()
            return
        except Exception as exc:
            if not _expected_under_faults(exc):
                out.tracebacks += 1
                out.failure(f"{what} under faults: {type(exc).__name__}: {exc}")
                return


def _expected_under_faults(exc: BaseException) -> bool:
    from azure.core.exceptions import AzureError

    from shared.errors import MfaopsError
    from shared.itsm.port import TicketSystemError

    return isinstance(exc, MfaopsError | TicketSystemError | AzureError | ConnectionError | OSError)


def _set_faults(box: Sandbox, rate: float, seed: int) -> None:
    f = box.graph.faults
    f.rate_429, f.rate_429_bare, f.rate_503 = rate * 0.35, rate * 0.1, rate * 0.2
    f.rate_504, f.rate_reset, f.rate_slow, f.slow_ms = rate * 0.1, rate * 0.15, rate * 0.1, 50.0
    box.graph.rng.seed(seed)


def _is_break_glass(box: Sandbox, user: Any) -> bool:
    group = box.settings.break_glass_group.strip().lower()
    names = {str(box.graph.tenant.groups.get(g, {}).get("displayName", "")).lower() for g in user.groups}
    return user.upn.lower() in box.settings.break_glass_upn_set or (bool(group) and (
        group in names or group in {g.lower() for g in user.groups}))


async def _register(box: Sandbox, upn: str) -> None:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=box.graph_app), base_url="http://g") as client:
        await client.post(f"/_sandbox/users/{upn}/register", json={"type": "fido2", "displayName": "chaos key",
                                                                    "ipAddress": "192.0.2.77"})


async def _properties(box: Sandbox, out: Summary, before: dict[str, list[str]], break_glass: set[str]) -> None:
    jobs = box.container.job_store()
    for state in JobState:
        for job in await jobs.list_by_state(state, limit=5000):
            out.jobs[state.value] += 1
            if job.state not in FINAL_OR_PARKED:
                out.jobs_lost += 1
                out.failure(f"job {job.job_id} left {job.state.value}")
            if job.state in (JobState.FAILED, JobState.REJECTED) and job.error is not None:
                out.failed_by_code[job.error.code] += 1
            if job.source.sys_id and job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED,
                                                   JobState.VERIFICATION_FAILED) and \
                    not any(s.action == "write_back" for s in job.steps):
                out.tickets_untold += 1
                out.failure(f"job {job.job_id} ({job.state.value}) never told its ticket")
            if job.state is JobState.FAILED and (job.error is None or not job.error.message):
                out.jobs_lost += 1
                out.failure(f"job {job.job_id} failed without a reason")
            proven = job.verification is None or job.verification.state in ("passed", "not_required")
            if job.kind.value == "reset" and job.methods_removed and not proven:
                out.guardrail_violations.append(f"{job.target.upn} lost methods before proof: {job.job_id}")
            if job.kind.value == "reset" and job.state is JobState.SUCCEEDED and job.target.id in break_glass:
                out.guardrail_violations.append(f"break-glass {job.target.upn} reset by {job.job_id}")
            if job.kind.value == "reset" and job.state is JobState.SUCCEEDED:
                user = box.graph.tenant.user(job.target.id or job.target.upn)
                record = box.servicenow.records.get((job.source.table, job.source.sys_id), {})
                approved = any(s.action in {"approval", "retry"} for s in job.steps) or \
                    record.get(box.settings.privileged_approval_field) == "approved"
                if user is not None and user.roles and not approved:
                    out.guardrail_violations.append(f"privileged {user.upn} reset without approval: {job.job_id}")
    for uid in break_glass:
        user = box.graph.tenant.users[uid]
        if sorted(m.id for m in user.methods) != before.get(uid, []):
            # a registration the workload made is a new method, never a lost one
            lost = set(before.get(uid, [])) - {m.id for m in user.methods}
            if lost:
                out.guardrail_violations.append(f"break-glass {user.upn} lost {sorted(lost)}")
    admissions = await jobs.admissions_since(box.graph.tenant.clock.now() - timedelta(hours=1))
    if admissions > box.settings.resets_per_hour_limit:
        out.guardrail_violations.append(f"{admissions} admissions in an hour > {box.settings.resets_per_hour_limit}")
    deletes = Counter(c["path"] for c in box.graph.calls if c["method"] == "DELETE" and 200 <= c["status"] < 300)
    out.duplicate_deletes = sum(n - 1 for n in deletes.values() if n > 1)
    stored = await box.container.monitor_service().findings(limit=100_000)
    out.alerts_lost = sum(1 for s in stored if s.alert == "pending")
    relevant = [e for e in box.graph.tenant.audits if e.get("activityDisplayName") == "User registered security info"]
    store = box.container.monitor_service().store
    out.watermark_skips = len([e for e in relevant if not await store.seen(str(e["id"]))])


def least_privilege(box: Sandbox, out: Summary) -> None:
    """Every Graph call the run made is covered by the grants file's default set; every granted permission was
    used by some call (the grants are exactly what the features need)."""
    import re

    from sandbox.graph.permissions import ROUTES

    text = (ROOT / "bicep" / "graph-permissions.bicep").read_text()
    blocks = {name: re.findall(r"^\s+'([A-Za-z.]+)' //", body, flags=re.M)
              for name, body in re.findall(r"var (\w+Roles) = \[(.*?)\]", text, flags=re.S)}
    # The default grants: reset, detection, and the manager's mail (the default verification policy asks managers).
    granted = set(blocks.get("resetRoles", [])) | set(blocks.get("detectionRoles", [])) | \
        (set(blocks.get("mailRoles", [])) if "enableManagerApproval bool = true" in text else set())
    patterns = [(m, re.compile("^/(v1.0|beta)" + re.sub(r"\{\w+\}", "[^/]+", p) + "$"), perms)
                for (m, p), perms in ROUTES.items()]
    used: set[str] = set()
    for call in box.graph.calls:
        if call.get("status") == 403:
            continue
        path = call["path"].split("?")[0]
        match = next((perms for m, rx, perms in patterns if m == call["method"] and rx.match(path)), None)
        if match is None:
            continue
        if not granted & set(match):
            out.uncovered_graph_calls.append(f"{call['method']} {path}")
        used |= granted & set(match)
    out.uncovered_graph_calls = sorted(set(out.uncovered_graph_calls))
    out.unused_permissions = sorted(granted - used)


def secrets_in(box: Sandbox, texts: list[str]) -> list[str]:
    """Which secrets appear in any of ``texts``: TAP values Graph issued, the webhook secret, the keys."""
    s = box.settings
    secrets = {"webhook secret": s.servicenow_webhook_secret.get_secret_value(),
               "TAP drop key": s.tap_drop_key.get_secret_value(), "job id key": s.job_id_key.get_secret_value(),
               "ServiceNow password": s.servicenow_password.get_secret_value()}
    for index, value in enumerate(box.graph.issued_tap_values):
        secrets[f"TAP value {index}"] = value
    blob = "\n".join(texts)
    return sorted(name for name, value in secrets.items() if value and len(value) >= 8 and value in blob)


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record) + " " + json.dumps(getattr(record, "custom_dimensions", {}),
                                                                    default=str))
        except Exception:  # a record that does not format is still no secret: keep going
            self.lines.append(str(record.msg))


async def everything_written(box: Sandbox) -> list[str]:
    """Every table row, journal entry, alert payload, mail and dead letter the run wrote."""
    texts: list[str] = []
    service = box.container.table_service()
    async for table in service.list_tables():
        client = service.get_table_client(table.name)
        async for entity in client.list_entities():
            texts.append(json.dumps(dict(entity), default=str))
    texts += [json.dumps(x, default=str) for x in (box.servicenow.journal, box.servicenow.created, box.teams.posts,
                                                   box.graph.tenant.mail, box.alerts.raised)]
    return texts
