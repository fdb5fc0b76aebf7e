"""Policies: the TAP and authentication methods policies (authenticationmethodspolicy-get,
temporaryaccesspassauthenticationmethodconfiguration-get) and Conditional Access policies and named locations
(conditionalaccessroot-list-policies, -post-policies, conditionalaccesspolicy-update,
conditionalaccessroot-list-namedlocations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiota_abstractions.method import Method

from shared.graph.errors import graph_errors
from shared.graph.port import (
    TapPolicy,
)

if TYPE_CHECKING:

    pass

from shared.graph.sdk.base import SdkBase, _to_json


class Policies(SdkBase):
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
