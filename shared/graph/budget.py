"""mfaops's Graph budget: its own model of Graph's documented buckets (learn.microsoft.com/graph/throttling-limits),
shared by every flow of a worker, so requests wait for their turn instead of drawing 429s.

Each request is costed the way the page costs it (identity and access resource units and writes; the identity
and access reports bucket, which lists authenticationMethod among its resources, so a user's methods count
there; Identity Protection and Conditional Access at one request a second). A `$batch` is costed by its inner
requests, since Graph evaluates each on its own. A 429 with Retry-After always wins over the model: the bucket
it came from is emptied for that long. The sandbox's simulator keeps its own, independent model of the same page
(sandbox/graph/throttle.py), so a wrong table here shows up as 429s in the tests instead of agreeing with itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx

from shared.graph.lanes import BACKGROUND, INTERACTIVE, LANES, current_lane
from shared.graph.shared_budget import SharedBuckets

BUCKETS = ("identity", "writes", "reports", "protection")
# Which bucket: the reports bucket's page lists audit logs, sign-ins, the registration reports and
# authenticationMethod among its resources. signInPreferences (beta) and the per-user MFA requirements are not
# authentication methods and the page lists neither; they live under /users/{id}/authentication, and calls the
# page does not list under /reports, /auditLogs or /users/{id}/authentication are kept in the reports bucket (the
# conservative reading: the smaller bucket). Everything else is costed in the identity bucket. The cast on a
# membership list (transitiveMemberOf/microsoft.graph.directoryRole) costs what the list costs.
_REPORTS = re.compile(r"^/(reports|auditLogs)(/|$)|^/users/[^/]+/authentication(/|$)")
_COSTLY = ((re.compile(r"^/users$"), 2),
           (re.compile(r"^/users/[^/]+/(transitiveMemberOf|memberOf)(/microsoft\.graph\.\w+)?$"), 2),
           (re.compile(r"^/groups/[^/]+/members$"), 3), (re.compile(r"^/groups/[^/]+/transitiveMembers$"), 5))
_VERSION = re.compile(r"^.*?/(v1\.0|beta)(?=/|$)")  # whatever root Graph is served under (the sandbox: /graph)


def request_costs(method: str, url: str) -> dict[str, float]:
    """The tokens one Graph request takes from each bucket (``url`` absolute or relative to the version)."""
    parts = urlsplit(url)
    path = _VERSION.sub("", parts.path) or "/"
    if path.startswith(("/identityProtection", "/identity/conditionalAccess")):
        return {"protection": 1.0}
    if _REPORTS.search(path):
        return {"reports": 1.0}
    if method.upper() != "GET":
        return {"identity": 1.0, "writes": 1.0}
    query = dict(parse_qsl(parts.query))
    units = next((cost for pattern, cost in _COSTLY if pattern.match(path)), 1)
    units -= 1 if "$select" in query else 0
    top = query.get("$top", "")
    units -= 1 if top.isdigit() and int(top) < 20 else 0
    return {"identity": float(max(1, units))}


def total_costs(requests: list[tuple[str, str]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for method, url in requests:
        for name, cost in request_costs(method, url).items():
            out[name] = out.get(name, 0.0) + cost
    return out


@dataclass
class _Bucket:
    capacity: float
    window_s: float
    tokens: float = field(init=False)
    stamp: float = field(init=False)
    blocked_until: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / self.window_s)
        self.stamp = now

    def wait_for(self, cost: float, now: float) -> float:
        if now < self.blocked_until:
            return self.blocked_until - now
        return 0.0 if self.tokens >= cost else (cost - self.tokens) * self.window_s / self.capacity


class BudgetRefusedError(Exception):
    """The shared bucket has no turn for this request within GRAPH_BUDGET_MAX_WAIT_S; nothing was reserved."""

    def __init__(self, bucket: str, described: str) -> None:
        super().__init__(f"{bucket} bucket ({described}) has no turn within the wait allowed")


class GraphBudget:
    """Two lanes share every bucket (shared/graph/lanes.py). An interactive request is served before any
    background one that waits, and once it is first in line it keeps its turn (it sleeps for its tokens holding
    the line). A background request takes tokens only while no interactive request waits: its turn is re-decided
    whenever one arrives, and in the buckets every instance shares it reserves only tokens that are there now, never
    a debt an interactive request would have to wait behind (a background turn is pre-emptible). Background work also
    draws on its own bucket of ``background_share`` of each bucket's capacity over the same window, so it can never
    take more than that share, even from an idle tenant."""

    def __init__(self, limits: dict[str, tuple[float, float]], *, time_scale: float = 1.0,
                 enabled: bool = True, shared: SharedBuckets | None = None,
                 max_wait_s: float | None = None, background_share: float = 1.0) -> None:
        self.enabled = enabled
        # A request that waited this long for its turn is answered 429 by the budget itself: under one budget shared
        # by many instances a turn can be minutes away, and a worker must not sleep past its message lock.
        self.max_wait_s = max_wait_s
        self.refused = 0
        # The tokens every instance draws on, and the Retry-Afters any of them received; the local buckets then
        # only order this worker's own requests.
        self.shared = shared
        self._pending: set[asyncio.Task[None]] = set()
        self.time_scale = time_scale
        self.background_share = min(1.0, max(0.0, background_share))
        self._buckets = {name: _Bucket(capacity, window * time_scale) for name, (capacity, window) in limits.items()}
        self._share = {name: _Bucket(capacity * self.background_share, window * time_scale)
                       for name, (capacity, window) in limits.items()}
        self._line = asyncio.Condition()
        self._waiting: set[tuple[int, int]] = set()  # (0 interactive | 1 background, arrival): the least is served
        self._arrivals = itertools.count()
        self.waited_s = 0.0
        self.penalties = 0
        self.http_requests = 0  # requests that crossed the wire (a $batch counts once), enabled or not
        self.inner_requests = 0  # what they carried (a $batch's inner requests one by one)
        self.lane_requests = dict.fromkeys(LANES, 0)  # inner requests by lane, enabled or not
        self.lane_waited_s = dict.fromkeys(LANES, 0.0)
        self._lane_taken = dict.fromkeys(LANES, 0)

    def set_capacity(self, bucket: str, capacity: float) -> None:
        """A bucket's size learned at run time (the identity bucket from the tenant's size)."""
        found = self._buckets.get(bucket)
        if found is not None and capacity > 0:
            found.capacity = capacity
            found.tokens = min(found.tokens, capacity)
            share = self._share[bucket]
            share.capacity = capacity * self.background_share
            share.tokens = min(share.tokens, share.capacity)

    def capacity(self, bucket: str) -> float:
        found = self._buckets.get(bucket)
        return found.capacity if found else float("inf")

    def describe(self, bucket: str) -> str:
        b = self._buckets[bucket]
        return f"{b.capacity:g} per {b.window_s / self.time_scale:g} s"

    def fits(self, requests: list[tuple[str, str]]) -> int:
        """How many of ``requests``, from the start, fit in one burst of every bucket (at least one)."""
        if not self.enabled:
            return len(requests)
        share = self.background_share if current_lane() == BACKGROUND else 1.0
        for n in range(len(requests), 0, -1):
            if all(cost <= self.capacity(name) * share for name, cost in total_costs(requests[:n]).items()):
                return n
        return 1

    def take_lane_counts(self) -> dict[str, int]:
        """The inner requests by lane since the last call (what a caller records, once)."""
        counts = {name: n - self._lane_taken[name] for name, n in self.lane_requests.items()}
        self._lane_taken = dict(self.lane_requests)
        return counts

    def count(self, requests: list[tuple[str, str]], lane_name: str | None = None) -> None:
        self.lane_requests[lane_name or current_lane()] += len(requests)

    async def acquire(self, requests: list[tuple[str, str]], lane_name: str | None = None) -> float:
        """Wait until every bucket holds what ``requests`` cost, and take it; the seconds waited."""
        if not self.enabled or not requests:
            return 0.0
        background = (lane_name or current_lane()) == BACKGROUND
        share = self.background_share if background else 1.0
        wanted = {n: min(c, self.capacity(n) * share) for n, c in total_costs(requests).items()
                  if n in self._buckets}
        started = time.monotonic()
        ticket = (1 if background else 0, next(self._arrivals))
        async with self._line:
            self._waiting.add(ticket)
            self._line.notify_all()  # a background request first in line gives its turn up
            try:
                waited = await (self._background_turn(ticket, wanted, started) if background
                                else self._interactive_turn(ticket, wanted, started))
            finally:
                self._waiting.discard(ticket)
                self._line.notify_all()
        self.waited_s += waited
        self.lane_waited_s[BACKGROUND if background else INTERACTIVE] += waited
        return waited

    async def _first_in_line(self, ticket: tuple[int, int]) -> float:
        if min(self._waiting) == ticket:
            return 0.0
        started = time.monotonic()
        while min(self._waiting) != ticket:
            await self._line.wait()
        return time.monotonic() - started

    async def _interactive_turn(self, ticket: tuple[int, int], wanted: dict[str, float], started: float) -> float:
        waited = await self._first_in_line(ticket)
        # The shared buckets first, since they cost a round trip; the local ones then count this request at
        # the moment it leaves, so a slow table write never makes it reach Graph early by Graph's clock.
        waited += await self._take_shared(wanted, started)
        while True:
            wait = self._local_wait(wanted, background=False)
            if wait <= 0:
                return waited
            await asyncio.sleep(wait)  # holding the line: an interactive turn is not pre-empted
            waited += wait

    async def _background_turn(self, ticket: tuple[int, int], wanted: dict[str, float], started: float) -> float:
        taken: set[str] = set()  # shared rows already reserved by this request, across the turns it gave up
        waited = 0.0
        while True:
            mark = time.monotonic()
            # An interactive request waits: no token for background work; among background requests, the first
            # come is served first.
            if min(self._waiting) != ticket:
                await self._line.wait()
                waited += time.monotonic() - mark
                continue
            wait = await self._take_shared(wanted, started, preemptible=True, taken=taken)
            if wait <= 0:
                wait = self._local_wait(wanted, background=True)
                if wait <= 0:
                    return waited
            # Wait for the tokens, but wake as soon as the line changes: an interactive arrival takes the turn.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._line.wait(), wait)
            waited += time.monotonic() - mark

    def _local_wait(self, wanted: dict[str, float], *, background: bool) -> float:
        """0 and the tokens taken when every bucket this request needs holds them; else how long until it does."""
        now = time.monotonic()
        buckets = [(self._buckets[n], c) for n, c in wanted.items()]
        if background:
            buckets += [(self._share[n], c) for n, c in wanted.items()]
        for bucket, _ in buckets:
            bucket.refill(now)
        wait = max((b.wait_for(c, now) for b, c in buckets), default=0.0)
        if wait <= 0:
            for bucket, cost in buckets:
                bucket.tokens -= cost
        return wait

    async def _take_shared(self, wanted: dict[str, float], started: float, *, preemptible: bool = False,
                           taken: set[str] | None = None) -> float:
        """The same tokens from the buckets every instance shares (still first in this worker's line, so its own
        requests keep their order); when the store is unreachable the local buckets alone bound this worker.
        Interactive: waits for its reservation and returns the seconds waited. Background (``preemptible``): the
        rows are the background share and the bucket; a row that has not the tokens now is not reserved, and the
        seconds until it may have them are returned (0 when every row was taken)."""
        waited = 0.0
        if self.shared is None:
            return waited
        rows: list[tuple[str, float, float, float]] = []
        for name, cost in wanted.items():
            bucket = self._buckets[name]
            if preemptible:
                rows.append((f"{name}-background", cost, bucket.capacity * self.background_share, bucket.window_s))
            rows.append((name, cost, bucket.capacity, bucket.window_s))
        for row, cost, capacity, window_s in rows:
            if taken is not None and row in taken:
                continue
            left = math.inf if self.max_wait_s is None else self.max_wait_s - (time.monotonic() - started)
            wait = await self.shared.reserve(row, cost, capacity, window_s, max_wait_s=max(0.0, left),
                                             preemptible=preemptible)
            if wait == math.inf:
                raise BudgetRefusedError(row.split("-")[0], self.describe(row.split("-")[0]))
            if preemptible:
                if wait:
                    return wait
                if taken is not None:
                    taken.add(row)
                continue
            if wait:
                await asyncio.sleep(wait)
                waited += wait
        return waited

    def drain(self) -> None:
        """Every bucket empty now (benchmarks measure the steady state, not a first burst)."""
        now = time.monotonic()
        for bucket in (*self._buckets.values(), *self._share.values()):
            bucket.tokens, bucket.stamp = 0.0, now

    def penalize(self, method: str, url: str, retry_after_s: float) -> None:
        """Graph said wait: the buckets this request draws on give nothing for that long."""
        self.penalties += 1
        until = time.monotonic() + retry_after_s
        for name in request_costs(method, url):
            bucket = self._buckets.get(name)
            if bucket is not None:
                bucket.blocked_until = max(bucket.blocked_until, until)
                bucket.tokens = 0.0
                if self.shared is not None:  # every other instance waits too
                    task = asyncio.get_running_loop().create_task(
                        self.shared.block(name, time.time() + retry_after_s))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)


class BudgetTransport(httpx.AsyncBaseTransport):
    """Every request the Graph client sends waits for its budget first (inner requests of a $batch counted one
    by one), and a 429's Retry-After closes the buckets it came from. At the transport, so SDK calls, raw
    requests and the retry handler's resends are all counted."""

    def __init__(self, inner: httpx.AsyncBaseTransport, budget: GraphBudget) -> None:
        self._inner = inner
        self._budget = budget

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        requests = [(request.method, str(request.url))]
        if request.url.path.endswith("/$batch"):
            try:
                body = json.loads(await request.aread())
                requests = [(str(r.get("method", "GET")), str(r.get("url", ""))) for r in body.get("requests", [])]
            except (ValueError, AttributeError):
                pass
        self._budget.http_requests += 1
        self._budget.inner_requests += len(requests)
        self._budget.count(requests)
        limit = self._budget.max_wait_s
        try:
            if limit:
                await asyncio.wait_for(self._budget.acquire(requests), limit)
            else:
                await self._budget.acquire(requests)
        except (TimeoutError, BudgetRefusedError):
            return self._refuse(request, limit or 0.0)
        response = await self._inner.handle_async_request(request)
        if response.status_code == 429:
            header = response.headers.get("retry-after", "")
            with contextlib.suppress(ValueError):
                self._budget.penalize(request.method, str(request.url), float(header))
        return response

    def _refuse(self, request: httpx.Request, waited_s: float) -> httpx.Response:
        """Answered as Graph answers throttling, so every layer above (the retry handler's cap, the job's
        rescheduling with backoff) treats it as it treats Graph's own 429; nothing was sent."""
        self._budget.refused += 1
        retry_after = max(1, math.ceil(waited_s))
        body = {"error": {"code": "TooManyRequests", "message": f"mfaops's Graph budget: no turn in the shared "
                          f"buckets after {waited_s:g} s (GRAPH_BUDGET_MAX_WAIT_S); nothing was sent to Graph"}}
        return httpx.Response(429, headers={"Retry-After": str(retry_after)}, json=body, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()
