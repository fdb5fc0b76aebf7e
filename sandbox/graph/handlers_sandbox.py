"""Sandbox control under /_sandbox/ (never under /v1.0): call log, latency, faults, clock, user actions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sandbox.graph import audit
from sandbox.graph.methods import REGISTER_TEXT, STRONG_AUTH_TYPES
from sandbox.graph.router import GraphError, Reply, Router, SimulatorState
from sandbox.graph.tenant import User, method_from_spec
from sandbox.graph.views import iso


def _user(sim: SimulatorState, uid: str) -> User:
    user = sim.tenant.user(uid)
    if user is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{uid}' does not exist.")
    return user


def calls(sim: SimulatorState, body: Any, query: dict[str, str]) -> dict[str, Any]:
    return {"calls": sim.calls}


def clear_calls(sim: SimulatorState, body: Any, query: dict[str, str]) -> Reply:
    sim.calls.clear()
    return Reply(204)


def config(sim: SimulatorState, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    if "latency_ms" in body:
        sim.latency_ms = float(body["latency_ms"])
    faults = body.get("faults", {})
    for name in ("rate_429", "rate_429_bare", "rate_503", "rate_504", "rate_reset", "rate_slow", "slow_ms"):
        if name in faults:
            setattr(sim.faults, name, float(faults[name]))
    if "seed" in faults:
        sim.rng.seed(int(faults["seed"]))
    if "max_page" in body:
        sim.max_page = max(0, int(body["max_page"]))
    throttle = body.get("throttle")
    if isinstance(throttle, dict):
        sim.throttle.enabled = bool(throttle.get("enabled", sim.throttle.enabled))
        scale = throttle.get("time_scale")
        sim.throttle.configure(throttle.get("limits", {}),
                               time_scale=float(scale) if isinstance(scale, int | float) and scale > 0 else None)
    return {"latency_ms": sim.latency_ms, "faults": {k: v for k, v in vars(sim.faults).items()}, "throttle": {
        "enabled": sim.throttle.enabled, "throttled": sim.throttle.throttled, "time_scale": sim.throttle.time_scale,
        "by_bucket": sim.throttle.by_bucket, "limits": {n: {"capacity": b.capacity, "window_s": b.window_s}
                                                        for n, b in sim.throttle.buckets.items()}}}


def clock(sim: SimulatorState, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    if "now" in body:
        sim.tenant.clock.set(datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00")))
    return {"now": iso(sim.tenant.clock.now())}


def register_method(sim: SimulatorState, body: dict[str, Any], query: dict[str, str], uid: str) -> Reply:
    """A user registers a method themselves (as at aka.ms/mysecurityinfo): the method and its audit events."""
    user = _user(sim, uid)
    when = datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00")) if body.get("time") else \
        sim.tenant.clock.now()
    spec = {k: v for k, v in body.items() if k not in {"ipAddress", "time", "makeDefault"}}
    spec["createdDateTime"] = iso(when)
    try:
        method = method_from_spec(user.upn, len(user.methods) + 1000, spec, when)
    except (ValueError, KeyError) as exc:
        raise GraphError(400, "badRequest", str(exc)) from None
    before = _strong_auth(user)
    user.methods = [m for m in user.methods if m.id != method.id] + [method]
    if body.get("makeDefault") or (user.default_method is None and method.type in {"phone", "microsoftAuthenticator",
                                                                                  "softwareOath"}):
        user.default_method = {"phone": "sms", "microsoftAuthenticator": "push", "softwareOath": "oath"}.get(
            method.type, user.default_method)
    user.last_updated = when
    ip = str(body.get("ipAddress", "203.0.113.10"))
    correlation = str(uuid.uuid4())
    text = REGISTER_TEXT[method.type]
    events = [audit.write(sim.tenant, when=when, service="Authentication Methods",
                          activity="User registered security info", user=user,
                          initiated_by=audit.initiated_by_user(user, ip), operation="Add",
                          result_reason=f"User registered {text}", correlation_id=correlation)]
    if method.type in {"phone", "microsoftAuthenticator", "softwareOath"}:
        modified = [audit.prop("StrongAuthenticationMethod", before, _strong_auth(user))]
        if method.type == "phone":
            modified.append(audit.prop("StrongAuthenticationUserDetails", None,
                                       [{"PhoneNumber": method.props.get("phoneNumber")}]))
        if method.type == "microsoftAuthenticator":
            modified.append(audit.prop("StrongAuthenticationPhoneAppDetail", None,
                                       [{"DeviceName": method.props.get("displayName", "Phone")}]))
        events.append(audit.write(sim.tenant, when=when, service="Core Directory", activity="Update user",
                                  user=user, initiated_by=audit.initiated_by_user(user, ip), category="UserManagement",
                                  modified=modified, correlation_id=correlation))
    return Reply(201, {"method": {"id": method.id, "type": method.type}, "events": events})


def _strong_auth(user: User) -> list[dict[str, Any]]:
    kinds: list[str] = []
    for m in user.methods:
        if m.type == "phone" and m.phone_type == "mobile":
            kinds += ["sms", "voiceMobile"]
        elif m.type == "phone" and m.phone_type == "office":
            kinds.append("voiceOffice")
        elif m.type == "phone":
            kinds.append("voiceAlternateMobile")
        elif m.type == "microsoftAuthenticator":
            kinds += ["push", "oath"]
        elif m.type == "softwareOath":
            kinds.append("oath")
    seen = list(dict.fromkeys(kinds))
    return [{"MethodType": STRONG_AUTH_TYPES[k], "Default": k == user.default_method} for k in seen]


def use_tap(sim: SimulatorState, body: dict[str, Any], query: dict[str, str], uid: str) -> dict[str, Any]:
    tap = _user(sim, uid).tap()
    if tap is None:
        raise GraphError(404, "itemNotFound", "The user has no Temporary Access Pass.")
    tap.used = True
    return {"id": tap.id, "used": True}


def add_sign_in(sim: SimulatorState, body: dict[str, Any], query: dict[str, str]) -> Reply:
    row = {"id": str(uuid.uuid4()), "createdDateTime": iso(sim.tenant.clock.now()), **body}
    sim.tenant.sign_ins.append(row)
    return Reply(201, row)


def add_risk_detection(sim: SimulatorState, body: dict[str, Any], query: dict[str, str]) -> Reply:
    row = {"id": str(uuid.uuid4()), "activityDateTime": iso(sim.tenant.clock.now()), "riskState": "atRisk",
           "detectionTimingType": "realtime", **body}
    sim.tenant.risk_detections.append(row)
    return Reply(201, row)


def mail(sim: SimulatorState, body: Any, query: dict[str, str]) -> dict[str, Any]:
    return {"mail": sim.tenant.mail}


def app(sim: SimulatorState, body: Any, query: dict[str, str]) -> dict[str, Any]:
    """mfaops's app and its granted application permissions: what the roles claim of a token says in a real
    tenant (the sandbox issues no token). Without a list in the tenant file, every permission is granted."""
    from sandbox.graph.permissions import ROUTES

    granted = sim.tenant.app_roles
    everything = sorted({p for perms in ROUTES.values() for p in perms})
    return {**sim.tenant.app, "appRoles": sorted(granted) if granted is not None else everything}


def register(router: Router) -> None:
    router.add("GET", "/app", app, control=True)
    router.add("GET", "/calls", calls, control=True)
    router.add("DELETE", "/calls", clear_calls, control=True)
    router.add("POST", "/config", config, control=True)
    router.add("POST", "/clock", clock, control=True)
    router.add("GET", "/clock", clock, control=True)
    router.add("POST", "/users/{uid}/register", register_method, control=True)
    router.add("POST", "/users/{uid}/useTap", use_tap, control=True)
    router.add("POST", "/signIns", add_sign_in, control=True)
    router.add("POST", "/riskDetections", add_risk_detection, control=True)
    router.add("GET", "/mail", mail, control=True)
