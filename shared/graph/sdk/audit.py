"""Reports, audit and sign-ins: the registration report (authenticationmethodsroot-list-userregistrationdetails),
the directory audit log (directoryaudit-list), sign-ins (signin-list), risky users and risk detections
(riskyuser-list, riskdetection-list)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiota_abstractions.method import Method

from shared.graph.errors import graph_errors
from shared.graph.port import (
    Page,
)

if TYPE_CHECKING:

    pass

from shared.graph.sdk.base import AUDIT_SERVICES, SdkBase, _odata_time, _quote, _to_json


class AuditAndSignIns(SdkBase):
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

    async def registered_with(self, *methods: str) -> list[dict[str, Any]]:
        """Rows whose methodsRegistered holds any of ``methods`` (every spelling of a method in one request:
        the filters are or'ed)."""
        from urllib.parse import urlencode

        clause = " or ".join(f"methodsRegistered/any(m: m eq '{_quote(m)}')" for m in methods)
        # No $top: the List page documents none (the report pages by itself), and Graph refuses one.
        query = urlencode({"$filter": clause})
        return await self._pages(f"{self._v1}/reports/authenticationMethods/userRegistrationDetails?{query}",
                                 "read the registration details report")

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

    async def sign_ins_since(self, since: datetime) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query = urlencode({"$filter": f"createdDateTime ge {_odata_time(since)}", "$top": "999"})
        # reportOnlyFailure and reportOnlyInterrupted are evolvable enum members: without this header Graph
        # answers unknownFutureValue in their place.
        return await self._pages(f"{self._v1}/auditLogs/signIns?{query}", "read sign-in logs",
                                 headers={"Prefer": "include-unknown-enum-members"})
