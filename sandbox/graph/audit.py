"""Directory audit events as Entra writes them for the changes the simulator makes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sandbox.graph.tenant import Tenant, User


def initiated_by_app(tenant: Tenant) -> dict[str, Any]:
    return {"user": None, "app": {"appId": tenant.app["appId"], "displayName": tenant.app["displayName"],
                                  "servicePrincipalId": tenant.app["servicePrincipalId"],
                                  "servicePrincipalName": tenant.app["displayName"]}}


def initiated_by_user(user: User, ip: str) -> dict[str, Any]:
    return {"app": None, "user": {"id": user.id, "displayName": user.display_name,
                                  "userPrincipalName": user.upn, "ipAddress": ip}}


def prop(name: str, old: Any, new: Any) -> dict[str, str | None]:
    return {"displayName": name, "oldValue": json.dumps(old) if old is not None else None,
            "newValue": json.dumps(new) if new is not None else None}


def write(tenant: Tenant, *, when: datetime, service: str, activity: str, user: User, initiated_by: dict[str, Any],
          result_reason: str = "", category: str = "UserManagement", operation: str = "Update",
          modified: list[dict[str, Any]] | None = None, correlation_id: str | None = None) -> dict[str, Any]:
    event = {
        "id": f"{service.replace(' ', '')}_{uuid.uuid4()}",
        "category": category,
        "correlationId": correlation_id or str(uuid.uuid4()),
        "result": "success",
        "resultReason": result_reason,
        "activityDisplayName": activity,
        "activityDateTime": when.isoformat().replace("+00:00", "Z"),
        "loggedByService": service,
        "operationType": operation,
        "initiatedBy": initiated_by,
        "targetResources": [{"id": user.id, "displayName": user.display_name, "type": "User",
                             "userPrincipalName": user.upn, "groupType": None,
                             "modifiedProperties": modified or []}],
        "additionalDetails": [],
    }
    tenant.audits.append(event)
    return event
