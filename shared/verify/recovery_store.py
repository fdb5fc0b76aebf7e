"""What self-service recovery keeps beside the jobs (in the jobs table, partitions of their own): the attempts
counted per user and per client address for the rate limit, and the decoy pages shown for names that may not
recover (so every name gets the same answer)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.tablekeys import table_key


@dataclass(frozen=True, slots=True)
class Decoy:
    page_id: str
    browser: str  # digest of the cookie the page is bound to
    url: str
    expires: datetime


def _hash(value: str) -> str:
    # Names and addresses are kept hashed: the counters must not become a list of who tried.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class RecoveryStore:
    def __init__(self, table: TableClient, ensure: Callable[[], Awaitable[None]]) -> None:
        self._table = table
        self._ensure = ensure  # the jobs table exists (Bicep creates it in Azure; Azurite starts empty)

    async def count(self, what: str, key: str, now: datetime) -> int:
        """Add one attempt for ``what`` (user or client) ``key`` in this hour; the hour's count after it."""
        await self._ensure()
        row = f"{what}:{_hash(key)}:{now.astimezone(UTC):%Y%m%d%H}"
        for _ in range(10):
            try:
                current = await self._table.get_entity("recovery-rate", row)
            except ResourceNotFoundError:
                try:
                    await self._table.create_entity({"PartitionKey": "recovery-rate", "RowKey": row, "Count": 1})
                    return 1
                except ResourceExistsError:
                    continue
            count = int(current.get("Count", 0)) + 1
            try:
                await self._table.update_entity({"PartitionKey": "recovery-rate", "RowKey": row, "Count": count},
                                                mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                                match_condition=MatchConditions.IfNotModified)
                return count
            except ResourceModifiedError:
                continue
        return 10**6  # a counter that keeps conflicting is under attack: count it as over any limit

    async def put_decoy(self, decoy: Decoy) -> None:
        await self._ensure()
        await self._table.upsert_entity({"PartitionKey": "recovery-decoy", "RowKey": table_key(decoy.page_id),
                                         "Browser": decoy.browser, "Url": decoy.url, "Expires": decoy.expires})

    async def decoy(self, page_id: str) -> Decoy | None:
        await self._ensure()
        try:
            row: Any = await self._table.get_entity("recovery-decoy", table_key(page_id))
        except ResourceNotFoundError:
            return None
        expires = row["Expires"] if row["Expires"].tzinfo else row["Expires"].replace(tzinfo=UTC)
        return Decoy(page_id=page_id, browser=str(row["Browser"]), url=str(row["Url"]), expires=expires)
