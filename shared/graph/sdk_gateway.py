"""The Graph gateway on msgraph-sdk. Beta endpoints and $batch go through the same request adapter (and so
the same auth, retry and telemetry middleware) as raw requests: the v1.0 SDK has no builders for them."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

from shared.errors import (
    DefaultMethodConflictError,
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphThrottledError,
    GraphTransientError,
    GroupNotFoundError,
)
from shared.graph.errors import classify, graph_errors
from shared.graph.method_names import METHOD_TYPES
from shared.graph.port import (
    AuthMethod,
    ChainResult,
    DeleteOutcome,
    DirectoryUser,
    GraphGateway,
    IssuedTap,
    Memberships,
    Page,
    TapPolicy,
    TapRequest,
    TapValue,
    UserSnapshot,
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


class SdkGraphGateway(GraphGateway):
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

    # -- users ----------------------------------------------------------------------------------------
    async def get_user(self, key: str) -> DirectoryUser:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        params = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["id", "userPrincipalName", "displayName", "accountEnabled", "userType"])
        async with graph_errors(f"get user {key}"):
            user = await self._client.users.by_user_id(key).get(RequestConfiguration(query_parameters=params))
        assert user is not None and user.id
        return DirectoryUser(id=user.id, upn=user.user_principal_name or "", display_name=user.display_name or "",
                             enabled=user.account_enabled is not False, user_type=user.user_type or "Member")

    async def memberships(self, user_id: str) -> Memberships:
        from msgraph.generated.models.directory_role import DirectoryRole
        from msgraph.generated.models.group import Group

        groups: dict[str, str] = {}
        roles: dict[str, str] = {}
        builder = self._client.users.by_user_id(user_id).transitive_member_of
        async with graph_errors(f"list memberships of {user_id}"):
            page = await builder.get()
            while page is not None:
                for obj in page.value or []:
                    if isinstance(obj, Group) and obj.id:
                        groups[obj.id] = obj.display_name or ""
                    elif isinstance(obj, DirectoryRole):
                        roles[obj.role_template_id or obj.id or ""] = obj.display_name or ""
                page = await builder.with_url(page.odata_next_link).get() if page.odata_next_link else None
        return Memberships(group_ids=frozenset(groups), group_names=frozenset(groups.values()),
                           role_names=frozenset(roles.values()), role_template_ids=frozenset(roles),
                           groups_complete=True, roles_complete=True)

    # -- methods --------------------------------------------------------------------------------------
    async def list_methods(self, user_id: str) -> list[AuthMethod]:
        async with graph_errors(f"list methods of {user_id}"):
            page = await self._client.users.by_user_id(user_id).authentication.methods.get()
        found = []
        for item in (page.value if page else None) or []:
            kind = METHOD_TYPES.get((item.odata_type or "").rsplit(".", 1)[-1], "")
            if kind == "password" or not item.id:
                continue
            label = getattr(item, "phone_type", None) or getattr(item, "display_name", None) or ""
            found.append(AuthMethod(type=kind or "unknown", id=item.id, label=str(getattr(label, "value", label)),
                                    created=getattr(item, "created_date_time", None)))
        return found

    async def default_method(self, user_id: str) -> str | None:
        async with graph_errors(f"read sign-in preferences of {user_id}"):
            prefs = await self._raw(Method.GET, f"{self._beta}/users/{user_id}/authentication/signInPreferences")
        value = (prefs or {}).get("userPreferredMethodForSecondaryAuthentication")
        return str(value) if value and value != "none" else None

    def _method_url(self, user_id: str, method: AuthMethod) -> str:
        url = f"/users/{user_id}/authentication/{SEGMENTS[method.type]}/{method.id}"
        # externalauthenticationmethod-delete: "DELETE /users/{id}/authentication/externalAuthenticationMethods/
        # {id}/$ref" (a reference is removed; the SDK has no builder for it, the page wins).
        return url + "/$ref" if method.type == "externalAuthenticationMethod" else url

    async def delete_method(self, user_id: str, method: AuthMethod) -> None:
        if method.type not in SEGMENTS:
            raise ValueError(f"{method.type} methods cannot be deleted through Graph")
        base = self._beta if method.type in BETA_ONLY else self._v1
        async with graph_errors(f"delete {method.type} method {method.id}"):
            await self._raw(Method.DELETE, base + self._method_url(user_id, method))

    async def delete_methods(self, user_id: str, waves: list[list[AuthMethod]]) -> list[DeleteOutcome]:
        outcomes: dict[str, DeleteOutcome] = {}
        pending = [list(w) for w in waves if w]
        for attempt in range(self._max_retries + 1):
            again: set[str] = set()
            wait = 0.0
            results = await self._delete_round(user_id, pending)
            progress = any(o.error is None for _, o in results)
            for method, outcome in results:
                outcomes[method.id] = outcome
                error = outcome.error
                if isinstance(error, GraphThrottledError):
                    again.add(method.id)
                    wait = max(wait, error.retry_after_s or 1.0)
                elif isinstance(error, GraphTransientError) or (
                        progress and isinstance(error, DefaultMethodConflictError)):
                    # 424 (a dependency failed), a 5xx, or the default conflict after others went: retry. A
                    # conflict in a round that removed nothing would only conflict again.
                    again.add(method.id)
            pending = [[m for m in wave if m.id in again] for wave in pending]
            pending = [w for w in pending if w]
            if not pending or attempt == self._max_retries or wait > self._cap:
                break
            # The SDK does not retry inside a batch: wait as the throttled responses ask, then resend them.
            await asyncio.sleep(wait)
        return [outcomes[m.id] for wave in waves for m in wave]

    async def _delete_round(self, user_id: str, waves: list[list[AuthMethod]]
                            ) -> list[tuple[AuthMethod, DeleteOutcome]]:
        flat = [m for wave in waves for m in wave]
        if len(flat) <= BATCH_LIMIT:
            return list(zip(flat, await self._batch_delete(user_id, waves), strict=True))
        results: list[tuple[AuthMethod, DeleteOutcome]] = []
        for wave in waves:  # too many for one batch: one batch per wave, in order
            for start in range(0, len(wave), BATCH_LIMIT):
                chunk = wave[start:start + BATCH_LIMIT]
                results.extend(zip(chunk, await self._batch_delete(user_id, [chunk]), strict=True))
        return results

    async def _batch_delete(self, user_id: str, waves: list[list[AuthMethod]]) -> list[DeleteOutcome]:
        # Graph accepts a fully parallel batch or a single chain, never a wave depending on a whole wave before
        # it (sandbox/graph/app.py cites the rule): one wave is sent in parallel, several waves as one chain in
        # wave order, which keeps every "after" the waves promise.
        chunk = [m for wave in waves for m in wave]
        sequential = len([w for w in waves if w]) > 1
        requests: list[dict[str, Any]] = []
        for i, method in enumerate(chunk):
            request: dict[str, Any] = {"id": str(i), "method": "DELETE", "url": self._method_url(user_id, method)}
            if sequential and i:
                request["dependsOn"] = [str(i - 1)]
            requests.append(request)
        async with graph_errors(f"batch delete {len(chunk)} methods of {user_id}"):
            base = self._beta if any(m.type in BETA_ONLY for m in chunk) else self._v1
            answer = await self._raw(Method.POST, f"{base}/$batch", {"requests": requests})
        by_id = {r["id"]: r for r in (answer or {}).get("responses", [])}
        outcomes = []
        for i, method in enumerate(chunk):
            item = by_id.get(str(i), {"status": 500})
            status = int(item.get("status", 500))
            if status < 300:
                outcomes.append(DeleteOutcome(method))
                continue
            error = (item.get("body") or {}).get("error", {})
            outcomes.append(DeleteOutcome(method, classify(status, error.get("code", ""), error.get("message", ""),
                                                           item.get("headers"),
                                                           what=f"delete {method.type} method {method.id}")))
        return outcomes

    async def _batch(self, version: str, requests: list[dict[str, Any]], what: str) -> dict[str, dict[str, Any]]:
        """One $batch; the inner responses by id."""
        base = self._v1 if version == "v1.0" else self._beta
        async with graph_errors(what):
            answer = await self._raw(Method.POST, f"{base}/$batch", {"requests": requests})
        return {str(r.get("id")): r for r in (answer or {}).get("responses", [])}

    async def snapshot(self, key: str, *, groups: Sequence[str] = ()) -> UserSnapshot:
        """One round trip: user, directory roles and the membership check of ``groups`` in a v1.0 $batch, and,
        concurrently, a beta $batch of signInPreferences and the methods (a batch serves one version; see
        _preferences for why the methods are read from beta). Roles come from the typed
        ``transitiveMemberOf/microsoft.graph.directoryRole`` (a user in hundreds of groups has few roles, so the
        first page is nearly always the last; any further page is followed) and groups from ``checkMemberGroups``
        (transitive, 20 ids a call, no paging) or a filtered membership read, so a user in 500 groups is decided
        exactly, never from the first page of all memberships."""
        wanted = [g.strip() for g in groups if g.strip()]
        user_path = f"/users/{quote(key, safe='@')}"
        # A type cast on a membership collection takes the advanced query parameters (user-list-transitivememberof:
        # "ConsistencyLevel: eventual. This header and $count are required when using the $search, $filter,
        # $orderby, or OData cast query parameters").
        advanced = {"ConsistencyLevel": "eventual"}
        requests: list[dict[str, Any]] = [
            {"id": "user", "method": "GET",
             # The manager comes with the user (user-list-manager: "$expand=manager"; User.Read.All), and the
             # directory's phones for a call-back: the proofs cost no round trip of their own.
             "url": f"{user_path}?$select=id,userPrincipalName,displayName,accountEnabled,userType,mail,"
                    "mobilePhone,businessPhones&$expand=manager($select=id,userPrincipalName,accountEnabled)"},
            {"id": "roles", "method": "GET", "headers": advanced,
             "url": f"{user_path}/transitiveMemberOf/microsoft.graph.directoryRole"
                    "?$count=true&$select=id,displayName,roleTemplateId"},
        ]
        ids = [g for g in wanted if _GUID.fullmatch(g)]
        names = [g for g in wanted if not _GUID.fullmatch(g)]
        for n, group_id in enumerate(ids):
            # The group must exist (a deleted or mistyped id decides nothing)...
            requests.append({"id": f"gid{n}", "method": "GET", "url": f"/groups/{group_id}?$select=id"})
        for n, start in enumerate(range(0, len(ids), CHECK_MEMBER_GROUPS_LIMIT)):
            # ...and checkMemberGroups says whether the user is in it, transitively. A $batch request with a body
            # must say its Content-Type (json-batching: "headers ... required if a body is specified").
            requests.append({"id": f"check{n}", "method": "POST", "url": f"{user_path}/checkMemberGroups",
                             "headers": {"Content-Type": "application/json"},
                             "body": {"groupIds": ids[start:start + CHECK_MEMBER_GROUPS_LIMIT]}})
        for n, name in enumerate(names):
            # A name: the groups that carry it (none: undecidable), and the user's memberships of that name.
            flt = quote(f"displayName eq '{_quote(name)}'", safe="")
            requests.append({"id": f"gname{n}", "method": "GET", "url": f"/groups?$filter={flt}&$select=id"})
            requests.append({"id": f"member{n}", "method": "GET", "headers": advanced,
                             "url": f"{user_path}/transitiveMemberOf/microsoft.graph.group?$count=true"
                                    f"&$filter={flt}&$select=id,displayName"})
        answers: dict[str, dict[str, Any]] = {}
        preferences: dict[str, Any] | None = None
        for attempt in range(self._max_retries + 1):
            todo = [r for r in requests if r["id"] not in answers]
            reads = [self._batch("v1.0", todo, f"read user {key}")] if todo else []
            if preferences is None:
                reads.append(self._preferences(user_path))
            results = await asyncio.gather(*reads, return_exceptions=True)
            wait = 0.0
            if preferences is None:
                last = results[-1]
                if isinstance(last, GraphNotFoundError | GraphForbiddenError):
                    raise last
                if isinstance(last, GraphThrottledError | GraphTransientError):
                    if attempt == self._max_retries:
                        raise last
                    wait = max(wait, (last.retry_after_s if isinstance(last, GraphThrottledError) else None) or 1.0)
                elif isinstance(last, BaseException):
                    raise last
                else:
                    preferences = last
            if todo:
                batch = results[0]
                if isinstance(batch, BaseException):
                    raise batch
                assert isinstance(batch, dict)
                for rid, item in batch.items():
                    status = int(item.get("status", 500))
                    if status < 300 or (status == 404 and rid.startswith("gid")):
                        answers[rid] = item.get("body") or {} if status < 300 else {}  # a 404 group: undecidable
                        continue
                    error = (item.get("body") or {}).get("error", {})
                    failure = classify(status, error.get("code", ""), error.get("message", ""), item.get("headers"),
                                       what=f"read {rid} of {key}")
                    if not isinstance(failure, GraphThrottledError | GraphTransientError) or \
                            attempt == self._max_retries:
                        raise failure
                    retry_after = failure.retry_after_s if isinstance(failure, GraphThrottledError) else None
                    wait = max(wait, retry_after or 1.0)
            if len(answers) == len(requests) and preferences is not None:
                break
            if wait > self._cap:
                raise GraphThrottledError(f"read user {key}: throttled", retry_after_s=wait, status=429)
            await asyncio.sleep(wait)
        body = answers["user"]
        user = DirectoryUser(id=body["id"], upn=body.get("userPrincipalName") or "",
                             display_name=body.get("displayName") or "",
                             enabled=body.get("accountEnabled") is not False,
                             user_type=body.get("userType") or "Member", mail=str(body.get("mail") or ""))
        role_rows = await self._rest(answers["roles"], f"list roles of {key}", advanced)
        roles = {str(r.get("roleTemplateId") or r.get("id") or ""): str(r.get("displayName") or "")
                 for r in role_rows}
        held_ids: set[str] = set()
        held_names: set[str] = set()
        for n, group_id in enumerate(ids):
            if not answers.get(f"gid{n}", {}).get("id"):
                raise GroupNotFoundError(f"group {group_id} does not exist in the tenant", status=404,
                                         code="group_not_found")
        for rid in (r for r in answers if r.startswith("check")):
            held_ids |= {str(i).lower() for i in answers[rid].get("value") or []}
        for n, name in enumerate(names):
            found = await self._rest(answers[f"gname{n}"], f"find group {name}")
            if not found:
                raise GroupNotFoundError(f"group {name!r} does not exist in the tenant", status=404,
                                         code="group_not_found")
            mine = await self._rest(answers[f"member{n}"], f"memberships of {key} named {name}", advanced)
            if mine:
                held_names.add(name)
                held_ids |= {str(g.get("id", "")).lower() for g in mine}
        methods = [_method_from_json(m) for m in (preferences or {}).get("methods", [])]
        default = (preferences or {}).get("userPreferredMethodForSecondaryAuthentication")
        checked = {g.lower() for g in wanted}
        boss = body.get("manager") if isinstance(body.get("manager"), dict) else None
        manager = DirectoryUser(id=str(boss.get("id", "")), upn=str(boss.get("userPrincipalName") or ""),
                                enabled=boss.get("accountEnabled") is not False) if boss and boss.get("id") else None
        phones = [p for p in (body.get("businessPhones") or []) if isinstance(p, str) and p.strip()]
        phone = str(body.get("mobilePhone") or "").strip() or (phones[0].strip() if phones else "")
        return UserSnapshot(
            user=user,
            memberships=Memberships(group_ids=frozenset(held_ids), group_names=frozenset(held_names),
                                    role_names=frozenset(roles.values()), role_template_ids=frozenset(roles),
                                    checked_groups=frozenset(checked), roles_complete=True),
            methods=[m for m in methods if m.type != "password"],
            default_method=str(default) if default and default != "none" else None,
            manager=manager, manager_read=True, phone_on_record=phone)

    async def _rest(self, first: dict[str, Any], what: str, headers: dict[str, str] | None = None
                    ) -> list[dict[str, Any]]:
        """A collection whose first page came in a $batch: its rows, and every page after it (a nextLink is
        absolute: it names its own version)."""
        rows = list(first.get("value") or [])
        if first.get("@odata.nextLink"):
            rows += await self._pages(str(first["@odata.nextLink"]), what, headers)
        return rows

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

    async def _preferences(self, user_path: str) -> dict[str, Any]:
        """The beta half of a reset's read, one beta $batch beside the v1.0 one: signInPreferences (beta only)
        and the user's methods. The methods come from beta because only beta lists hardware OATH tokens
        (hardwareoathauthenticationmethod-list; v1.0's methods list leaves them out); reading them here instead of
        from v1.0 keeps the read at two requests in the reports bucket, where a third, beta-only
        hardwareOathMethods read would cost every reset one more token of five per 10 s. The methods come back
        under ``"methods"``."""
        who = user_path.rsplit("/", 1)[-1]
        requests = [{"id": "prefs", "method": "GET", "url": f"{user_path}/authentication/signInPreferences"},
                    {"id": "methods", "method": "GET", "url": f"{user_path}/authentication/methods"}]
        answers = await self._batch("beta", requests, f"read sign-in preferences of {who}")
        out: dict[str, Any] = {}
        for rid in ("prefs", "methods"):
            item = answers.get(rid, {"status": 500})
            status = int(item.get("status", 500))
            if status >= 300:
                error = (item.get("body") or {}).get("error", {})
                raise classify(status, error.get("code", ""), error.get("message", ""), item.get("headers"),
                               what=f"read {rid} of {who}")
            body = item.get("body") or {}
            if rid == "prefs":
                out.update(body if isinstance(body, dict) else {})
            else:
                out["methods"] = await self._rest(body, f"list methods of {who}")
        return out

    # -- many users at once (the timers) -----------------------------------------------------------------
    async def _pages(self, url: str, what: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            async with graph_errors(what):
                page = await self._raw(Method.GET, next_url, headers=headers)
            items.extend((page or {}).get("value") or [])
            next_url = (page or {}).get("@odata.nextLink")
        return items

    async def list_users(self, odata_filter: str, select: list[str]) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query = urlencode({"$filter": odata_filter, "$select": ",".join(select), "$top": "999"})
        return await self._pages(f"{self._v1}/users?{query}", f"list users where {odata_filter}")

    async def registered_with(self, *methods: str) -> list[dict[str, Any]]:
        """Rows whose methodsRegistered holds any of ``methods`` (every spelling of a method in one request:
        the filters are or'ed)."""
        from urllib.parse import urlencode

        clause = " or ".join(f"methodsRegistered/any(m: m eq '{_quote(m)}')" for m in methods)
        # No $top: the List page documents none (the report pages by itself), and Graph refuses one.
        query = urlencode({"$filter": clause})
        return await self._pages(f"{self._v1}/reports/authenticationMethods/userRegistrationDetails?{query}",
                                 "read the registration details report")

    async def group_member_ids(self, group: str) -> set[str]:

        out: set[str] = set()
        for group_id in (await self._group_ids([group]))[group]:
            members = await self._pages(f"{self._v1}/groups/{group_id}/transitiveMembers?$select=id&$top=999",
                                        f"list members of group {group}")
            out |= {str(m["id"]).lower() for m in members if m.get("id")}
        return out

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

    # -- the write chain of a reset -------------------------------------------------------------------
    async def reset_chain(self, user_id: str, deletes: list[AuthMethod], *, revoke: bool,
                          tap: TapRequest | None) -> ChainResult:
        """Graph accepts a $batch that is fully parallel, one sequential chain, or all depending on one request
        (see sandbox/graph/app.py); the deletes must run in order (mobile after alternate mobile, the default
        last), so the writes are one chain: deletes, then revoke, then the TAP, 20 requests a batch. A break (an
        inner 429/5xx, a refused delete: the rest answer 424) is resumed from the break."""
        result = ChainResult(deletes=[])
        outcomes: dict[str, DeleteOutcome] = {}
        pending: list[_Op] = [_Op("delete", m) for m in deletes]
        if revoke:
            pending.append(_Op("revoke"))
        if tap is not None:
            pending.append(_Op("tap", tap=tap))
        attempts = 0
        # A user with a hardware token: the whole chain goes to beta (revokeSignInSessions and the TAP exist there
        # too), keeping two sequential round trips instead of a third for a v1.0 chain beside a beta one.
        version = "beta" if any(m.type in BETA_ONLY for m in deletes) else "v1.0"
        found_later: list[AuthMethod] = []  # methods Graph still had when it refused the default
        spread = 0
        while pending:
            head = pending[:BATCH_LIMIT]
            # A batch no bigger than the tightest bucket holds at once (with a user's methods in the reports
            # bucket of 5 per 10 s, a user with more than a few methods is spread over its windows).
            planned = [self._chain_request(user_id, op, i, head) for i, op in enumerate(head)]
            fits = self._budget.fits([(r["method"], r["url"]) for r in planned]) if self._budget else len(head)
            if fits < len(head):
                spread += 1
            chunk = head[:fits]
            requests = planned[:fits]
            answers = await self._batch(version, requests, f"reset chain of {user_id}")
            result.round_trips += 1
            broken: tuple[int, GraphError] | None = None
            for i, op in enumerate(chunk):
                item = answers.get(str(i), {"status": 500})
                status = int(item.get("status", 500))
                if status == 424:
                    continue  # not run: a dependency failed; resumed below
                error = None
                if status >= 300:
                    body = (item.get("body") or {}).get("error", {})
                    error = classify(status, body.get("code", ""), body.get("message", ""), item.get("headers"),
                                     what=op.what())
                if op.kind == "delete" and op.method is not None:
                    if error is None or isinstance(error, GraphNotFoundError):
                        outcomes[op.method.id] = DeleteOutcome(op.method, error)
                        continue
                elif op.kind == "revoke" and error is None:
                    result.revoked = True
                    continue
                elif op.kind == "tap" and error is None:
                    result.tap = _tap_from_json(item.get("body") or {})
                    continue
                broken = (i, error or GraphTransientError(f"{op.what()}: no answer", status=status))
                break
            if broken is None:
                pending = pending[len(chunk):]
                continue
            index, error = broken
            op = chunk[index]
            rest = pending[index + 1:]
            # The retry bound counts breaks without progress: a chain that moves on between throttled
            # requests (a long reset spread over a bucket's windows) is not given up.
            attempts = attempts + 1 if index == 0 else 1
            if isinstance(error, GraphThrottledError | GraphTransientError) and attempts <= self._max_retries:
                wait = (error.retry_after_s if isinstance(error, GraphThrottledError) else None) or 1.0
                if isinstance(error, GraphThrottledError) and self._budget is not None:
                    # An inner 429 inside a 200 batch never reaches the transport: tell the shared budget here,
                    # so every flow of the worker backs off, not only this chain.
                    self._budget.penalize(requests[index]["method"], requests[index]["url"], wait)
                if wait <= self._cap:
                    result.notes.append(f"chain broken at {op.what()} ({error.status}): resumed from there after "
                                        f"{wait:g} s")
                    await asyncio.sleep(wait)
                    pending = pending[index:]
                    continue
            if isinstance(error, DefaultMethodConflictError) and op.method is not None and attempts <= \
                    self._max_retries + 2:
                known = {o.method.id for o in pending if o.method is not None} | set(outcomes)
                unblocked = await self._unblock_default(user_id, op.method, known)
                if unblocked is not None:
                    moved, others, new_default = unblocked
                    found_later += [*others, new_default]
                    result.notes.append(f"chain broken at {op.what()}: Graph refused the default method while "
                                        f"{len(others) + 1} other method(s) remained; default moved to "
                                        f"{moved}; resumed from there")
                    tail = [o for o in pending[index + 1:] if o.kind != "delete"]
                    deletes_left = [o for o in pending[index + 1:] if o.kind == "delete"]
                    pending = [op, *deletes_left, *(_Op("delete", m) for m in others), _Op("delete", new_default),
                               *tail]
                    continue
            if op.kind == "delete" and op.method is not None:
                outcomes[op.method.id] = DeleteOutcome(op.method, error)
                result.notes.append(f"chain broken at {op.what()}: {error}")
                # Deletes after a refused one still run (a later wave may not depend on it); revoke and TAP wait
                # until every delete is done, so a half-reset user never gets a pass.
                pending = [o for o in rest if o.kind == "delete"]
                if not pending:
                    break
                continue
            if op.kind == "revoke":
                result.revoke_error = error
            else:
                result.tap_error = error
            result.notes.append(f"chain broken at {op.what()}: {error}")
            pending = [o for o in rest if o.kind == "tap"] if op.kind == "revoke" and \
                not isinstance(error, GraphThrottledError | GraphTransientError) else []
        if spread and self._budget is not None:
            result.notes.append(f"spread over {result.round_trips} batches to stay inside Graph's buckets (a "
                                f"user's methods count in the reports bucket: {self._budget.describe('reports')})")
        result.deletes = [outcomes.get(m.id) or DeleteOutcome(m, GraphTransientError(
            f"delete {m.type} method {m.id}: not reached", status=424)) for m in [*deletes, *found_later]]
        return result

    async def _unblock_default(self, user_id: str, method: AuthMethod, known: set[str]
                               ) -> tuple[str, list[AuthMethod], AuthMethod] | None:
        """Graph refused to delete the default method because another method remains that the read did not see
        (registered since): point the default at a remaining method, so the old default can go, and remove the
        others too, the new default last. None when nothing remains that the default could name."""
        remaining = [m for m in await self.list_methods(user_id) if m.id != method.id and m.id not in known
                     and m.type in SEGMENTS]
        for other in remaining:
            preferred = _DEFAULT_FOR.get((other.type, other.label if other.type == "phone" else None))
            if preferred:
                await self.set_default_method(user_id, preferred)
                return preferred, [m for m in remaining if m is not other], other
        return None

    def _chain_request(self, user_id: str, op: _Op, index: int, chunk: list[_Op]) -> dict[str, Any]:
        request: dict[str, Any] = {"id": str(index)}
        if op.kind == "delete" and op.method is not None:
            request.update(method="DELETE", url=self._method_url(user_id, op.method))
        elif op.kind == "revoke":
            request.update(method="POST", url=f"/users/{user_id}/revokeSignInSessions", body={},
                           headers={"Content-Type": "application/json"})
        else:
            assert op.tap is not None
            body: dict[str, Any] = {"isUsableOnce": op.tap.usable_once}
            if op.tap.lifetime_minutes:
                body["lifetimeInMinutes"] = op.tap.lifetime_minutes
            request.update(method="POST", url=f"/users/{user_id}/authentication/temporaryAccessPassMethods",
                           body=body, headers={"Content-Type": "application/json"})
        if index:
            request["dependsOn"] = [str(index - 1)]
        return request

    async def per_user_mfa(self, user_id: str) -> str:
        async with graph_errors(f"read the per-user MFA state of {user_id}"):
            body = await self._raw(Method.GET, f"{self._beta}/users/{user_id}/authentication/requirements")
        return str((body or {}).get("perUserMfaState") or "disabled")

    async def set_per_user_mfa(self, user_id: str, state: str) -> None:
        async with graph_errors(f"set the per-user MFA state of {user_id} to {state}"):
            await self._raw(Method.PATCH, f"{self._beta}/users/{user_id}/authentication/requirements",
                            {"perUserMfaState": state})

    async def set_default_method(self, user_id: str, method: str) -> None:
        async with graph_errors(f"set the default method of {user_id} to {method}"):
            await self._raw(Method.PATCH, f"{self._beta}/users/{user_id}/authentication/signInPreferences",
                            {"userPreferredMethodForSecondaryAuthentication": method})

    # -- TAP and sessions -----------------------------------------------------------------------------
    async def create_tap(self, user_id: str, *, lifetime_minutes: int | None, usable_once: bool) -> IssuedTap:
        from msgraph.generated.models.temporary_access_pass_authentication_method import (
            TemporaryAccessPassAuthenticationMethod,
        )

        body = TemporaryAccessPassAuthenticationMethod(lifetime_in_minutes=lifetime_minutes,
                                                       is_usable_once=usable_once)
        async with graph_errors(f"create a Temporary Access Pass for {user_id}"):
            tap = await self._client.users.by_user_id(user_id).authentication.temporary_access_pass_methods.post(
                body)
        assert tap is not None and tap.id and tap.temporary_access_pass
        return IssuedTap(method_id=tap.id, value=TapValue(tap.temporary_access_pass),
                         start=tap.start_date_time or tap.created_date_time or datetime.now(UTC),
                         lifetime_minutes=int(tap.lifetime_in_minutes or 0), usable_once=bool(tap.is_usable_once))

    async def tap_policy(self) -> TapPolicy:
        configs = self._client.policies.authentication_methods_policy.authentication_method_configurations
        async with graph_errors("read the Temporary Access Pass policy"):
            policy = await configs.by_authentication_method_configuration_id("TemporaryAccessPass").get()
        data = _to_json(policy)
        return TapPolicy(
            enabled=data.get("state") == "enabled",
            default_lifetime_minutes=int(data.get("defaultLifetimeInMinutes") or 60),
            minimum_lifetime_minutes=int(data.get("minimumLifetimeInMinutes") or 60),
            maximum_lifetime_minutes=int(data.get("maximumLifetimeInMinutes") or 480),
            usable_once=bool(data.get("isUsableOnce")), default_length=int(data.get("defaultLength") or 8),
            include_targets=list(data.get("includeTargets") or []),
            exclude_targets=list(data.get("excludeTargets") or []),
        )

    async def revoke_sessions(self, user_id: str) -> None:
        async with graph_errors(f"revoke sessions of {user_id}"):
            await self._client.users.by_user_id(user_id).revoke_sign_in_sessions.post()

    # -- reports and audit ----------------------------------------------------------------------------
    async def registration_details(self, *, odata_filter: str | None = None, next_link: str | None = None,
                                   top: int | None = None) -> Page:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.reports.authentication_methods.user_registration_details.user_registration_details_request_builder import (  # noqa: E501
            UserRegistrationDetailsRequestBuilder as Builder,
        )

        builder = self._client.reports.authentication_methods.user_registration_details
        async with graph_errors("read the registration details report"):
            if next_link:
                page = await builder.with_url(next_link).get()
            else:
                params = Builder.UserRegistrationDetailsRequestBuilderGetQueryParameters(filter=odata_filter, top=top)
                page = await builder.get(RequestConfiguration(query_parameters=params))
        items = [_to_json(i) for i in (page.value if page else None) or []]
        return Page(items=items, next_link=page.odata_next_link if page else None)

    async def directory_audits(self, *, since: datetime, until: datetime | None = None,
                               activity: str | None = None, service: str | None = None) -> list[dict[str, Any]]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (
            DirectoryAuditsRequestBuilder,
        )

        clauses = [f"activityDateTime ge {_odata_time(since)}"]
        if until is not None:
            clauses.append(f"activityDateTime le {_odata_time(until)}")
        if activity:
            clauses.append(f"activityDisplayName eq '{_quote(activity)}'")
        if service:
            clauses.append(f"loggedByService eq '{_quote(service)}'")
        params = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
            filter=" and ".join(clauses), orderby=["activityDateTime asc"])
        builder = self._client.audit_logs.directory_audits
        events: list[dict[str, Any]] = []
        async with graph_errors("read directory audits"):
            page = await builder.get(RequestConfiguration(query_parameters=params))
            while page is not None:
                events.extend(_to_json(e) for e in page.value or [])
                page = await builder.with_url(page.odata_next_link).get() if page.odata_next_link else None
        return sorted(events, key=lambda e: str(e.get("activityDateTime", "")))


    # -- the registration monitor --------------------------------------------------------------------------
    async def audit_page(self, *, since: datetime, next_link: str | None = None, top: int = 999) -> Page:
        from urllib.parse import urlencode

        if next_link:
            url = next_link
        else:
            services = " or ".join(f"loggedByService eq '{s}'" for s in AUDIT_SERVICES)
            query = urlencode({"$filter": f"activityDateTime ge {_odata_time(since)} and ({services})",
                               "$orderby": "activityDateTime asc", "$top": str(top)})
            url = f"{self._v1}/auditLogs/directoryAudits?{query}"
        async with graph_errors("read directory audits"):
            page = await self._raw(Method.GET, url)
        return Page(items=list((page or {}).get("value") or []), next_link=(page or {}).get("@odata.nextLink"))

    async def sign_ins(self, user_ids: list[str], *, since: datetime) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        rows: list[dict[str, Any]] = []
        # 15 users a request keeps the URL short; sign-ins are in the 5-per-10-s reports bucket, so few requests.
        for start in range(0, len(user_ids), 15):
            users = " or ".join(f"userId eq '{_quote(u)}'" for u in user_ids[start:start + 15])
            query = urlencode({"$filter": f"createdDateTime ge {_odata_time(since)} and ({users})", "$top": "999"})
            rows += await self._pages(f"{self._v1}/auditLogs/signIns?{query}", "read sign-in logs")
        return rows

    async def risky_users(self) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query = urlencode({"$filter": "riskState eq 'atRisk' or riskState eq 'confirmedCompromised'"})
        return await self._pages(f"{self._v1}/identityProtection/riskyUsers?{query}", "read risky users")

    async def risk_detections(self, *, since: datetime) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query = urlencode({"$filter": f"activityDateTime ge {_odata_time(since)}"})
        return await self._pages(f"{self._v1}/identityProtection/riskDetections?{query}", "read risk detections")

    async def role_members(self) -> dict[str, list[dict[str, str]]]:
        roles = await self._pages(f"{self._v1}/directoryRoles", "list directory roles")
        names = {str(r["id"]): str(r.get("displayName", "")) for r in roles if r.get("id")}
        answers = await self.get_many({rid: f"/directoryRoles/{rid}/members?$select=id,userPrincipalName"
                                       for rid in names})
        members: dict[str, list[dict[str, str]]] = {}
        for rid, (status, body) in answers.items():
            if status >= 300:
                raise GraphForbiddenError(f"list members of role {names[rid]}: status {status}", status=status) \
                    if status in (401, 403) else GraphError(f"list members of role {names[rid]}", status=status)
            members[names[rid]] = [{"id": str(m.get("id", "")), "upn": str(m.get("userPrincipalName") or "")}
                                   for m in (body or {}).get("value") or []]
        return members

    async def role_holders(self) -> dict[str, set[str]]:
        holders: dict[str, set[str]] = {}
        for name, members in (await self.role_members()).items():
            for member in members:
                holders.setdefault(member["id"].lower(), set()).add(name)
        return holders

    async def organization(self) -> dict[str, Any]:
        orgs = await self._pages(f"{self._v1}/organization", "read the organization")
        return orgs[0] if orgs else {}

    async def send_mail(self, sender: str, message: dict[str, Any]) -> None:
        async with graph_errors(f"send mail as {sender}"):
            await self._raw(Method.POST, f"{self._v1}/users/{sender}/sendMail",
                            {"message": message, "saveToSentItems": False})


    # -- posture --------------------------------------------------------------------------------------------
    async def ca_policies(self) -> list[dict[str, Any]]:
        return await self._pages(f"{self._v1}/identity/conditionalAccess/policies", "list Conditional Access "
                                 "policies")

    async def named_locations(self) -> list[dict[str, Any]]:
        # conditionalaccessroot-list-namedlocations: Policy.Read.All, every page.
        return await self._pages(f"{self._v1}/identity/conditionalAccess/namedLocations", "list named locations")

    async def create_ca_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        async with graph_errors("create a Conditional Access policy"):
            created = await self._raw(Method.POST, f"{self._v1}/identity/conditionalAccess/policies", policy)
        return dict(created or {})

    async def update_ca_policy(self, policy_id: str, changes: dict[str, Any]) -> None:
        async with graph_errors(f"update Conditional Access policy {policy_id}"):
            await self._raw(Method.PATCH, f"{self._v1}/identity/conditionalAccess/policies/{policy_id}", changes)

    async def methods_policy(self) -> dict[str, Any]:
        async with graph_errors("read the authentication methods policy"):
            body = await self._raw(Method.GET, f"{self._v1}/policies/authenticationMethodsPolicy")
        return dict(body or {})

    async def certificate_user_ids(self, user_id: str) -> list[str]:
        async with graph_errors(f"read certificateUserIds of {user_id}"):
            body = await self._raw(Method.GET, f"{self._v1}/users/{user_id}?$select=id,authorizationInfo")
        info = (body or {}).get("authorizationInfo") or {}
        return [str(c) for c in info.get("certificateUserIds") or []]

    async def sign_ins_since(self, since: datetime) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query = urlencode({"$filter": f"createdDateTime ge {_odata_time(since)}", "$top": "999"})
        # reportOnlyFailure and reportOnlyInterrupted are evolvable enum members: without this header Graph
        # answers unknownFutureValue in their place.
        return await self._pages(f"{self._v1}/auditLogs/signIns?{query}", "read sign-in logs",
                                 headers={"Prefer": "include-unknown-enum-members"})


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
