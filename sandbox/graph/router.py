"""What the simulator's handlers see and register on: a request (`Ctx`), its answer (`Reply`), Graph's error
(`GraphError`), the injected faults, and the `Router` every handler module adds its routes to. The simulator
(app.py) assembles the router from the handler modules; the handlers import only this module, so the arrows go one
way: app -> handlers -> router."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from sandbox.graph import permissions
from sandbox.graph.pagelog import PAGES, page_key
from sandbox.graph.tenant import Tenant
from sandbox.graph.throttle import Throttle


class SimulatorState(Protocol):
    """The simulator as its handlers use it (app.GraphSimulator is one)."""

    tenant: Tenant
    latency_ms: float
    throttle: Throttle
    rng: random.Random
    calls: list[dict[str, Any]]
    request_headers: dict[str, str]
    from_product: bool
    page_id: str
    max_page: int
    issued_tap_values: list[str]

    @property
    def faults(self) -> Faults: ...


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Ctx:
    """One request as a handler sees it."""

    sim: SimulatorState
    method: str
    version: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str  # scheme://host[/mount] with no trailing slash

    @property
    def tenant(self) -> Tenant:
        return self.sim.tenant

    @property
    def prefer(self) -> str:
        """The request's Prefer header (lower-cased): 'include-unknown-enum-members' and the like."""
        return self.sim.request_headers.get("prefer", "").lower()

    def next_link(self, skip: int) -> str:
        query = {**self.query, "$skiptoken": str(skip)}
        return f"{self.base_url}/{self.version}{self.path}?{urlencode(query)}"

    def page(self, items: Sequence[Any], *, default_top: int = 100, max_top: int = 999, context: str = "",
             render: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
        """One page of ``items``; ``render`` turns only the page's items into JSON (large tenants)."""
        asked = self.int_option("$top", default_top)
        if asked < 1 or asked > max_top:
            raise GraphError(400, "Request_BadRequest", f"Invalid page size specified: '{asked}'. Must be between"
                             f" 1 and {max_top} inclusive.")
        # Graph may serve fewer rows than $top asks for and a nextLink with them ("Paging Microsoft Graph data":
        # "even when you specify $top, the results may be paged"): max_page (SANDBOX_MAX_PAGE; the test suite
        # sets it) makes the simulator do so, so every paged read meets a second page.
        top = min(asked, self.sim.max_page) if self.sim.max_page else asked
        skip = self.int_option("$skiptoken", 0)
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/{self.version}/$metadata#{context}",
                                "value": [render(i) for i in items[skip:skip + top]] if render else
                                list(items[skip:skip + top])}
        if skip + top < len(items):
            body["@odata.nextLink"] = self.next_link(skip + top)
            # A request that carried $top and got that many rows asked for no more (the product says where it
            # reads one page on purpose); one that got fewer is owed the rest.
            # Under injected faults a flow may fail mid-collection and say so (a failed job, "unavailable"):
            # links handed out then are not owed.
            if self.sim.from_product and not self.sim.faults.active and ("$top" not in self.query or top < asked):
                following = {**self.query, "$skiptoken": str(skip + top)}
                PAGES.issue(self.sim.page_id + page_key(self.version, self.path, following), self.path)
        return body

    def int_option(self, name: str, default: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.") from None


Handler = Callable[..., Any]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    log: dict[str, Any] | None = None  # the call-log entry of a request that crossed the wire


@dataclass
class Faults:
    """Injected faults, each a rate per Graph request (set per run through /_sandbox/config)."""

    rate_429: float = 0.0  # 429 with Retry-After
    rate_429_bare: float = 0.0  # 429 without Retry-After (Identity Protection and CA answer so)
    rate_503: float = 0.0
    rate_504: float = 0.0
    rate_reset: float = 0.0  # the connection dropped mid-answer
    rate_slow: float = 0.0  # an answer that takes slow_ms longer
    slow_ms: float = 200.0
    seed: int = 7
    injected: dict[str, int] = field(default_factory=dict)  # kind -> count

    @property
    def active(self) -> bool:
        return any(r > 0 for r in (self.rate_429, self.rate_429_bare, self.rate_503, self.rate_504, self.rate_reset,
                                   self.rate_slow))

    def count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1


class Router:
    """The routes the handler modules register: Graph's own (each with the permission the route needs, from
    permissions.py) and the sandbox's control routes."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler, set[str]]] = []
        self.control: list[tuple[str, re.Pattern[str], Handler, set[str]]] = []
        self.route_permissions: dict[tuple[str, int], tuple[str, ...]] = {}

    def add(self, method: str, pattern: str, handler: Handler, versions: tuple[str, ...] = ("v1.0", "beta"),
            control: bool = False) -> None:
        literal = pattern.replace("$", r"\$").replace(".", r"\.")  # "/$ref", "microsoft.graph.x" as written
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", literal) + "$")
        (self.control if control else self.routes).append((method, regex, handler, set(versions)))
        if not control:
            self.route_permissions[(method, id(regex))] = permissions.ROUTES[(method, pattern)]
