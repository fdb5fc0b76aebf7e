"""The inventory in Table Storage (``INVENTORY_TABLE``): one row per user (partition ``user``), the pass cursor and
the day's request counts (partition ``state``). Phone numbers and e-mail addresses are masked before they are
stored; a method's JSON is never kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.owntable import OwnTable
from shared.tablekeys import table_key


@dataclass(frozen=True, slots=True)
class StoredMethod:
    type: str
    id: str
    display: str  # masked: a phone's last two digits, an address's first letter and domain
    created: str | None
    last_used: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "display": self.display, "created": self.created,
                "last_used": self.last_used}

    def as_graph(self) -> dict[str, Any]:
        """In the shape beta lists it (what cleanup's rules read): the phone's type is the display's first word."""
        out: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{self.type}AuthenticationMethod", "id": self.id,
                               "createdDateTime": self.created, "lastUsedDateTime": self.last_used}
        if self.type == "phone":
            out["phoneType"] = self.display.split(" ", 1)[0]
        return out


@dataclass(slots=True)
class UserRow:
    user_id: str
    upn: str
    methods: list[StoredMethod]
    default: str | None
    read_at: datetime
    registered: list[str]  # the registration report's methodsRegistered when read (what a change is judged by)
    next_read: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "upn": self.upn, "default": self.default, "read_at": self.read_at.isoformat(),
                "next_read": self.next_read.isoformat() if self.next_read else None,
                "methods": [m.to_dict() for m in self.methods]}


@dataclass(slots=True)
class Cursor:
    pass_number: int = 1
    after: str = ""  # the last user id a pass finished (passes go in user id order)
    started: datetime | None = None  # None: no pass in progress
    done: int = 0
    total: int = 0  # users due in this pass
    last_started: datetime | None = None  # when the latest pass began (the next begins INVENTORY_PASS_MINUTES on)
    reading: bool = False  # the pass's read of the registration report is in progress
    report_link: str = ""  # the report's next page, where that read resumes
    report_pages: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Due:
    """A user a pass reads, with what the registration report said of them when the pass began."""

    user_id: str
    upn: str
    registered: list[str]
    default: str | None


# ~150 characters a user (an id, a UPN, the method names): 150 users stay well inside a property's 32K.
DUE_PER_ROW = 150


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class InventoryStore(OwnTable):

    async def put(self, row: UserRow) -> None:
        table = await self._client()
        await table.upsert_entity({
            "PartitionKey": "user", "RowKey": table_key(row.user_id), "UserId": row.user_id, "Upn": row.upn,
            "Methods": json.dumps([m.to_dict() for m in row.methods], separators=(",", ":")),
            "Default": row.default or "", "ReadAt": row.read_at, "Registered": json.dumps(row.registered),
            "NextRead": row.next_read or row.read_at})

    async def get(self, user_id: str) -> UserRow | None:
        table = await self._client()
        try:
            entity = await table.get_entity("user", table_key(user_id))
        except ResourceNotFoundError:
            return None
        return _row(entity)

    async def all(self) -> list[UserRow]:
        table = await self._client()
        return [_row(e) async for e in table.query_entities("PartitionKey eq 'user'")]

    async def delete(self, user_id: str) -> None:
        table = await self._client()
        await table.delete_entity("user", table_key(user_id))  # a row already gone is not an error here

    async def cursor(self) -> Cursor:
        table = await self._client()
        try:
            e = await table.get_entity("state", "cursor")
        except ResourceNotFoundError:
            return Cursor()
        return Cursor(pass_number=int(e.get("Pass", 1)), after=str(e.get("After", "")),
                      started=_aware(e["Started"]) if e.get("Started") else None, done=int(e.get("Done", 0)),
                      total=int(e.get("Total", 0)),
                      last_started=_aware(e["LastStarted"]) if e.get("LastStarted") else None,
                      reading=bool(e.get("Reading", False)), report_link=str(e.get("ReportLink", "")),
                      report_pages=int(e.get("ReportPages", 0)))

    async def save_cursor(self, cursor: Cursor) -> None:
        table = await self._client()
        entity: dict[str, Any] = {"PartitionKey": "state", "RowKey": "cursor", "Pass": cursor.pass_number,
                                  "After": cursor.after, "Done": cursor.done, "Total": cursor.total,
                                  "Reading": cursor.reading, "ReportLink": cursor.report_link,
                                  "ReportPages": cursor.report_pages}
        if cursor.started is not None:
            entity["Started"] = cursor.started
        if cursor.last_started is not None:
            entity["LastStarted"] = cursor.last_started
        await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def save_due(self, due: list[Due]) -> None:
        """The pass's users, in user id order, DUE_PER_ROW to a row (a property holds 32K characters), so runs
        after the one that read the report go on without reading it again."""
        table = await self._client()
        await self.clear_due()
        for n, start in enumerate(range(0, len(due), DUE_PER_ROW)):
            chunk = [[d.user_id, d.upn, d.registered, d.default] for d in due[start:start + DUE_PER_ROW]]
            await table.upsert_entity({"PartitionKey": "pass", "RowKey": f"{n:06d}",
                                       "Due": json.dumps(chunk, separators=(",", ":"))})

    async def save_report_page(self, number: int, rows: list[Due]) -> None:
        """One page of the registration report as the pass read it (a page is 100 users: one row holds it)."""
        table = await self._client()
        chunk = [[d.user_id, d.upn, d.registered, d.default] for d in rows]
        await table.upsert_entity({"PartitionKey": "report-pages", "RowKey": f"{number:06d}",
                                   "Due": json.dumps(chunk, separators=(",", ":"))}, mode=UpdateMode.REPLACE)

    async def report_pages(self) -> list[Due]:
        return await self._chunks("report-pages")

    async def clear_report_pages(self) -> None:
        await self._clear("report-pages")

    async def _chunks(self, partition: str) -> list[Due]:
        table = await self._client()
        out: list[Due] = []
        async for e in table.query_entities("PartitionKey eq @p", parameters={"p": partition}):
            out += [Due(str(u), str(upn), list(reg), str(d) if d else None)
                    for u, upn, reg, d in json.loads(e.get("Due") or "[]")]
        return out

    async def _clear(self, partition: str) -> None:
        table = await self._client()
        async for e in table.query_entities("PartitionKey eq @p", parameters={"p": partition},
                                            select=["PartitionKey", "RowKey"]):
            await table.delete_entity(partition, str(e["RowKey"]))

    async def due(self) -> list[Due]:
        return sorted(await self._chunks("pass"), key=lambda d: d.user_id)

    async def clear_due(self) -> None:
        await self._clear("pass")

    async def add_requests(self, day: str, lane: str, count: int) -> None:
        table = await self._client()
        row = f"requests-{day}-{lane}"
        try:
            e = await table.get_entity("state", row)
            total = int(e.get("Count", 0)) + count
        except ResourceNotFoundError:
            total = count
        await table.upsert_entity({"PartitionKey": "state", "RowKey": row, "Count": total})

    async def report_baseline(self) -> tuple[str, dict[str, int]] | None:
        """The last recorded methods report's counts (what the next report's trend is measured against)."""
        table = await self._client()
        try:
            entity = await table.get_entity("report", "latest")
        except ResourceNotFoundError:
            return None
        return str(entity.get("At", "")), dict(json.loads(entity.get("Counts") or "{}"))

    async def save_report_baseline(self, at: str, counts: dict[str, int]) -> None:
        table = await self._client()
        await table.upsert_entity({"PartitionKey": "report", "RowKey": "latest", "At": at,
                                   "Counts": json.dumps(counts)}, mode=UpdateMode.REPLACE)

    async def requests(self, day: str) -> dict[str, int]:
        table = await self._client()
        out: dict[str, int] = {}
        async for e in table.query_entities("PartitionKey eq 'state' and RowKey ge @lo and RowKey lt @hi",
                                            parameters={"lo": f"requests-{day}-", "hi": f"requests-{day}-~"}):
            out[str(e["RowKey"]).rsplit("-", 1)[-1]] = int(e.get("Count", 0))
        return out


def _row(e: Any) -> UserRow:
    return UserRow(user_id=str(e["UserId"]), upn=str(e.get("Upn", "")),
                   methods=[StoredMethod(**m) for m in json.loads(e.get("Methods") or "[]")],
                   default=str(e.get("Default") or "") or None, read_at=_aware(e["ReadAt"]),
                   registered=list(json.loads(e.get("Registered") or "[]")),
                   next_read=_aware(e["NextRead"]) if e.get("NextRead") else None)
