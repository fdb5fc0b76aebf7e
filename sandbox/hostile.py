"""Seeded generators of hostile input for every door mfaops has (a failure replays from its seed): webhook bodies
and headers, bulk-reset CSV files, cleanup policy YAML, audit-event files for `monitor classify`, and Graph answers
of unexpected shape. The chaos bench and the tests draw from the same generators."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from shared.reset.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

ODD = ["", " ", "\x00", "\u200b", "é", "ß", "\ud7ff", "💥", "\n", "\r\n", "\\", '"', "'", "/", "?", "#", "%00",
       "../", "<script>", "${jndi:x}", "9" * 400, "-1", "1e309", "NaN", "v1=", "v1=,v1=", "sha256=", "V1=", "=" * 60,
       "\u202e", "\udcff", "\ufeff", "\U0001d518\U0001d52b\U0001d526", "A" * 5000]


def ticket(number: str = "RITM0010001", sys_id: str = "a1" * 16, user: str = "ada.lovelace@contoso.example",
           table: str = "sc_req_item", **extra: Any) -> dict[str, Any]:
    return {"table": table, "sys_id": sys_id, "number": number, "action": "reset_mfa", "user": user,
            "requested_by": "agent@contoso.example", **extra}


def odd_string(rng: random.Random) -> str:
    return "".join(rng.choice(ODD) for _ in range(rng.randint(0, 4)))


def odd_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 10**30, 1.5, -0.0])
    if kind in (2, 3, 4):
        return odd_string(rng)
    if kind == 5:
        return [odd_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {odd_string(rng) or "k": odd_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


# -- the webhook ----------------------------------------------------------------------------------------------
def hostile_body(rng: random.Random) -> bytes:
    shape = rng.randint(0, 9)
    if shape == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    if shape == 1:
        depth = rng.choice([9, 50, 1000, 20000])
        return b"[" * depth + b"]" * depth
    if shape == 2:
        return b'{"n": ' + b"7" * rng.choice([33, 4400, 60000]) + b"}"
    if shape == 3:
        return _dumps(odd_json(rng)).encode()
    if shape == 4:
        return _dumps(ticket(**{rng.choice(["user", "requested_by", "number", "sys_id", "table", "action"]):
                                odd_json(rng)})).encode()
    if shape == 5:
        return _dumps(ticket())[: rng.randint(0, 60)].encode()
    if shape == 6:
        return _dumps(ticket(user=rng.choice(["ada@contoso.example\u202e", "ADA@contoso.example ",
                                              "ada@contoso.example\x00", "a" * 65 + "@contoso.example"]))).encode()
    if shape == 7:
        return "\ufeff".encode() + _dumps(ticket()).encode()
    if shape == 8:
        return _dumps(ticket()).encode("utf-16")
    return _dumps({**ticket(), "extra": "x" * rng.randint(0, 70_000)}).encode()


def hostile_headers(rng: random.Random, secret: str, body: bytes) -> tuple[dict[str, str], bool]:
    """Headers, and whether they carry a valid, fresh signature over this exact body."""
    now = int(time.time())
    shape = rng.randint(0, 9)
    content_type = rng.choice(["application/json", "application/json; charset=utf-8", "application/notjson",
                               "multipart/form-data; boundary=json", "text/plain", "", "APPLICATION/JSON"])
    headers = {"Content-Type": content_type} if content_type else {}
    if shape == 0:
        return headers, False
    if shape == 1:
        headers.update({TIMESTAMP_HEADER: odd_string(rng), SIGNATURE_HEADER: odd_string(rng)})
        return headers, False
    if shape == 2:  # stale or future, correctly signed
        stamp = now + rng.choice([-1, 1]) * rng.randint(301, 10**6)
        headers.update({TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, body)})
        return headers, False
    if shape == 3:  # a valid signature over another body
        headers.update({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret, now, body + b" ")})
        return headers, False
    if shape == 4:  # signature variants
        good = sign(secret, now, body)
        variant = rng.choice([good[3:], good.upper(), " " + good.replace("=", " = "), "v2=" + good[3:],
                              "sha256=" + good[3:], good + "x", good[:-2], good.replace("+", "-")])
        headers.update({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: variant})
        return headers, False
    if shape == 5:  # signed with another secret
        headers.update({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret + "x", now, body)})
        return headers, False
    stamp = now + rng.randint(-299, 299)
    headers.update({TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, body)})
    return headers, True


# -- files an operator hands the CLI --------------------------------------------------------------------------
def hostile_csv(rng: random.Random) -> str:
    shape = rng.randint(0, 8)
    if shape == 7:  # a field over Python's CSV field limit (131,072), in the header or a row
        big = '"' + "x" * rng.choice([131_073, 200_000]) + '"'
        return rng.choice([big + "\n", "user,reason\n" + big + ",r\n"])
    if shape == 8:  # a big campaign: thousands of rows
        return "user\n" + "".join(f"user{i:05d}@contoso.example\n" for i in range(rng.randint(1000, 3000)))
    if shape == 0:
        return odd_string(rng)
    if shape == 1:
        rows = [",".join(odd_string(rng) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(0, 30))]
        return "\n".join(rows)
    if shape == 2:
        return "user\n" + "\n".join(rng.choice(["ada@contoso.example", '"a,b"@x', '"', "=cmd|' /C calc'!A0",
                                                "x" * 3000, "\ufeffada@contoso.example"]) for _ in range(20))
    if shape == 3:
        return "user,reason\n" + '"unterminated\n' * rng.randint(1, 50)
    if shape == 4:
        return "\x00" * rng.randint(1, 500)
    if shape == 5:
        return "user\r\n" + "\r".join(f"u{i}@contoso.example" for i in range(rng.randint(0, 2000)))
    return "user;reason\n" + "\n".join(f"{odd_string(rng)};{odd_string(rng)}" for _ in range(10))


def hostile_yaml(rng: random.Random) -> str:
    shape = rng.randint(0, 11)
    if shape == 9:  # duplicate keys (PyYAML would keep the last silently)
        return "max_removals_per_run: 1\nmax_removals_per_run: 100000\nrules:\n  - {id: a, kind: guest}\n"
    if shape == 10:  # a number of thousands of digits
        return "max_removals_per_run: " + "9" * rng.choice([4301, 5000, 20000]) + "\nrules:\n  - {id: a, kind: guest}\n"
    if shape == 11:  # a lone surrogate, escaped, in a group name
        return ('max_removals_per_run: 5\nexclude_groups: ["\\udc80Admins"]\nrules:\n'
                '  - {id: a, kind: guest, include_groups: ["\\ud800"]}\n')
    if shape == 0:
        return odd_string(rng)
    if shape == 1:  # a billion laughs
        return "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" \
               "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nrules: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    if shape == 2:
        return "rules:\n" + "  - id: x\n    kind: method_type\n    remove: [mobilePhone]\n" * rng.randint(1, 3000)
    if shape == 3:
        return f"max_removals_per_run: {rng.choice(['-1', 'lots', '1e99', '[]', '!!python/object:os.system x'])}\n" \
               "rules: []\n"
    if shape == 4:
        return "rules:\n  - id: " + odd_string(rng).replace("\n", " ") + "\n    kind: " + rng.choice(
            ["guest", "nope", "keep_newest", "method_type"]) + "\n    remove: " + rng.choice(
            ["[password]", "[appPassword]", "mobilePhone", "[1, 2]", "{}"]) + "\n    keep: " + rng.choice(
            ["-3", "x", "0", "2"]) + "\n"
    if shape == 5:
        return "[" * rng.randint(10, 5000)
    if shape == 6:
        return "rules: !!binary " + "QUJD" * rng.randint(1, 100)
    if shape == 7:
        return "\t rules:\n\t\t- id"
    return "exclude_groups: " + _dumps([odd_string(rng) for _ in range(5)]) + "\nrules:\n  - {id: a, kind: guest}\n"


def hostile_audit_file(rng: random.Random) -> bytes:
    shape = rng.randint(0, 13)
    event = {"id": "e1", "activityDisplayName": "User registered security info", "loggedByService":
             "Authentication Methods", "activityDateTime": "2026-11-30T10:00:00Z", "result": "success",
             "resultReason": "User registered Mobile Phone SMS", "initiatedBy": {"user": {"userPrincipalName": "a@b"}},
             "targetResources": [{"id": "1", "userPrincipalName": "a@b", "modifiedProperties": []}]}
    if shape == 8:  # brackets inside a string, in each form
        noisy = {**event, "resultReason": "[" * 100_000}
        return rng.choice([_dumps([noisy]), _dumps(noisy), _dumps({"value": [noisy]})]).encode()
    if shape == 9:  # NaN and Infinity, or garbage after the document
        text = _dumps([event]).replace('"result":', f'"n": {rng.choice(["NaN", "Infinity", "-Infinity"])}, "result":')
        return rng.choice([text, _dumps([event]) + rng.choice(["]", "garbage", ",{}", " [1]"])]).encode()
    if shape == 10:  # the calendar's edges, with an offset
        when = rng.choice(["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "0001-01-01T00:00:00Z"])
        return rng.choice([_dumps([{**event, "activityDateTime": when}]), _dumps({**event, "activityDateTime": when})
                           ]).encode()
    if shape == 11:  # a number of 5,001 digits
        text = _dumps([event]).replace('"result":', '"n": ' + "9" * 5001 + ', "result":')
        return rng.choice([text, text[1:-1]]).encode()
    if shape == 12:  # a multi-byte character split across the 64 KiB read boundary
        head = '[{"id": "e1", "resultReason": "'
        pad = (1 << 16) - len(head) - rng.randint(1, 3)
        return (head + "a" * pad + "\U0001d11e\u00e9" + '"}]').encode()
    if shape == 13:  # a lone surrogate, escaped, in the array form
        return _dumps([{**event, "resultReason": "x\udc80y"}]).encode()
    if shape == 0:
        return _dumps({"value": [event] * 3})[: rng.randint(1, 200)].encode()
    if shape == 1:
        depth = rng.choice([100, 5000, 50000])
        return b'{"value": [' + b"[" * depth + b"]" * depth + b"]}"
    if shape == 2:
        return _dumps({**event, "resultReason": "x" * rng.choice([10_000, 1_000_000])}).encode()
    if shape == 3:
        return ("\n".join(_dumps(odd_json(rng)) for _ in range(rng.randint(1, 20)))).encode()
    if shape == 4:
        mutated = {k: odd_json(rng) if rng.random() < 0.4 else v for k, v in event.items()}
        return _dumps([mutated, event]).encode()
    if shape == 5:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    if shape == 6:
        return ("\ufeff" + _dumps(event) + "\n" + "\u2028" + "\n").encode("utf-8", "surrogatepass")
    return _dumps({"@odata.context": odd_string(rng), "value": [{**event, "targetResources": odd_json(rng),
                                                                "initiatedBy": odd_json(rng)}]}).encode()


def hostile_graph_answer(rng: random.Random) -> Any:
    """A Graph JSON answer of unexpected shape: a method, a page, a batch response, an audit event."""
    base: dict[str, Any] = rng.choice([
        {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "3179e48a", "phoneType": "mobile"},
        {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "id": "t",
         "startDateTime": "2026-11-30T10:00:00Z", "lifetimeInMinutes": 60, "isUsableOnce": True},
        {"value": [{"id": "x"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=1"},
        {"responses": [{"id": "1", "status": 200, "body": {"value": []}}]},
    ])
    for key in list(base):
        if rng.random() < 0.5:
            base[key] = odd_json(rng)
    if rng.random() < 0.3:
        base[odd_string(rng) or "k"] = odd_json(rng)
    return base if rng.random() < 0.9 else odd_json(rng)
