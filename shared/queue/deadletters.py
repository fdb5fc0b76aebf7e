"""Dead letters kept on the record: the dead-letter function stores each message it handles (body, reason,
deliveries), so an operator can list, inspect, replay or purge them later (`mfaops dlq`), in Azure and locally
alike. A Service Bus trigger completes what it reads, so the dead-letter sub-queue itself does not keep them."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.queue.port import QueueMessage
from shared.tablekeys import table_key

_PARTITION = "deadletter"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message: QueueMessage
    reason: str
    dead_lettered_at: datetime
    job_id: str = ""
    replays: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"message_id": self.message.message_id, "session_id": self.message.session_id,
                "delivery_count": self.message.delivery_count, "reason": self.reason, "job_id": self.job_id,
                "dead_lettered_at": self.dead_lettered_at.isoformat(), "replays": self.replays}


class DeadLetterStore:
    def __init__(self, service: TableServiceClient, table: str) -> None:
        self._service = service
        self._table = table

    def _client(self) -> TableClient:
        return self._service.get_table_client(self._table)

    async def record(self, message: QueueMessage, reason: str, *, job_id: str = "") -> None:
        await self._service.create_table_if_not_exists(self._table)
        await self._client().upsert_entity({
            "PartitionKey": _PARTITION, "RowKey": table_key(message.message_id), "MessageId": message.message_id,
            "Body": base64.b64encode(message.body).decode(), "SessionId": message.session_id,
            "CorrelationId": message.correlation_id, "DeliveryCount": message.delivery_count, "Reason": reason[:1000],
            "JobId": job_id, "At": datetime.now(UTC), "Replays": 0}, mode=UpdateMode.MERGE)

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        await self._service.create_table_if_not_exists(self._table)
        found = []
        async for entity in self._client().query_entities("PartitionKey eq @pk", parameters={"pk": _PARTITION}):
            found.append(_letter(entity))
            if len(found) >= limit:
                break
        return sorted(found, key=lambda d: d.dead_lettered_at, reverse=True)

    async def get(self, message_id: str) -> DeadLetter | None:
        try:
            entity = await self._client().get_entity(_PARTITION, table_key(message_id))
        except ResourceNotFoundError:
            return None
        return _letter(entity)

    async def remove(self, message_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self._client().delete_entity(_PARTITION, table_key(message_id))

    async def purge(self) -> int:
        letters = await self.list(limit=100_000)
        for letter in letters:
            await self.remove(letter.message.message_id)
        return len(letters)


def _letter(entity: dict[str, object]) -> DeadLetter:
    at = entity.get("At")
    when = at if isinstance(at, datetime) else datetime.now(UTC)
    return DeadLetter(
        message=QueueMessage(body=base64.b64decode(str(entity.get("Body", ""))), message_id=str(entity["MessageId"]),
                             session_id=str(entity.get("SessionId", "")),
                             correlation_id=str(entity.get("CorrelationId", "")),
                             delivery_count=int(str(entity.get("DeliveryCount", 0)))),
        reason=str(entity.get("Reason", "")), dead_lettered_at=when if when.tzinfo else when.replace(tzinfo=UTC),
        job_id=str(entity.get("JobId", "")), replays=int(str(entity.get("Replays", 0))))
