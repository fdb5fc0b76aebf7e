"""A 429 seen by one instance slows every instance: Graph throttles per app per tenant, not per process, so the
Retry-After one worker receives is written to Table Storage (one row per bucket) and every worker's budget reads
it (at most once a second) before it sends into that bucket."""

from __future__ import annotations

import abc
import time

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

_PARTITION = "graph-throttle"


class ThrottleSignal(abc.ABC):
    @abc.abstractmethod
    async def publish(self, bucket: str, until_epoch: float) -> None:
        """Graph told some instance to wait on ``bucket`` until then."""

    @abc.abstractmethod
    async def blocked_until(self, bucket: str) -> float:
        """Until when (epoch seconds) ``bucket`` is closed for everyone; 0 when open."""


class TableThrottleSignal(ThrottleSignal):
    def __init__(self, service: TableServiceClient, table: str) -> None:
        self._service = service
        self._table = table
        self._cache: dict[str, tuple[float, float]] = {}  # bucket -> (read at, until)

    async def publish(self, bucket: str, until_epoch: float) -> None:
        try:
            await self._service.create_table_if_not_exists(self._table)
            await self._service.get_table_client(self._table).upsert_entity(
                {"PartitionKey": _PARTITION, "RowKey": bucket, "Until": until_epoch}, mode=UpdateMode.REPLACE)
        except AzureError:
            pass  # the signal is a courtesy to the other instances; this one already waits
        self._cache[bucket] = (time.time(), until_epoch)

    async def blocked_until(self, bucket: str) -> float:
        now = time.time()
        cached = self._cache.get(bucket)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        try:
            entity = await self._service.get_table_client(self._table).get_entity(_PARTITION, bucket)
            until = float(entity.get("Until", 0.0))
        except (ResourceNotFoundError, AzureError, ValueError):
            until = 0.0
        self._cache[bucket] = (now, until)
        return until
