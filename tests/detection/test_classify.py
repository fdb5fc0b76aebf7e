"""The stream rules and the offline classifier on realistic events: every rule hit and its near miss, the noise
that must not alert, twins folded into one registration, and the input forms `monitor classify` reads."""

from __future__ import annotations

import io
import json
from typing import Any

from shared.detection.classify import ClassifyStats, InputError, classify
from shared.detection.events import PhoneHasher
from shared.detection.rules import RuleConfig
from shared.settings import load_settings
from tests.detection.events import (
    OATH,
    PUSH,
    SMS,
    VOICE,
    admin_tap,
    am,
    by_app,
    by_user,
    per_user_off,
    sspr,
    update_user,
)

ALICE = "alice@contoso.example"


def run(events: list[dict[str, Any]], **settings: str) -> list[dict[str, Any]]:
    config = RuleConfig.from_settings(load_settings({"BREAK_GLASS_UPNS": "bg1@contoso.example", **settings}))
    blob = "\n".join(json.dumps(e) for e in events).encode()
    return list(classify(io.BytesIO(blob), config, PhoneHasher(b"k")))


def rules(lines: list[dict[str, Any]]) -> list[str]:
    return [line["rule"] for line in lines if line["kind"] == "finding"]


def events_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["kind"] == "event"]


def test_a_self_registration_is_one_event_in_the_methods_registered_vocabulary() -> None:
    lines = run([am("User registered security info", "User registered Mobile Phone SMS", ALICE)])
    [event] = events_of(lines)
    assert set(event) == {"kind", "event_id", "time", "activity", "actor", "target", "ip", "methods_added",
                          "methods_removed", "default_changed"}
    assert event["methods_added"] == ["mobilePhone"] and event["actor"] == ALICE and event["ip"] == "203.0.113.10"
    assert rules(lines) == []


def test_result_reasons_map_to_graph_method_names() -> None:
    cases = {"User registered Authenticator App with Notification and Code": "microsoftAuthenticatorPush",
             "User registered FIDO2 security key": "fido2SecurityKey", "User registered Office Phone": "officePhone",
             "User registered Alternate Mobile Phone": "alternateMobilePhone", "User registered Email": "email",
             "User registered Windows Hello for Business": "windowsHelloForBusiness",
             "User registered Software OATH token": "softwareOneTimePasscode",
             "User registered Passkey (Microsoft Authenticator)": "passKeyDeviceBoundAuthenticator"}
    for reason, name in cases.items():
        [event] = events_of(run([am("User registered security info", reason, ALICE)]))
        assert event["methods_added"] == [name], reason
    [deleted] = events_of(run([am("User deleted security info", "User deleted Mobile Phone SMS", ALICE)]))
    assert deleted["methods_removed"] == ["mobilePhone"] and deleted["methods_added"] == []
    [default] = events_of(run([am("User changed default security info", "User changed default security info",
                                  ALICE)]))
    assert default["default_changed"] is True


def test_update_user_is_diffed_by_method_type() -> None:
    lines = run([update_user(ALICE, old=[SMS, VOICE], new=[SMS, VOICE, PUSH, OATH])])
    [event] = events_of(lines)
    assert event["methods_added"] == ["microsoftAuthenticatorPush", "softwareOneTimePasscode"]
    default = {"MethodType": 6, "Default": True}
    [changed] = events_of(run([update_user(ALICE, old=[SMS, PUSH], new=[{"MethodType": 1, "Default": False},
                                                                          default])]))
    assert changed["default_changed"] is True and changed["methods_added"] == []


def test_noise_is_not_an_event() -> None:
    token_refresh = update_user(ALICE, old=None, new=None, extra=[{
        "displayName": "StrongAuthenticationPhoneAppDetail", "oldValue": json.dumps([{"DeviceToken": "t1"}]),
        "newValue": json.dumps([{"DeviceToken": "t1", "LastAuthenticatedTimestamp": "2026-11-30"}])}])
    lines = run([am("User reviewed security info", "User reviewed security info", ALICE),
                 am("User started security info registration", "", ALICE), token_refresh,
                 {**am("User registered security info", "User registered Mobile Phone SMS", ALICE),
                  "result": "failure"}])
    assert lines == []


def test_the_update_user_twin_is_folded_into_its_authentication_methods_event() -> None:
    corr = "c0ffee00-0000-4000-8000-000000000001"
    lines = run([am("User registered security info", "User registered Mobile Phone SMS", ALICE, correlation=corr),
                 update_user(ALICE, old=[], new=[SMS, VOICE], correlation=corr, minutes=0.02,
                             phones=([], ["+1 4255550100"]))])
    assert len(events_of(lines)) == 1 and events_of(lines)[0]["activity"] == "User registered security info"
    # Twins written in the other order, without a shared correlation id, seconds apart: still one.
    other = run([update_user(ALICE, old=[], new=[SMS], minutes=0), am("User registered security info",
                 "User registered Mobile Phone SMS", ALICE, minutes=0.1)])
    assert len(events_of(other)) == 1
    # A phone-only registration that Entra wrote only as "Update user" is still a registration.
    alone = run([update_user(ALICE, old=[], new=[SMS])])
    assert events_of(alone)[0]["methods_added"] == ["mobilePhone"]


def test_break_glass_changes_are_critical_and_other_targets_are_not() -> None:
    lines = run([am("Admin registered security info", "Admin registered phone method for user", "bg1@contoso.example",
                    actor=by_user("admin@contoso.example"))])
    [finding] = [line for line in lines if line["kind"] == "finding" and line["rule"] == "break-glass-target"]
    assert finding["severity"] == "critical" and finding["target"] == "bg1@contoso.example"
    assert set(finding) == {"kind", "event_id", "rule", "severity", "target", "summary"}
    assert "break-glass-target" not in rules(run([am("Admin registered security info",
                                                     "Admin registered phone method for user", "bg2@contoso.example",
                                                     actor=by_user("admin@contoso.example"))]))


def test_a_tap_an_admin_created_alerts_unless_mfaops_created_it() -> None:
    assert "admin-tap-created" in rules(run([admin_tap("helpdesk@contoso.example", ALICE)]))
    own = admin_tap("x", ALICE, actor=by_app("mfaops", "aaaaaaaa-0000-4000-8000-000000000001"))
    assert "admin-tap-created" not in rules(run([own], MFAOPS_APP_ID="aaaaaaaa-0000-4000-8000-000000000001"))
    assert "admin-tap-created" in rules(run([own]))  # another app's TAP is an admin's TAP


def test_a_tap_that_breaks_policy_is_named_with_why() -> None:
    long_lines = run([admin_tap("h@contoso.example", ALICE, hours=72, long_names=True)])
    [finding] = [f for f in long_lines if f.get("rule") == "tap-policy"]
    assert "over TAP_MAX_AGE_HOURS" in finding["summary"]
    multi = run([admin_tap("h@contoso.example", ALICE, usage="Multiple")], TAP_ALLOW_MULTI_USE="false")
    assert "multi-use" in next(f["summary"] for f in multi if f.get("rule") == "tap-policy")
    near = run([admin_tap("h@contoso.example", ALICE, hours=8, usage="Multiple")])  # multi-use allowed by default
    assert "tap-policy" not in rules(near)


def test_phone_rules_use_a_keyed_hash_and_the_country_code() -> None:
    foreign = update_user(ALICE, old=[], new=[SMS], phones=([], ["+7 9161234567"]))
    lines = run([foreign], ALLOWED_PHONE_COUNTRY_CODES="+1,44")
    assert "phone-country" in rules(lines)
    assert "9161234567" not in json.dumps(lines)  # the number itself is never written out
    home = update_user(ALICE, old=[], new=[SMS], phones=([], ["+44 7700900123"]))
    assert "phone-country" not in rules(run([home], ALLOWED_PHONE_COUNTRY_CODES="+1,44"))
    shared = [update_user(f"u{i}@contoso.example", old=[], new=[SMS], phones=([], ["+1 4255550199"]), minutes=i)
              for i in range(2)]
    assert rules(run(shared)).count("shared-phone") == 1
    same_user_twice = [update_user(ALICE, old=[], new=[SMS], phones=([], ["+1 4255550199"]), minutes=i)
                       for i in range(2)]
    assert "shared-phone" not in rules(run(same_user_twice))


def test_untrusted_ip_only_when_ranges_are_set() -> None:
    event = am("User registered security info", "User registered Mobile Phone SMS", ALICE, ip="192.0.2.50")
    assert "untrusted-ip" in rules(run([event], TRUSTED_IP_RANGES="203.0.113.0/24"))
    inside = am("User registered security info", "User registered Mobile Phone SMS", ALICE, ip="203.0.113.77")
    assert "untrusted-ip" not in rules(run([inside], TRUSTED_IP_RANGES="203.0.113.0/24"))
    assert "untrusted-ip" not in rules(run([event]))


def test_a_burst_from_one_ip_across_users_alerts_once_at_the_threshold() -> None:
    burst = [am("User registered security info", "User registered Mobile Phone SMS", f"u{i}@contoso.example",
                ip="198.51.100.99", minutes=i) for i in range(7)]
    assert rules(run(burst)).count("ip-burst") == 1
    assert "ip-burst" not in rules(run(burst[:4]))
    spread = [am("User registered security info", "User registered Mobile Phone SMS", f"u{i}@contoso.example",
                 ip="198.51.100.99", minutes=i * 30) for i in range(5)]  # 5 users over 2 hours: not a burst
    assert "ip-burst" not in rules(run(spread))


def test_one_actor_changing_many_users() -> None:
    admin = by_user("rogue.admin@contoso.example", "198.51.100.8")
    changes = [am("Admin deleted security info", "Admin deleted phone method for user", f"u{i}@contoso.example",
                  actor=admin, minutes=i) for i in range(5)]
    assert rules(run(changes)).count("one-actor-many-users") == 1
    assert "one-actor-many-users" not in rules(run(changes[:4]))


def test_per_user_mfa_switched_off_both_ways_entra_records_it() -> None:
    assert "per-user-mfa-disabled" in rules(run([per_user_off(ALICE, "admin@contoso.example")]))
    assert "per-user-mfa-disabled" in rules(run([per_user_off(ALICE, "admin@contoso.example", legacy=True)]))


def test_registration_then_self_service_password_reset_within_the_window() -> None:
    reg = am("User registered security info", "User registered Mobile Phone SMS", ALICE, minutes=0)
    assert "registration-then-sspr" in rules(run([reg, sspr(ALICE, minutes=60)]))
    assert "registration-then-sspr" in rules(run([sspr(ALICE, minutes=60), reg]))  # newest first, as Graph lists
    assert "registration-then-sspr" not in rules(run([reg, sspr(ALICE, minutes=5 * 60)]))
    assert "registration-then-sspr" not in rules(run([reg, sspr("bob@contoso.example", minutes=60)]))


def test_microsofts_own_back_end_is_not_an_admin() -> None:
    event = am("User registered security info", "User registered Mobile Phone SMS", ALICE,
               actor={"user": None, "app": None})
    [line] = run([event])
    assert line["actor"] == ""


def test_input_forms_and_malformed_input() -> None:
    events = [am("User registered security info", "User registered Mobile Phone SMS", f"u{i}@contoso.example",
                 minutes=i * 10) for i in range(3)]
    config = RuleConfig.from_settings(load_settings({}))
    forms = [json.dumps({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
                         "value": events, "@odata.nextLink": "https://graph.microsoft.com/v1.0/next"}),
             json.dumps(events, indent=2), "\n".join(json.dumps(e) for e in events) + "\n"]
    for form in forms:
        out = list(classify(io.BytesIO(form.encode()), config, PhoneHasher(b"k")))
        assert len(events_of(out)) == 3, form[:40]
    stats = ClassifyStats()
    list(classify(io.BytesIO(b'{"id": "x", "activityDisplayName": "Add user"}\n[1]\n'), config, PhoneHasher(b"k"),
                  stats))
    assert stats.read == 2 and stats.unknown == 1
    for bad, where in ((b'{"id": 1}\n{"id": \n', "line 2"), (b'[{"id": 1} {"id": 2}]', "offset"),
                       (b"garbage", "offset 0")):
        try:
            list(classify(io.BytesIO(bad), config, PhoneHasher(b"k")))
        except InputError as exc:
            assert where in str(exc)
        else:
            raise AssertionError(f"no error for {bad!r}")
