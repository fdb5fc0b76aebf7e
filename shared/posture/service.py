"""The posture service: run the checks and record the run (a worsened check raises a drift alert through the
monitor's sinks); the report-only impact of the registration policy; create or update that policy on request."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from shared.alerts.port import Alerts
from shared.errors import MfaopsError
from shared.graph.lanes import background_flow
from shared.graph.port import GraphGateway
from shared.jobs.model import Job, JobKind, JobState, Source, Target, utcnow
from shared.jobs.store import JobStore
from shared.posture import registration_policy
from shared.posture.checks import run_checks, targets_registration
from shared.posture.data import TenantPosture, gather
from shared.posture.grants import GrantSource
from shared.posture.model import Report, worse
from shared.settings import Settings
from shared.telemetry.spans import POSTURE_FAILING

if TYPE_CHECKING:
    from shared.inventory.figures import MethodsReportService

log = logging.getLogger("mfaops.posture")
BLOCKING = {"reportOnlyFailure", "reportOnlyInterrupted"}
_MAX_MS = 10**13 - 1


class PolicyRefusedError(MfaopsError):
    """The registration policy would not exclude every break-glass account, or nothing to act on (exit 3)."""


@dataclass
class PostureService:
    settings: Settings
    graph: GraphGateway
    jobs: JobStore
    tables: TableServiceClient
    sinks: dict[str, Alerts] = field(default_factory=dict)
    grants: GrantSource | None = None
    now: Callable[[], datetime] = field(default=utcnow)
    methods: MethodsReportService | None = None  # the report's Methods section

    async def _data(self, *, per_user: bool = True) -> TenantPosture:
        return await gather(self.graph, self.settings, self.grants, per_user=per_user)

    # -- checks -------------------------------------------------------------------------------------------
    @background_flow
    async def check(self, *, record: bool = True) -> Report:
        data = await self._data()
        report = Report(tenant=data.tenant, checked_at=self.now(), checks=run_checks(data, self.settings))
        if self.methods is not None:
            try:
                report.methods = (await self.methods.build(record=False)).to_dict()
            except MfaopsError as exc:  # the checks stand on their own; the section says why it is missing
                report.methods = {"error": str(exc)}
        for failing in (c for c in report.checks if c.status == "fail"):
            POSTURE_FAILING.add(1, {"check": failing.id})
        if record:
            await self._record(report)
        return report

    async def _record(self, report: Report) -> None:
        await self.tables.create_table_if_not_exists(self.settings.posture_table)
        client = self.tables.get_table_client(self.settings.posture_table)
        statuses = {c.id: c.status for c in report.checks}
        try:
            last = await client.get_entity("last", "run")
            before = json.loads(str(last.get("Statuses", "{}")))
        except ResourceNotFoundError:
            before = {}
        report.drift = [{"id": cid, "from": before[cid], "to": status} for cid, status in statuses.items()
                        if cid in before and worse(status, before[cid])]
        inverted = _MAX_MS - int(report.checked_at.timestamp() * 1000)
        report.run_id = f"{inverted:013d}"
        body = json.dumps(report.to_dict(), default=str)
        await client.upsert_entity({"PartitionKey": "run", "RowKey": report.run_id, "Report": body[:30_000],
                                    "Statuses": json.dumps(statuses), "Failed": report.failed})
        await client.upsert_entity({"PartitionKey": "last", "RowKey": "run", "Statuses": json.dumps(statuses),
                                    "RunId": report.run_id}, mode=UpdateMode.REPLACE)
        for drift in report.drift:
            check = next(c for c in report.checks if c.id == drift["id"])
            for name, sink in self.sinks.items():
                try:
                    await sink.raise_alert("posture_drift", f"{check.id} went from {drift['from']} to "
                                           f"{drift['to']}: {check.summary}", check=check.id, severity="high"
                                           if drift["to"] == "fail" else "medium", run_id=report.run_id,
                                           finding_id=f"posture:{report.run_id}:{check.id}")
                except Exception as exc:  # a sink's failure is logged; the run is recorded either way
                    log.error("posture drift alert not sent to %s: %s", name, type(exc).__name__)

    # -- impact --------------------------------------------------------------------------------------------
    @background_flow
    async def impact(self, *, policy_id: str = "", days: int = 14) -> dict[str, Any]:
        policies = await self.graph.ca_policies()
        if policy_id:
            policy = next((p for p in policies if p.get("id") == policy_id), None)
            if policy is None:
                raise PolicyRefusedError(f"no Conditional Access policy {policy_id}")
        else:
            policy = next((p for p in policies if targets_registration(p)
                           and p.get("state") == registration_policy.REPORT_ONLY), None)
            if policy is None:
                raise PolicyRefusedError("no report-only registration policy: pass --policy ID")
        since = self.now() - timedelta(days=days)
        rows = await self.graph.sign_ins_since(since)
        break_glass = set(self.settings.break_glass_upn_set)
        if self.settings.break_glass_group.strip():
            break_glass |= await self.graph.group_member_ids(self.settings.break_glass_group.strip())
        hits = []
        for row in rows:
            for applied in row.get("appliedConditionalAccessPolicies") or []:
                if applied.get("id") == policy["id"] and applied.get("result") in BLOCKING:
                    location = row.get("location") or {}
                    upn = str(row.get("userPrincipalName") or row.get("userId") or "")
                    hits.append({"user": upn, "result": applied["result"], "app": row.get("appDisplayName", ""),
                                 "location": ", ".join(filter(None, [location.get("city"),
                                                                     location.get("countryOrRegion")])),
                                 "ip": row.get("ipAddress", ""), "time": row.get("createdDateTime", ""),
                                 "break_glass": upn.lower() in break_glass or str(row.get("userId", "")).lower()
                                 in break_glass,
                                 "service_account": _service_account(row)})
        by_user = Counter(h["user"] for h in hits)
        return {"policy": {"id": policy["id"], "name": policy.get("displayName", ""), "state": policy.get("state")},
                "days": days, "sign_ins": len(rows), "would_block": sum(1 for h in hits if h["result"] ==
                                                                          "reportOnlyFailure"),
                "would_interrupt": sum(1 for h in hits if h["result"] == "reportOnlyInterrupted"),
                "by_user": dict(by_user), "break_glass": sorted({h["user"] for h in hits if h["break_glass"]}),
                "service_accounts": sorted({h["user"] for h in hits if h["service_account"]}), "events": hits}

    # -- fix ---------------------------------------------------------------------------------------------
    async def apply_registration_policy(self, *, enable: bool, by: str, trusted_locations: list[str],
                                        strength: str = "", dry_run: bool = False) -> dict[str, Any]:
        data = await self._data(per_user=False)
        if data.missing_break_glass:
            raise PolicyRefusedError(f"break-glass account(s) {', '.join(data.missing_break_glass)} not found: the "
                                     "policy could not exclude them")
        if enable and not data.break_glass:
            raise PolicyRefusedError("no break-glass account is configured (BREAK_GLASS_UPNS / BREAK_GLASS_GROUP): "
                                     "refusing to enforce a policy that could lock every admin out")
        groups = [g for g in [self._break_glass_group_id(data)] if g]
        body = registration_policy.template(
            self.settings.registration_policy_name,
            state=registration_policy.ENABLED if enable else registration_policy.REPORT_ONLY,
            exclude_users=sorted(a.id for a in data.break_glass), exclude_groups=groups,
            trusted_locations=trusted_locations, strength=strength)
        current = registration_policy.existing(data, self.settings.registration_policy_name)
        outcome: dict[str, Any] = {"action": "update" if current else "create", "policy": body,
                                   "policy_id": current.get("id", "") if current else "", "dry_run": dry_run,
                                   "excluded_break_glass": [a.upn for a in data.break_glass]}
        if dry_run:
            return outcome
        job = Job.new(JobKind.POSTURE_FIX, Target(), Source(kind="operator", operator=by), requested_by=by,
                      now=self.now())
        job.transition(JobState.RUNNING, f"{outcome['action']} the registration policy", now=self.now())
        stored, _ = await self.jobs.create(job)
        try:
            if current:
                await self.graph.update_ca_policy(str(current["id"]), body)
                policy_id = str(current["id"])
            else:
                policy_id = str((await self.graph.create_ca_policy(body)).get("id", ""))
        except MfaopsError as exc:
            why = str(exc)
            await self.jobs.update(stored.job_id, lambda j: j.fail("graph_refused", why, now=self.now()))
            raise

        def done(j: Job) -> None:
            j.record("registration_policy", outcome["action"], f"{body['displayName']} ({body['state']})",
                     data={"policy_id": policy_id, "state": body["state"]}, now=self.now())
            j.transition(JobState.SUCCEEDED, "registration policy in place", now=self.now())

        await self.jobs.update(stored.job_id, done)
        outcome.update(policy_id=policy_id, job_id=stored.job_id)
        return outcome

    def _break_glass_group_id(self, data: TenantPosture) -> str:
        """The break-glass group by object id (each account is excluded by id as well, whatever the group)."""
        group = self.settings.break_glass_group.strip()
        if not group:
            return ""
        for account in data.break_glass:
            for gid in account.group_ids:
                if gid.lower() == group.lower():
                    return gid
        return ""


def _service_account(row: dict[str, Any]) -> bool:
    upn = str(row.get("userPrincipalName", "")).lower()
    return upn.startswith(("svc", "service", "sa-", "app-")) or row.get("isInteractive") is False
