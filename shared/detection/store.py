"""The monitor's state in Table Storage: the audit watermark, events already processed, findings, the alerts
sent for them, phone hashes (the shared-phone rule across runs) and each user's last registration."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.detection.events import iso, parse_time
from shared.detection.findings import Finding
from shared.owntable import OwnTable
from shared.tablekeys import table_key


@dataclass(slots=True)
class StoredFinding:
    finding: Finding
    recorded_at: datetime
    alert: str  # pending | sent | failed | suppressed
    alert_detail: str = ""
    containment_job: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.finding.to_dict(), "recorded_at": iso(self.recorded_at), "alert": self.alert,
                "alert_detail": self.alert_detail, "containment_job": self.containment_job}


class MonitorStore(OwnTable):

    # -- watermark -------------------------------------------------------------------------------------
    async def watermark(self) -> datetime | None:
        client = await self._client()
        try:
            entity = await client.get_entity("watermark", "audits")
        except ResourceNotFoundError:
            return None
        return parse_time(str(entity.get("At", "")))

    async def move_watermark(self, at: datetime) -> None:
        client = await self._client()
        await client.upsert_entity({"PartitionKey": "watermark", "RowKey": "audits", "At": iso(at)},
                                   mode=UpdateMode.REPLACE)

    # -- events ----------------------------------------------------------------------------------------
    async def seen(self, event_id: str) -> bool:
        client = await self._client()
        try:
            await client.get_entity("event", table_key(event_id))
        except ResourceNotFoundError:
            return False
        return True

    async def mark_seen(self, event_id: str, at: datetime) -> None:
        client = await self._client()
        await client.upsert_entity({"PartitionKey": "event", "RowKey": table_key(event_id), "At": iso(at)})

    # -- findings --------------------------------------------------------------------------------------
    async def add_finding(self, finding: Finding, *, alert: str) -> bool:
        """Record a finding once; False when it was recorded before (a re-read event, a second scan)."""
        client = await self._client()
        try:
            await client.create_entity({"PartitionKey": "finding", "RowKey": finding.finding_id,
                                        "Finding": json.dumps(finding.to_dict()), "At": iso(finding.time),
                                        "RecordedAt": iso(datetime.now(UTC)), "Alert": alert,
                                        "Severity": finding.severity, "Rule": finding.rule})
        except ResourceExistsError:
            return False
        return True

    async def set_alert(self, finding_id: str, status: str, detail: str = "") -> None:
        client = await self._client()
        await client.update_entity({"PartitionKey": "finding", "RowKey": finding_id, "Alert": status,
                                    "AlertDetail": detail[:2000]}, mode=UpdateMode.MERGE)

    async def set_containment(self, finding_id: str, job_id: str) -> None:
        client = await self._client()
        await client.update_entity({"PartitionKey": "finding", "RowKey": finding_id, "ContainmentJob": job_id},
                                   mode=UpdateMode.MERGE)

    async def claim_containment(self, finding_id: str, job_id: str) -> str:
        """Make ``job_id`` the one containment of the finding, under the row's ETag: of any number of callers at
        once exactly one wins. Returns the job that holds the claim (``job_id`` when this caller won)."""
        client = await self._client()
        for _ in range(20):
            entity = await client.get_entity("finding", table_key(finding_id))
            holder = str(entity.get("ContainmentJob") or "")
            if holder:
                return holder
            try:
                await client.update_entity({"PartitionKey": "finding", "RowKey": table_key(finding_id),
                                            "ContainmentJob": job_id}, mode=UpdateMode.MERGE,
                                           etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue  # someone else wrote the row first: read who holds it now
            return job_id
        raise ResourceModifiedError(f"finding {finding_id}: the containment claim kept conflicting")

    async def release_containment(self, finding_id: str, job_id: str) -> None:
        """Give a claim back (the containment was refused before anything was done)."""
        client = await self._client()
        entity = await client.get_entity("finding", table_key(finding_id))
        if str(entity.get("ContainmentJob") or "") != job_id:
            return
        with contextlib.suppress(ResourceModifiedError):
            await client.update_entity({"PartitionKey": "finding", "RowKey": table_key(finding_id),
                                        "ContainmentJob": ""}, mode=UpdateMode.MERGE,
                                       etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified)

    async def get_finding(self, finding_id: str) -> StoredFinding | None:
        client = await self._client()
        try:
            entity = await client.get_entity("finding", table_key(finding_id))
        except ResourceNotFoundError:
            return None
        return _stored(entity)

    async def findings(self, *, since: datetime | None = None, limit: int = 1000) -> list[StoredFinding]:
        client = await self._client()
        query, params = "PartitionKey eq 'finding'", {}
        if since is not None:
            query += " and At ge @since"
            params["since"] = iso(since)
        found = []
        async for entity in client.query_entities(query, parameters=params):
            found.append(_stored(entity))
        found.sort(key=lambda s: s.finding.time, reverse=True)
        return found[:limit]

    # -- cross-run state for the rules -----------------------------------------------------------------
    async def phone_users(self, digest: str, user: str) -> int:
        """Record that ``user`` holds the phone number hashed to ``digest``; how many users hold it."""
        client = await self._client()
        await client.upsert_entity({"PartitionKey": f"phone-{digest}", "RowKey": table_key(user)})
        count = 0
        async for _ in client.query_entities("PartitionKey eq @pk", parameters={"pk": f"phone-{digest}"},
                                             select=["RowKey"]):
            count += 1
        return count

    async def note_registration(self, user: str, at: datetime) -> None:
        client = await self._client()
        with contextlib.suppress(ResourceNotFoundError):
            entity = await client.get_entity("lastreg", table_key(user))
            last = parse_time(str(entity.get("At", "")))
            if last is not None and last >= at:
                return
        await client.upsert_entity({"PartitionKey": "lastreg", "RowKey": table_key(user), "At": iso(at)})

    async def last_registration(self, user: str) -> datetime | None:
        client = await self._client()
        try:
            entity = await client.get_entity("lastreg", table_key(user))
        except ResourceNotFoundError:
            return None
        return parse_time(str(entity.get("At", "")))


def _stored(entity: dict[str, Any]) -> StoredFinding:
    data = json.loads(str(entity["Finding"]))
    finding = Finding(event_id=data["event_id"], rule=data["rule"], severity=data["severity"], target=data["target"],
                      summary=data["summary"], time=parse_time(data["time"]) or datetime.now(UTC),
                      target_id=data.get("target_id", ""), actor=data.get("actor", ""), ip=data.get("ip", ""),
                      methods=tuple(data.get("methods", [])), expected=bool(data.get("expected")),
                      expected_by=data.get("expected_by", ""))
    return StoredFinding(finding=finding, recorded_at=parse_time(str(entity.get("RecordedAt", ""))) or finding.time,
                         alert=str(entity.get("Alert", "pending")), alert_detail=str(entity.get("AlertDetail", "")),
                         containment_job=str(entity.get("ContainmentJob", "")))
