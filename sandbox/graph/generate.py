"""Make a large tenant file: ``python -m sandbox.graph.generate --users 50000 --out big.json``.

Users get a deterministic mix of methods (a seed gives the same tenant every time), a few admins, guests and
disabled accounts, and the demo tenant's policies.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parent.parent / "tenants" / "demo.json"


def generate(users: int, *, seed: int = 1, domain: str = "fabrikam.example") -> dict[str, Any]:
    rng = random.Random(seed)
    demo = json.loads(DEMO.read_text())
    rows = []
    for i in range(users):
        methods: list[dict[str, Any]] = []
        default = None
        if rng.random() < 0.8:
            methods.append({"type": "phone", "phoneType": "mobile", "phoneNumber": f"+1 555{i:07d}"})
            default = "sms"
        if rng.random() < 0.6:
            methods.append({"type": "microsoftAuthenticator", "displayName": f"Phone {i}"})
            default = "push"
        if rng.random() < 0.15:
            methods.append({"type": "fido2", "displayName": "YubiKey 5", "model": "YubiKey 5"})
        if rng.random() < 0.1:
            methods.append({"type": "softwareOath"})
        if rng.random() < 0.1:
            methods.append({"type": "email", "emailAddress": f"user{i}@home.example"})
        row: dict[str, Any] = {"userPrincipalName": f"user{i:06d}@{domain}", "displayName": f"User {i:06d}",
                               "methods": methods}
        if default:
            row["defaultMethod"] = default
        if rng.random() < 0.01:
            row["roles"] = ["Helpdesk Administrator"]
        if rng.random() < 0.03:
            row["userType"] = "Guest"
        if rng.random() < 0.02:
            row["accountEnabled"] = False
        rows.append(row)
    return {"tenant": {"displayName": f"Generated ({users} users)", "domain": domain}, "users": rows,
            "groups": demo["groups"], "policies": demo["policies"]}


def widen(data: dict[str, Any], *, groups: int = 300, users: int = 1200,
          members_of: tuple[str, ...] = ("breakglass1@contoso.example", "margaret.hamilton@contoso.example",
                                         "alan.turing@contoso.example")) -> dict[str, Any]:
    """A copy of a tenant in which every paged read meets a second page (issue 23): the users named in
    ``members_of`` belong to ``groups`` extra groups listed *before* their own (so a break-glass group and the
    roles fall past any first page of memberships), and ``users`` extra users join "All Staff" and the first
    extra group, so the tenant has more than 1,000 users and groups of thousands of members."""
    out: dict[str, Any] = json.loads(json.dumps(data))
    extra = [{"id": f"00000000-0000-4000-8000-{i:012d}", "displayName": f"Project Team {i:03d}"}
             for i in range(groups)]
    out["groups"] = [*out.get("groups", []), *extra]
    wanted = {u.lower() for u in members_of}
    for row in out.get("users", []):
        if row["userPrincipalName"].lower() in wanted:
            row["groups"] = [g["displayName"] for g in extra] + list(row.get("groups", []))
    domain = out.get("tenant", {}).get("domain", "contoso.example")
    staff = next((g["displayName"] for g in out["groups"] if g["displayName"] == "All Staff"), None)
    for i in range(users):
        row = {"userPrincipalName": f"filler{i:05d}@{domain}", "displayName": f"Filler {i:05d}",
               "groups": [extra[0]["displayName"], *([staff] if staff else [])],
               "methods": [{"type": "microsoftAuthenticator", "displayName": f"Phone {i}"}]}
        out["users"].append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.graph.generate", description=__doc__)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="-", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.users < 1:
        print("error: --users must be at least 1", file=sys.stderr)
        return 2
    text = json.dumps(generate(args.users, seed=args.seed))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
