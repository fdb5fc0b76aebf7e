"""The Graph budget shared by every instance. Graph throttles per app per tenant (learn.microsoft.com/graph/
throttling-limits), so N scaled-out workers that each keep the documented bucket locally send N times it. Each
bucket is one Table Storage row (tokens, and when they were counted) that every instance refills with the same
rule and takes from under an ETag condition, so two instances never spend the same tokens. A 429's Retry-After
that one instance received goes on the same row (`BlockedUntil`), so the read that reserves a turn also sees it.

A round trip per request would cost more than the request for the big buckets (3,500 identity units per 10 s), so
an instance takes a small lease (5 % of the capacity) and spends it locally; a lease lives only a short share of
the window, so tokens an instance took but did not use cannot pile up into a burst past the bucket: it is
conservative (unused leased tokens are lost) instead of exact. The 5-per-10-s reports bucket and Conditional
Access's 1 a second are reserved one request at a time, so they are exact, up to the jitter between this count
and Graph's own (the table write, the send): instances running the bucket at its full documented figure may see
the odd 429, which every instance then honours; a budget set a little under it (`GRAPH_BUDGET_REPORTS=4/10`)
sees none.
"""

from __future__ import annotations

import abc
import asyncio
import math
import random
import time
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

_PARTITION = "graph-budget"
_LEASE_SHARE = 0.05  # of the capacity per lease, and of the window a lease lives
_LEASE_MIN_CAPACITY = 100.0  # below it a lease is exactly one request's cost
_CONTENDED_WAIT_S = 0.02
_DOWN_S = 30.0


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) else default


class SharedBuckets(abc.ABC):
    @abc.abstractmethod
    async def reserve(self, bucket: str, cost: float, capacity: float, window_s: float, *,
                      max_wait_s: float = math.inf, preemptible: bool = False) -> float | None:
        """Reserve ``cost`` tokens of the bucket every instance shares and say in how many seconds they are there
        (0: now; the caller waits that long, then sends). ``math.inf`` when that would be past ``max_wait_s``:
        nothing is reserved. None when the shared store cannot be reached (the caller falls back to its own).
        ``preemptible`` (the background lane): only tokens that are there now are reserved; otherwise nothing is,
        and the answer is the seconds until they may be, so a later interactive reservation is never behind it."""

    @abc.abstractmethod
    async def block(self, bucket: str, until_epoch: float) -> None:
        """Graph told one instance to wait on ``bucket`` until then: nobody's turn comes before."""


@dataclass
class _Lease:
    tokens: float
    expires: float


class TableSharedBuckets(SharedBuckets):
    """Tokens may go below zero: a reservation made while the bucket is short is a debt the refill repays, and
    the instance that made it waits for exactly that, so instances queue in the order their writes landed,
    with one read and one conditional write a request instead of polling a bucket that is empty."""

    def __init__(self, service: TableServiceClient, table: str, *, attempts: int = 12) -> None:
        self._service = service
        self._table = table
        self._attempts = attempts
        self._leases: dict[str, _Lease] = {}
        self._created = False
        self._down_until = 0.0  # after a storage failure, the local budget decides alone for a while
        self.round_trips = 0  # storage calls made, for benchmarks and tests
        self.conflicts = 0  # updates another instance won first

    async def reserve(self, bucket: str, cost: float, capacity: float, window_s: float, *,
                      max_wait_s: float = math.inf, preemptible: bool = False) -> float | None:
        now = time.time()
        lease = self._leases.get(bucket)
        if lease is not None and lease.expires > now and lease.tokens >= cost:
            lease.tokens -= cost
            return 0.0
        if now < self._down_until:
            return None
        chunk = cost if capacity < _LEASE_MIN_CAPACITY else max(cost, capacity * _LEASE_SHARE)
        rate = capacity / window_s
        try:
            client = await self._client()
            for attempt in range(self._attempts):
                now = time.time()
                entity, etag = await self._read(client, bucket)
                if entity is None or "Stamp" not in entity:  # no row, or only a Retry-After on it so far
                    tokens = capacity
                else:
                    elapsed = max(0.0, now - _number(entity.get("Stamp"), now))
                    tokens = min(capacity, _number(entity.get("Tokens"), 0.0) + elapsed * rate)
                blocked_until = _number((entity or {}).get("BlockedUntil"), 0.0)
                wait = max(max(0.0, cost - tokens) / rate, blocked_until - now)
                if wait > max_wait_s:
                    return math.inf
                if preemptible and wait > 0:
                    return wait  # a background turn is no debt: it asks again when the tokens may be there
                claim = min(tokens, chunk) if tokens >= cost else cost  # a lease only from tokens that are there
                row = {"PartitionKey": _PARTITION, "RowKey": bucket, "Tokens": tokens - claim, "Stamp": now,
                       "BlockedUntil": blocked_until}
                try:
                    self.round_trips += 1
                    if etag is None:
                        await client.create_entity(row)
                    else:
                        await client.update_entity(row, mode=UpdateMode.REPLACE, etag=etag,
                                                   match_condition=MatchConditions.IfNotModified)
                except (ResourceExistsError, ResourceModifiedError):
                    self.conflicts += 1
                    # Instances that lost the same race would otherwise retry in step and lose again.
                    await asyncio.sleep(random.uniform(0, _CONTENDED_WAIT_S * (attempt + 1)))
                    continue
                if claim > cost and blocked_until <= now:
                    self._leases[bucket] = _Lease(claim - cost, now + window_s * _LEASE_SHARE)
                return wait
            return None  # contended past every attempt: this once, the local budget alone decides
        except AzureError:
            # Not once per request: each failed call would spend the storage client's own retries first.
            self._down_until = time.time() + _DOWN_S
            return None

    async def block(self, bucket: str, until_epoch: float) -> None:
        self._leases.pop(bucket, None)  # this instance's lease is no turn either
        try:
            client = await self._client()
            self.round_trips += 1
            # MERGE: the tokens stay as counted; a reservation racing this write loses its ETag and reads it.
            await client.upsert_entity({"PartitionKey": _PARTITION, "RowKey": bucket, "BlockedUntil": until_epoch},
                                       mode=UpdateMode.MERGE)
        except AzureError:
            pass  # a courtesy to the other instances: this one already waits

    async def _client(self) -> TableClient:
        if not self._created:
            self.round_trips += 1
            await self._service.create_table_if_not_exists(self._table)
            self._created = True
        return self._service.get_table_client(self._table)

    async def _read(self, client: TableClient, bucket: str) -> tuple[dict[str, object] | None, str | None]:
        self.round_trips += 1
        try:
            entity = await client.get_entity(_PARTITION, bucket)
        except ResourceNotFoundError:
            return None, None
        return dict(entity), str(entity.metadata["etag"])
