"""Users and roles: a user (learn.microsoft.com/graph/api/user-get), memberships (user-list-transitivememberof,
user-checkmembergroups), the snapshot a reset starts from, users by filter (user-list), group members
(group-list-transitivemembers), directory roles' members (directoryrole-list-members), the organization
(organization-get), certificate user ids (authorizationInfo)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kiota_abstractions.method import Method

from shared.errors import (
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphThrottledError,
    GraphTransientError,
    GroupNotFoundError,
)
from shared.graph.errors import classify, graph_errors
from shared.graph.port import (
    DirectoryUser,
    Memberships,
    UserSnapshot,
)

if TYPE_CHECKING:

    pass

from shared.graph.sdk.base import _GUID, CHECK_MEMBER_GROUPS_LIMIT, SdkBase, _method_from_json, _quote


class UsersAndRoles(SdkBase):
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

    async def list_users(self, odata_filter: str, select: list[str]) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query = urlencode({"$filter": odata_filter, "$select": ",".join(select), "$top": "999"})
        return await self._pages(f"{self._v1}/users?{query}", f"list users where {odata_filter}")

    async def group_member_ids(self, group: str) -> set[str]:

        out: set[str] = set()
        for group_id in (await self._group_ids([group]))[group]:
            members = await self._pages(f"{self._v1}/groups/{group_id}/transitiveMembers?$select=id&$top=999",
                                        f"list members of group {group}")
            out |= {str(m["id"]).lower() for m in members if m.get("id")}
        return out

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

    async def certificate_user_ids(self, user_id: str) -> list[str]:
        async with graph_errors(f"read certificateUserIds of {user_id}"):
            body = await self._raw(Method.GET, f"{self._v1}/users/{user_id}?$select=id,authorizationInfo")
        info = (body or {}).get("authorizationInfo") or {}
        return [str(c) for c in info.get("certificateUserIds") or []]
