"""The Graph gateway on msgraph-sdk. Beta endpoints and $batch go through the same request adapter (and so
the same auth, retry and telemetry middleware) as raw requests: the v1.0 SDK has no builders for them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

from shared.errors import DefaultMethodConflictError, GraphThrottledError, GraphTransientError
from shared.graph.errors import classify, graph_errors
from shared.graph.port import (
    AuthMethod,
    DeleteOutcome,
    DirectoryUser,
    GraphGateway,
    IssuedTap,
    Memberships,
    Page,
    TapPolicy,
    TapValue,
    UserSnapshot,
)

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

BATCH_LIMIT = 20

# @odata.type suffix -> mfaops method type, and method type -> URL segment of its typed collection.
_TYPES = {
    "phoneAuthenticationMethod": "phone", "emailAuthenticationMethod": "email",
    "fido2AuthenticationMethod": "fido2", "microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticator",
    "softwareOathAuthenticationMethod": "softwareOath",
    "temporaryAccessPassAuthenticationMethod": "temporaryAccessPass",
    "windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusiness",
    "platformCredentialAuthenticationMethod": "platformCredential",
    "externalAuthenticationMethod": "externalAuthenticationMethod",
    "qrCodePinAuthenticationMethod": "qrCodePin", "passwordAuthenticationMethod": "password",
}
SEGMENTS = {
    "phone": "phoneMethods", "email": "emailMethods", "fido2": "fido2Methods",
    "microsoftAuthenticator": "microsoftAuthenticatorMethods", "softwareOath": "softwareOathMethods",
    "temporaryAccessPass": "temporaryAccessPassMethods", "windowsHelloForBusiness": "windowsHelloForBusinessMethods",
    "platformCredential": "platformCredentialMethods", "externalAuthenticationMethod": "externalAuthenticationMethods",
}


class SdkGraphGateway(GraphGateway):
    def __init__(self, client: GraphServiceClient, *, retry_after_cap_s: float = 30.0, max_retries: int = 3) -> None:
        self._client = client
        self._adapter = client.request_adapter
        self._cap = retry_after_cap_s
        self._max_retries = max_retries

    @property
    def _v1(self) -> str:
        return str(self._adapter.base_url)

    @property
    def _beta(self) -> str:
        return self._v1.rsplit("/", 1)[0] + "/beta"

    async def _raw(self, method: Method, url: str, body: Any = None) -> Any:
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        info = RequestInformation()
        info.http_method = method
        info.url = url
        info.headers.try_add("Accept", "application/json")
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
                           role_names=frozenset(roles.values()), role_template_ids=frozenset(roles))

    # -- methods --------------------------------------------------------------------------------------
    async def list_methods(self, user_id: str) -> list[AuthMethod]:
        async with graph_errors(f"list methods of {user_id}"):
            page = await self._client.users.by_user_id(user_id).authentication.methods.get()
        found = []
        for item in (page.value if page else None) or []:
            kind = _TYPES.get((item.odata_type or "").rsplit(".", 1)[-1], "")
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
        return f"/users/{user_id}/authentication/{SEGMENTS[method.type]}/{method.id}"

    async def delete_method(self, user_id: str, method: AuthMethod) -> None:
        if method.type not in SEGMENTS:
            raise ValueError(f"{method.type} methods cannot be deleted through Graph")
        async with graph_errors(f"delete {method.type} method {method.id}"):
            await self._raw(Method.DELETE, self._v1 + self._method_url(user_id, method))

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
        requests: list[dict[str, Any]] = []
        previous: list[str] = []
        chunk: list[AuthMethod] = []
        for wave in waves:
            ids = []
            for method in wave:
                rid = str(len(requests))
                request: dict[str, Any] = {"id": rid, "method": "DELETE", "url": self._method_url(user_id, method)}
                if previous:
                    request["dependsOn"] = previous
                requests.append(request)
                chunk.append(method)
                ids.append(rid)
            previous = ids
        async with graph_errors(f"batch delete {len(chunk)} methods of {user_id}"):
            answer = await self._raw(Method.POST, f"{self._v1}/$batch", {"requests": requests})
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

    async def snapshot(self, key: str) -> UserSnapshot:
        user_path = f"/users/{quote(key, safe='@')}"
        requests = [
            {"id": "user", "method": "GET",
             "url": f"{user_path}?$select=id,userPrincipalName,displayName,accountEnabled,userType"},
            {"id": "memberOf", "method": "GET", "url": f"{user_path}/transitiveMemberOf"},
            {"id": "methods", "method": "GET", "url": f"{user_path}/authentication/methods"},
            {"id": "preferences", "method": "GET", "url": f"{user_path}/authentication/signInPreferences"},
        ]
        answers: dict[str, dict[str, Any]] = {}
        for attempt in range(self._max_retries + 1):
            todo = [r for r in requests if r["id"] not in answers]
            # signInPreferences is beta-only and a $batch serves one version, so the snapshot reads beta.
            async with graph_errors(f"read user {key}"):
                answer = await self._raw(Method.POST, f"{self._beta}/$batch", {"requests": todo})
            wait = 0.0
            for item in (answer or {}).get("responses", []):
                status = int(item.get("status", 500))
                if status < 300:
                    answers[item["id"]] = item.get("body") or {}
                    continue
                error = (item.get("body") or {}).get("error", {})
                failure = classify(status, error.get("code", ""), error.get("message", ""), item.get("headers"),
                                   what=f"read {item['id']} of {key}")
                if not isinstance(failure, GraphThrottledError | GraphTransientError) or attempt == self._max_retries:
                    raise failure
                retry_after = failure.retry_after_s if isinstance(failure, GraphThrottledError) else None
                wait = max(wait, retry_after or 1.0)
            if len(answers) == len(requests):
                break
            if wait > self._cap:
                raise GraphThrottledError(f"read user {key}: throttled", retry_after_s=wait, status=429)
            await asyncio.sleep(wait)
        body = answers["user"]
        user = DirectoryUser(id=body["id"], upn=body.get("userPrincipalName") or "",
                             display_name=body.get("displayName") or "",
                             enabled=body.get("accountEnabled") is not False,
                             user_type=body.get("userType") or "Member")
        groups: dict[str, str] = {}
        roles: dict[str, str] = {}
        for obj in answers["memberOf"].get("value", []):
            if obj.get("@odata.type", "").endswith(".group"):
                groups[obj["id"]] = obj.get("displayName") or ""
            elif obj.get("@odata.type", "").endswith(".directoryRole"):
                roles[obj.get("roleTemplateId") or obj["id"]] = obj.get("displayName") or ""
        methods = [_method_from_json(m) for m in answers["methods"].get("value", [])]
        default = answers["preferences"].get("userPreferredMethodForSecondaryAuthentication")
        return UserSnapshot(
            user=user,
            memberships=Memberships(group_ids=frozenset(groups), group_names=frozenset(groups.values()),
                                    role_names=frozenset(roles.values()), role_template_ids=frozenset(roles)),
            methods=[m for m in methods if m.type != "password"],
            default_method=str(default) if default and default != "none" else None)

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


def _method_from_json(item: dict[str, Any]) -> AuthMethod:
    kind = _TYPES.get(str(item.get("@odata.type", "")).rsplit(".", 1)[-1], "unknown")
    created = item.get("createdDateTime")
    return AuthMethod(type=kind, id=str(item.get("id", "")),
                      label=str(item.get("phoneType") or item.get("displayName") or ""),
                      created=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None)


def _to_json(model: Any) -> dict[str, Any]:
    """A typed SDK model back to Graph's JSON (camelCase), for rules written against the documented shape."""
    from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

    writer = JsonSerializationWriter()
    writer.write_object_value(None, model)
    data = json.loads(writer.get_serialized_content())
    return data if isinstance(data, dict) else {}


def _odata_time(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return value.replace("'", "''")
