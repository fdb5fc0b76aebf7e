"""The inventory in Table Storage (``INVENTORY_TABLE``): one row per user (partition ``user``), the pass cursor and
the day's request counts (partition ``state``). Phone numbers and e-mail addresses are masked before they are
stored; a method's JSON is never kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

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
    started: datetime | None = None
    done: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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
                      started=_aware(e["Started"]) if e.get("Started") else None, done=int(e.get("Done", 0)))

    async def save_cursor(self, cursor: Cursor) -> None:
        table = await self._client()
        entity: dict[str, Any] = {"PartitionKey": "state", "RowKey": "cursor", "Pass": cursor.pass_number,
                                  "After": cursor.after, "Done": cursor.done}
        if cursor.started is not None:
            entity["Started"] = cursor.started
        await table.upsert_entity(entity)

    async def add_requests(self, day: str, lane: str, count: int) -> None:
        table = await self._client()
        row = f"requests-{day}-{lane}"
        try:
            e = await table.get_entity("state", row)
            total = int(e.get("Count", 0)) + count
        except ResourceNotFoundError:
            total = count
        await table.upsert_entity({"PartitionKey": "state", "RowKey": row, "Count": total})

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
