"""The request machinery every part of the msgraph-sdk gateway shares: raw requests through the SDK's request
adapter (its auth, retry and telemetry middleware), `$batch` (learn.microsoft.com/graph/json-batching: 20 requests
a batch), pages read to their last `@odata.nextLink` (learn.microsoft.com/graph/paging), and the helpers that
turn Graph's JSON into the port's types."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

from shared.errors import (
    GraphError,
    GroupNotFoundError,
)
from shared.graph.errors import classify, graph_errors
from shared.graph.method_names import METHOD_TYPES
from shared.graph.port import (
    AuthMethod,
    GraphGateway,
    IssuedTap,
    TapRequest,
    TapValue,
)
from shared.graph.tenant_size import TenantSize
from shared.isotime import as_int, parse_time

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

    from shared.graph.budget import GraphBudget

BATCH_LIMIT = 20
RECOUNT_RETRY_S = 23 * 3600.0  # a count that failed is tried again an hour later, not a day
CHECK_MEMBER_GROUPS_LIMIT = 20  # user-checkmembergroups: "up to a maximum of 20 groups per request"

# Method type -> URL segment of its typed collection (the types themselves: shared/graph/method_names.py).
SEGMENTS = {
    "phone": "phoneMethods", "email": "emailMethods", "fido2": "fido2Methods",
    "microsoftAuthenticator": "microsoftAuthenticatorMethods", "softwareOath": "softwareOathMethods",
    "temporaryAccessPass": "temporaryAccessPassMethods", "windowsHelloForBusiness": "windowsHelloForBusinessMethods",
    "platformCredential": "platformCredentialMethods", "externalAuthenticationMethod": "externalAuthenticationMethods",
    # Beta only: hardwareoathauthenticationmethod-delete "removes the user assignment; the token stays".
    "hardwareOath": "hardwareOathMethods",
}
# Method types whose delete exists only in beta: a chain that holds one goes to beta whole (a $batch's inner URLs
# carry no version, so v1.0 and beta requests cannot share one, nor one dependsOn chain).
BETA_ONLY = frozenset({"hardwareOath"})

# Where Entra writes method changes: the Authentication Methods service, Core Directory ("Update user", per-user
# MFA) and self-service password reset (the registration-then-SSPR rule).
AUDIT_SERVICES = ("Authentication Methods", "Core Directory", "Self-service Password Management")


@dataclass(frozen=True, slots=True)
class _Op:
    kind: str  # delete | revoke | tap
    method: AuthMethod | None = None
    tap: TapRequest | None = None

    def what(self) -> str:
        if self.kind == "delete" and self.method is not None:
            return f"delete {self.method.type} method {self.method.id}"
        return "revoke sessions" if self.kind == "revoke" else "issue a Temporary Access Pass"


# (method type, phoneType) -> the userPreferredMethodForSecondaryAuthentication value that names it.
_DEFAULT_FOR = {("microsoftAuthenticator", None): "push", ("softwareOath", None): "oath",
                ("phone", "mobile"): "sms", ("phone", "alternateMobile"): "voiceAlternateMobile",
                ("phone", "office"): "voiceOffice"}


def _tap_from_json(body: dict[str, Any]) -> IssuedTap:
    return IssuedTap(method_id=str(body.get("id", "")), value=TapValue(str(body.get("temporaryAccessPass", ""))),
                     start=parse_time(body.get("startDateTime")) or parse_time(body.get("createdDateTime"))
                     or datetime.now(UTC),
                     lifetime_minutes=as_int(body.get("lifetimeInMinutes")),
                     usable_once=bool(body.get("isUsableOnce")))


def _method_from_json(item: dict[str, Any]) -> AuthMethod:
    kind = METHOD_TYPES.get(str(item.get("@odata.type", "")).rsplit(".", 1)[-1], "unknown")
    created = item.get("createdDateTime")
    return AuthMethod(type=kind, id=str(item.get("id", "")),
                      label=str(item.get("phoneType") or item.get("displayName") or ""),
                      created=parse_time(created), last_used=parse_time(item.get("lastUsedDateTime")),
                      graph={k: v for k, v in item.items() if k != "temporaryAccessPass"})


def _to_json(model: Any) -> dict[str, Any]:
    """A typed SDK model back to Graph's JSON (camelCase), for rules written against the documented shape."""
    from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

    writer = JsonSerializationWriter()
    writer.write_object_value(None, model)
    data = json.loads(writer.get_serialized_content())
    return data if isinstance(data, dict) else {}


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _retry_after(headers: Any) -> float | None:
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _odata_time(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return value.replace("'", "''")


class SdkBase(GraphGateway):
    def __init__(self, client: GraphServiceClient, *, retry_after_cap_s: float = 30.0, max_retries: int = 3,
                 budget: GraphBudget | None = None, size_identity: bool = False) -> None:
        self._client = client
        self._budget = budget
        self.resent_requests = 0  # throttled or failed parts of parallel batches sent again (the timers say so)
        self._adapter = client.request_adapter
        self._cap = retry_after_cap_s
        self._max_retries = max_retries
        self._group_cache: dict[str, list[str]] = {}  # lower-cased group name -> ids
        # GRAPH_BUDGET_IDENTITY unset: the identity bucket follows the tenant's size (counted once a day).
        self._tenant_size: TenantSize | None = TenantSize() if (budget is not None and size_identity) else None

    @property
    def _v1(self) -> str:
        return str(self._adapter.base_url)

    @property
    def _beta(self) -> str:
        return self._v1.rsplit("/", 1)[0] + "/beta"

    async def count_users(self) -> int:
        """The tenant's users: ``GET /users/$count`` (an advanced query: ConsistencyLevel eventual), answered as a
        bare number."""
        async with graph_errors("count the tenant's users"):
            answer = await self._raw(Method.GET, f"{self._v1}/users/$count", headers={"ConsistencyLevel": "eventual"},
                                     sizing=True)
        return int(answer or 0)

    async def _size_budget(self) -> None:
        """Once a day, the identity bucket sized from the tenant (tenant_size.py); a failed count keeps the
        smallest tier's figure and is tried again on a later request."""
        from shared.graph.tenant_size import identity_units

        assert self._tenant_size is not None and self._budget is not None
        self._tenant_size.counted_at = time.monotonic()
        try:
            users = await self.count_users()
        except GraphError:
            self._tenant_size.counted_at -= RECOUNT_RETRY_S
            return
        self._tenant_size.users = users
        self._budget.set_capacity("identity", identity_units(users))

    async def _raw(self, method: Method, url: str, body: Any = None, headers: dict[str, str] | None = None,
                   *, sizing: bool = False) -> Any:
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        if not sizing and self._tenant_size is not None and self._tenant_size.due():
            await self._size_budget()

        info = RequestInformation()
        info.http_method = method
        info.url = url
        info.headers.try_add("Accept", "application/json")
        for name, value in (headers or {}).items():
            info.headers.try_add(name, value)
        if body is not None:
            info.set_stream_content(json.dumps(body).encode(), "application/json")
        raw: bytes | None = await self._adapter.send_primitive_async(
            info, "bytes", {"4XX": ODataError, "5XX": ODataError})
        return json.loads(raw) if raw else None

    async def _batch(self, version: str, requests: list[dict[str, Any]], what: str) -> dict[str, dict[str, Any]]:
        """One $batch; the inner responses by id."""
        base = self._v1 if version == "v1.0" else self._beta
        async with graph_errors(what):
            answer = await self._raw(Method.POST, f"{base}/$batch", {"requests": requests})
        return {str(r.get("id")): r for r in (answer or {}).get("responses", [])}

    async def _rest(self, first: dict[str, Any], what: str, headers: dict[str, str] | None = None
                    ) -> list[dict[str, Any]]:
        """A collection whose first page came in a $batch: its rows, and every page after it (a nextLink is
        absolute: it names its own version)."""
        rows = list(first.get("value") or [])
        if first.get("@odata.nextLink"):
            rows += await self._pages(str(first["@odata.nextLink"]), what, headers)
        return rows

    async def _pages(self, url: str, what: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            async with graph_errors(what):
                page = await self._raw(Method.GET, next_url, headers=headers)
            items.extend((page or {}).get("value") or [])
            next_url = (page or {}).get("@odata.nextLink")
        return items

    async def _many(self, method: str, urls: dict[str, str], version: str = "v1.0"
                    ) -> dict[str, tuple[int, Any, Any]]:
        """Parallel $batches (no dependsOn: the other shape Graph accepts), throttled parts resent as asked."""
        keys = list(urls)
        out: dict[str, tuple[int, Any, Any]] = {}

        async def chunk(part: list[str]) -> None:
            pending = list(part)
            for attempt in range(self._max_retries + 2):
                requests = [{"id": str(i), "method": method, "url": urls[k]} for i, k in enumerate(pending)]
                answers = await self._batch(version, requests, f"{method} {len(pending)} requests")
                wait, again = 0.0, []
                for i, key in enumerate(pending):
                    item = answers.get(str(i), {"status": 500})
                    status = int(item.get("status", 500))
                    out[key] = (status, item.get("body"), item.get("headers"))
                    if status == 429 or status >= 500:
                        again.append(key)
                        header = _retry_after(item.get("headers"))
                        wait = max(wait, header or 1.0)
                        if status == 429 and self._budget is not None and header:
                            self._budget.penalize(method, urls[key], header)
                if not again or attempt > self._max_retries or wait > self._cap:
                    return
                await asyncio.sleep(wait)
                self.resent_requests += len(again)
                pending = again

        # Batches no bigger than the tightest bucket holds at once: a user's methods count in the reports bucket
        # (5 requests per 10 s), so 20 at once would draw 15 429s every time.
        chunks: list[list[str]] = []
        rest = keys
        while rest:
            head = rest[:BATCH_LIMIT]
            size = self._budget.fits([(method, urls[k]) for k in head]) if self._budget else len(head)
            chunks.append(head[:size])
            rest = rest[size:]
        gate = asyncio.Semaphore(4)  # a few batches in flight; the shared budget paces them

        async def gated(part: list[str]) -> None:
            async with gate:
                await chunk(part)

        await asyncio.gather(*(gated(c) for c in chunks))
        return out

    async def get_many(self, urls: dict[str, str], version: str = "v1.0") -> dict[str, tuple[int, Any]]:
        """Each answer whole: a collection that came back with a nextLink is read to its last page (a role with
        more members than a page holds is still every member)."""
        out: dict[str, tuple[int, Any]] = {}
        for key, (status, body, _h) in (await self._many("GET", urls, version)).items():
            if status < 300 and isinstance(body, dict) and body.get("@odata.nextLink"):
                body = {**body, "value": await self._rest(body, f"read {urls[key]}")}
                body.pop("@odata.nextLink", None)
            out[key] = (status, body)
        return out

    async def delete_many(self, urls: dict[str, str], version: str = "v1.0") -> dict[str, GraphError | None]:
        out: dict[str, GraphError | None] = {}
        for key, (status, body, headers) in (await self._many("DELETE", urls, version)).items():
            if status < 300 or status == 404:
                out[key] = None
                continue
            error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            out[key] = classify(status, error.get("code", ""), error.get("message", ""), headers,
                                what=f"delete {urls[key]}")
        return out

    async def _group_ids(self, groups: Sequence[str]) -> dict[str, list[str]]:
        """Each group (an object id or a display name) -> the ids it stands for. A name is looked up once per
        worker; a name that matches no group raises GroupNotFoundError (the caller cannot decide membership of a
        group that does not exist, and must not read it as "not a member"). A name two groups share stands for
        both: membership of either counts."""
        out: dict[str, list[str]] = {}
        for group in groups:
            if _GUID.fullmatch(group):
                out[group] = [group.lower()]
                continue
            cached = self._group_cache.get(group.lower())
            if cached is None:
                from urllib.parse import urlencode

                query = urlencode({"$filter": f"displayName eq '{_quote(group)}'", "$select": "id"})
                found = await self._pages(f"{self._v1}/groups?{query}", f"find group {group}")
                cached = [str(g["id"]).lower() for g in found if g.get("id")]
                if not cached:
                    raise GroupNotFoundError(f"group {group!r} does not exist in the tenant", status=404,
                                             code="group_not_found")
                self._group_cache[group.lower()] = cached
            out[group] = cached
        return out
