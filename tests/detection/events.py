"""Directory audit events shaped like the public samples in Microsoft's audit-log docs (directoryAudit
resource: activityDisplayName, loggedByService, initiatedBy, targetResources with modifiedProperties,
additionalDetails) and the Entra "Audit activities" vocabulary."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

# Three hours ago: inside the monitor's first look-back, with room for windows either side.
T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def by_user(upn: str, ip: str = "203.0.113.10", uid: str | None = None) -> dict[str, Any]:
    return {"app": None, "user": {"id": uid or str(uuid.uuid5(uuid.NAMESPACE_DNS, upn)),
                                  "displayName": upn.split("@")[0], "userPrincipalName": upn, "ipAddress": ip}}


def by_app(name: str = "Contoso Admin Tool", app_id: str = "11111111-2222-3333-4444-555555555555") -> dict[str, Any]:
    return {"user": None, "app": {"appId": app_id, "displayName": name, "servicePrincipalId": str(uuid.uuid4()),
                                  "servicePrincipalName": name}}


def target(upn: str, uid: str | None = None, modified: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"id": uid or str(uuid.uuid5(uuid.NAMESPACE_DNS, upn)), "displayName": upn.split("@")[0], "type": "User",
             "userPrincipalName": upn, "groupType": None, "modifiedProperties": modified or []}]


def prop(name: str, old: Any, new: Any) -> dict[str, Any]:
    return {"displayName": name, "oldValue": None if old is None else json.dumps(old),
            "newValue": None if new is None else json.dumps(new)}


def am(activity: str, reason: str, upn: str, *, minutes: float = 0, actor: dict[str, Any] | None = None,
       ip: str = "203.0.113.10", correlation: str | None = None, modified: list[dict[str, Any]] | None = None,
       uid: str | None = None) -> dict[str, Any]:
    """An Authentication Methods event ("User registered security info", "Admin registered security info"...)."""
    return {"id": f"Authentication Methods_{uuid.uuid4()}", "category": "UserManagement",
            "correlationId": correlation or str(uuid.uuid4()), "result": "success", "resultReason": reason,
            "activityDisplayName": activity, "activityDateTime": at(minutes),
            "loggedByService": "Authentication Methods", "operationType": "Add",
            "initiatedBy": actor or by_user(upn, ip, uid), "targetResources": target(upn, uid, modified),
            "additionalDetails": []}


def update_user(upn: str, *, old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None, minutes: float = 0,
                actor: dict[str, Any] | None = None, phones: tuple[list[str], list[str]] | None = None,
                correlation: str | None = None, extra: list[dict[str, Any]] | None = None,
                uid: str | None = None) -> dict[str, Any]:
    """Core Directory "Update user" with the StrongAuthenticationMethod old/new lists."""
    modified = [prop("StrongAuthenticationMethod", old, new)] if old is not None or new is not None else []
    if phones is not None:
        modified.append(prop("StrongAuthenticationUserDetails", [{"PhoneNumber": p} for p in phones[0]] or None,
                             [{"PhoneNumber": p, "AlternativePhoneNumber": None, "Email": None,
                               "VoiceOnlyPhoneNumber": None} for p in phones[1]]))
    modified += extra or []
    modified.append(prop("Included Updated Properties", None, "StrongAuthenticationMethod"))
    return {"id": f"Directory_{uuid.uuid4()}", "category": "UserManagement",
            "correlationId": correlation or str(uuid.uuid4()), "result": "success", "resultReason": "",
            "activityDisplayName": "Update user", "activityDateTime": at(minutes), "loggedByService": "Core Directory",
            "operationType": "Update", "initiatedBy": actor or by_user(upn, uid=uid),
            "targetResources": target(upn, uid, modified), "additionalDetails": [
                {"key": "UserType", "value": "Member"}]}


def admin_tap(admin: str, upn: str, *, minutes: float = 0, hours: float = 1, usage: str = "OneTime",
              actor: dict[str, Any] | None = None, long_names: bool = False) -> dict[str, Any]:
    start = T0 + timedelta(minutes=minutes)
    end = start + timedelta(hours=hours)
    pre = "TemporaryAccessPass.TemporaryAccessPass." if long_names else "TemporaryAccessPass."
    end_name = "EndTime" if long_names else "EndDateTime"
    start_name = "StartTime" if long_names else "StartDateTime"
    modified = [prop(pre + "Id", None, str(uuid.uuid4())), prop(pre + start_name, None, start.isoformat()),
                prop(pre + end_name, None, end.isoformat()), prop(pre + "AccessPassUsage", None, usage)]
    return am("Admin registered security info", "Admin registered temporary access pass method for user", upn,
              minutes=minutes, actor=actor or by_user(admin, "198.51.100.7"), modified=modified)


def sspr(upn: str, *, minutes: float = 0, ip: str = "203.0.113.10") -> dict[str, Any]:
    return {"id": f"SSPR_{uuid.uuid4()}", "category": "UserManagement", "correlationId": str(uuid.uuid4()),
            "result": "success", "resultReason": "User successfully reset password",
            "activityDisplayName": "Reset password (self-service)", "activityDateTime": at(minutes),
            "loggedByService": "Self-service Password Management", "operationType": "Update",
            "initiatedBy": by_user(upn, ip), "targetResources": target(upn), "additionalDetails": []}


def per_user_off(upn: str, admin: str, *, minutes: float = 0, legacy: bool = False) -> dict[str, Any]:
    if legacy:
        event = update_user(upn, old=None, new=None, minutes=minutes, actor=by_user(admin))
        event["activityDisplayName"] = "Disable Strong Authentication"
        event["targetResources"][0]["modifiedProperties"] = []
        return event
    return update_user(upn, old=None, new=None, minutes=minutes, actor=by_user(admin), extra=[
        prop("StrongAuthenticationRequirement", [{"RelyingParty": "*", "State": 1, "RememberDevicesNotIssuedBefore":
                                                  "2026-01-01T00:00:00Z"}], [])])


SMS = {"MethodType": 1, "Default": True}
VOICE = {"MethodType": 0, "Default": False}
PUSH = {"MethodType": 6, "Default": False}
OATH = {"MethodType": 7, "Default": False}
