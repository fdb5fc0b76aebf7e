"""One directory audit event -> one registration record (or nothing, when the event changes no method).

Unknown shapes are not errors: ``normalise`` returns ``None`` for what it does not recognise and the caller
counts it; a field of the wrong type is read as absent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.detection.vocabulary import (
    DEFAULT,
    DELETED,
    PER_USER_MFA_OFF,
    REGISTERED,
    SSPR,
    STRONG_AUTH_METHOD_TYPES,
    UPDATED,
    method_from_text,
)
from shared.isotime import iso, parse_time

__all__ = ["PhoneHasher", "Registration", "TapFacts", "iso", "normalise", "parse_time"]


@dataclass(frozen=True, slots=True)
class TapFacts:
    start: datetime | None
    end: datetime | None
    usage: str  # OneTime | Multiple | ""


@dataclass(slots=True)
class Registration:
    event_id: str
    time: datetime
    activity: str
    service: str
    kind: str  # registered | updated | deleted | default | per_user_mfa_off | sspr
    actor: str  # a UPN, "app:<name>", or "" when Microsoft's own back end did it
    actor_id: str
    actor_kind: str  # user | app | none
    target: str  # the target's UPN (its id when the event names no UPN)
    target_id: str
    ip: str
    correlation_id: str
    methods_added: list[str] = field(default_factory=list)
    methods_removed: list[str] = field(default_factory=list)
    default_changed: bool = False
    phones: list[tuple[str, str]] = field(default_factory=list)  # (keyed hash, country code) of added numbers
    tap: TapFacts | None = None
    app_id: str = ""
    merged_away: bool = False  # folded into its Authentication Methods twin (the correlator drops it)

    @property
    def by_admin(self) -> bool:
        """Someone other than the target made the change (an admin, or an app such as mfaops)."""
        if self.actor_kind == "app":
            return True
        return self.actor_kind == "user" and self.actor_id.lower() != self.target_id.lower() and \
            self.actor.lower() != self.target.lower()

    def to_event(self) -> dict[str, Any]:
        return {"kind": "event", "event_id": self.event_id, "time": iso(self.time), "activity": self.activity,
                "actor": self.actor, "target": self.target, "ip": self.ip, "methods_added": self.methods_added,
                "methods_removed": self.methods_removed, "default_changed": self.default_changed}


RELEVANT = REGISTERED | UPDATED | DELETED | DEFAULT | PER_USER_MFA_OFF | SSPR | {"update user"}


class PhoneHasher:
    """Phone numbers are kept only as a keyed hash (the shared-phone rule compares hashes) and a country code."""

    def __init__(self, key: bytes) -> None:
        self._key = key or b"mfaops-phone"

    def __call__(self, number: str) -> tuple[str, str]:
        digits = re.sub(r"\D", "", number)
        digest = hmac.new(self._key, digits.encode(), hashlib.sha256).hexdigest()[:32]
        return digest, country_code(number)


def country_code(number: str) -> str:
    """'+1 4255550100' -> '+1' (Graph writes '+{code} {number}'); without the space, the leading '+digits'."""
    text = number.strip()
    if not text.startswith("+"):
        return ""
    head = text.split(" ", 1)[0]
    return head if " " in text else head[:4]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        # Entra sometimes writes a JSON list inside a JSON string.
        return None


def _props(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], str, str]:
    """The first target's modifiedProperties by name, plus its id and UPN."""
    targets = event.get("targetResources")
    target = targets[0] if isinstance(targets, list) and targets and isinstance(targets[0], dict) else {}
    props: dict[str, Any] = {}
    modified = target.get("modifiedProperties")
    if isinstance(modified, list):
        for prop in modified:
            if isinstance(prop, dict) and isinstance(prop.get("displayName"), str):
                props[prop["displayName"]] = prop
    details: dict[str, str] = {}
    extra = event.get("additionalDetails")
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                details[item["key"]] = _text(item.get("value"))
    return props, details, _text(target.get("id")), _text(target.get("userPrincipalName"))


def _strong_auth(value: Any) -> list[dict[str, Any]]:
    parsed = _json(value)
    if isinstance(parsed, str):
        parsed = _json(parsed)
    return [m for m in parsed if isinstance(m, dict)] if isinstance(parsed, list) else []


def _method_types(methods: list[dict[str, Any]]) -> set[str]:
    names = set()
    for m in methods:
        kind = m.get("MethodType")
        if isinstance(kind, int) and kind in STRONG_AUTH_METHOD_TYPES:
            names.add(STRONG_AUTH_METHOD_TYPES[kind])
    return names


def _default_of(methods: list[dict[str, Any]]) -> Any:
    return next((m.get("MethodType") for m in methods if m.get("Default") is True), None)


def _phones(prop: dict[str, Any] | None, hasher: PhoneHasher) -> list[tuple[str, str]]:
    if not prop:
        return []
    def numbers(raw: Any) -> set[str]:
        parsed = _json(raw)
        found: set[str] = set()
        for row in parsed if isinstance(parsed, list) else [parsed] if isinstance(parsed, dict) else []:
            if isinstance(row, dict):
                for key in ("PhoneNumber", "AlternativePhoneNumber", "VoiceOnlyPhoneNumber"):
                    value = row.get(key)
                    if isinstance(value, str) and value.strip():
                        found.add(value.strip())
        return found
    added = numbers(prop.get("newValue")) - numbers(prop.get("oldValue"))
    return [hasher(n) for n in sorted(added)]


def _suffix(props: dict[str, Any], suffix: str) -> str:
    """A TAP property by the end of its name: tenants write 'TemporaryAccessPass.EndDateTime' or longer names
    such as 'TemporaryAccessPass.TemporaryAccessPass.EndTime'."""
    for name, prop in props.items():
        if name.lower().startswith("temporaryaccesspass") and name.lower().endswith(suffix):
            value = _json(prop.get("newValue"))
            return value if isinstance(value, str) else _text(prop.get("newValue")).strip('"')
    return ""


def normalise(event: Any, hasher: PhoneHasher) -> Registration | None:
    if not isinstance(event, dict):
        return None
    activity = _text(event.get("activityDisplayName"))
    lowered = activity.lower()
    service = _text(event.get("loggedByService"))
    if lowered not in RELEVANT and not (service == "Self-service Password Management" and "reset" in lowered):
        return None  # most of an audit log is other directory activity: leave before reading anything else
    if _text(event.get("result")).lower() not in {"", "success"}:
        return None  # a failed attempt changed nothing
    when = parse_time(event.get("activityDateTime"))
    event_id = _text(event.get("id"))
    if when is None or not event_id:
        return None
    props, details, target_id, target_upn = _props(event)
    reason = _text(event.get("resultReason"))
    kind = ""
    added: list[str] = []
    removed: list[str] = []
    default_changed = False
    phones: list[tuple[str, str]] = []
    tap: TapFacts | None = None
    if lowered in REGISTERED or lowered in UPDATED or lowered in DELETED or lowered in DEFAULT:
        kind = ("registered" if lowered in REGISTERED else "updated" if lowered in UPDATED
                else "deleted" if lowered in DELETED else "default")
        method = method_from_text(reason) or method_from_text(activity)
        if lowered == "add passkey (device-bound)":
            method = "passKeyDeviceBound"
        if kind == "deleted" and method:
            removed.append(method)
        elif kind == "default":
            default_changed = True
        elif method:
            added.append(method)
        if method == "temporaryAccessPass" or any(n.lower().startswith("temporaryaccesspass") for n in props):
            tap = TapFacts(parse_time(_suffix(props, "startdatetime") or _suffix(props, "starttime")),
                           parse_time(_suffix(props, "enddatetime") or _suffix(props, "endtime")),
                           _suffix(props, "accesspassusage") or _suffix(props, "usage"))
            if kind != "deleted" and "temporaryAccessPass" not in added:
                added.append("temporaryAccessPass")
    elif lowered == "update user":
        sam = props.get("StrongAuthenticationMethod")
        req = props.get("StrongAuthenticationRequirement")
        if sam:
            old, new = _strong_auth(sam.get("oldValue")), _strong_auth(sam.get("newValue"))
            before, after = _method_types(old), _method_types(new)
            added, removed = sorted(after - before), sorted(before - after)
            default_changed = bool(old and new and _default_of(old) != _default_of(new))
            kind = "registered" if added else "deleted" if removed else "default" if default_changed else ""
        phones = _phones(props.get("StrongAuthenticationUserDetails"), hasher)
        if phones and not kind:
            kind, added = "updated", ["mobilePhone"]
        if req and _per_user_off(req):
            kind = kind or "per_user_mfa_off"
        # An Authenticator token refresh (StrongAuthenticationPhoneAppDetail without a new DeviceToken) and
        # other attribute edits change no method: not a registration.
        if not kind:
            return None
    elif lowered in PER_USER_MFA_OFF:
        kind = "per_user_mfa_off"
    elif lowered in SSPR or (service.lower() == "self-service password management" and "reset" in lowered):
        if _text(event.get("result")).lower() == "failure":
            return None
        kind = "sspr"
    else:
        return None
    actor, actor_id, actor_kind, ip, app_id = _initiator(event.get("initiatedBy"))
    ip = ip or details.get("ipAddress", "")
    return Registration(event_id=event_id, time=when, activity=activity, service=service, kind=kind,
                        actor=actor, actor_id=actor_id, actor_kind=actor_kind, target=target_upn or target_id,
                        target_id=target_id, ip=ip, correlation_id=_text(event.get("correlationId")),
                        methods_added=added, methods_removed=removed, default_changed=default_changed,
                        phones=phones, tap=tap, app_id=app_id)


def _per_user_off(prop: dict[str, Any]) -> bool:
    new = _json(prop.get("newValue"))
    old = _json(prop.get("oldValue"))
    def states(value: Any) -> list[Any]:
        rows = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        return [r.get("State") for r in rows if isinstance(r, dict)]
    return (not states(new) or 0 in states(new)) and bool(states(old)) and 0 not in states(old)


def _initiator(value: Any) -> tuple[str, str, str, str, str]:
    """(actor, actor id, kind, ip, app id)."""
    if not isinstance(value, dict):
        return "", "", "none", "", ""
    user = value.get("user")
    if isinstance(user, dict) and (user.get("userPrincipalName") or user.get("id")):
        return (_text(user.get("userPrincipalName")) or _text(user.get("id")), _text(user.get("id")), "user",
                _text(user.get("ipAddress")), "")
    app = value.get("app")
    if isinstance(app, dict) and (app.get("displayName") or app.get("appId") or app.get("servicePrincipalId")):
        name = _text(app.get("displayName")) or _text(app.get("appId"))
        return f"app:{name}", _text(app.get("servicePrincipalId")), "app", "", _text(app.get("appId"))
    return "", "", "none", "", ""
