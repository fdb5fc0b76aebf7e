"""`mfaops monitor classify` on generated directoryAudit events (JSON lines): events per second and peak memory of
the real CLI process, with the file size, so the "memory does not grow with the file" promise is measured on two
sizes side by side. Events are shaped like Microsoft's samples, a realistic mix: 40 % method changes
(Authentication Methods events, their Core Directory twins, TAPs, SSPR), 60 % other directory activity.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import emit, parser, positive

ROOT = Path(__file__).resolve().parent.parent
REASONS = ["User registered Mobile Phone SMS", "User registered Authenticator App with Notification and Code",
           "User registered FIDO2 security key", "User deleted security info", "User registered Email"]
OTHER = ["Add member to group", "Update group", "Sign-in activity", "Add app role assignment to group",
         "Update application", "Consent to application"]


def events(count: int, seed: int = 7) -> Any:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    users = [f"user{i}@contoso.example" for i in range(5000)]
    base_id = uuid.UUID(int=seed)
    for i in range(count):
        upn = users[(i * 7919) % len(users)]
        when = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        kind = i % 10
        actor = {"app": None, "user": {"id": str(uuid.uuid5(base_id, upn)), "displayName": upn.split("@")[0],
                                       "userPrincipalName": upn, "ipAddress": f"203.0.{i % 250}.{i % 200}"}}
        target: dict[str, Any] = {"id": str(uuid.uuid5(base_id, upn)), "displayName": upn.split("@")[0], "type": "User",
                  "userPrincipalName": upn, "modifiedProperties": []}
        event = {"id": f"Directory_{i:08d}", "category": "UserManagement", "correlationId": str(uuid.uuid5(base_id,
                 str(i // 2))), "result": "success", "resultReason": "", "activityDateTime": when,
                 "loggedByService": "Core Directory", "operationType": "Update", "initiatedBy": actor,
                 "targetResources": [target], "additionalDetails": [{"key": "UserAgent", "value": "Mozilla/5.0"}]}
        if kind < 4:
            event.update({"activityDisplayName": "User registered security info" if kind != 3 else
                          "User deleted security info", "loggedByService": "Authentication Methods",
                          "resultReason": REASONS[i % len(REASONS)]})
        elif kind == 4:
            target["modifiedProperties"] = [
                {"displayName": "StrongAuthenticationMethod", "oldValue": "[]",
                 "newValue": json.dumps([{"MethodType": 1, "Default": True}, {"MethodType": 0, "Default": False}])},
                {"displayName": "StrongAuthenticationUserDetails", "oldValue": None,
                 "newValue": json.dumps([{"PhoneNumber": f"+1 425555{i % 10000:04d}"}])}]
            event["activityDisplayName"] = "Update user"
        else:
            event["activityDisplayName"] = OTHER[i % len(OTHER)]
        yield event


def write(path: Path, count: int) -> int:
    import orjson

    with path.open("wb") as out:
        for event in events(count):
            out.write(orjson.dumps(event) + b"\n")
    return path.stat().st_size


def measure(path: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) of the CLI process, and the lines it wrote."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cli", "monitor", "classify", str(path)], cwd=ROOT,
                          capture_output=True, check=False,
                          env={**os.environ, "MONITOR_PHONE_HASH_KEY": "bench"})
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"classify failed: {proc.stderr.decode()[:300]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: run the big file last, and report what it says.
    return elapsed, max(peak, before) / 1024, proc.stdout.count(b"\n")


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=positive, default=1_000_000)
    args = p.parse_args(argv)
    rows = []
    result: dict[str, Any] = {"cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (args.events // 10, args.events):
            path = Path(tmp) / f"audits-{count}.jsonl"
            size = write(path, count)
            seconds, rss, lines = measure(path)
            rate = count / seconds
            case = {"events": count, "file_mb": round(size / 2**20, 1), "seconds": round(seconds, 2),
                    "events_per_s": round(rate), "target_events_per_s": 50_000, "rate_vs_target": round(rate / 50_000,
                                                                                                    2),
                    "peak_rss_mb": round(rss, 1), "target_rss_mb": 200, "lines_out": lines}
            result["cases"].append(case)
            rows.append([count, case["file_mb"], case["seconds"], case["events_per_s"], case["rate_vs_target"],
                         case["peak_rss_mb"], lines])
            path.unlink()
    emit(result, args.json, rows, ["events", "file MB", "s", "events/s", "vs 50k/s", "peak RSS MB", "lines out"])


if __name__ == "__main__":
    main()
