"""What mfaops sent the simulator and what the simulator answered, one line per distinct shape (issue 24).

With ``SANDBOX_WIRELOG`` naming a file, every request that came through msgraph-sdk's adapter (pagelog.py says
how that is told) is written once per (method, version, path shape, query options, status), with a sample of its
JSON answer. The test session's end hands the file to the SDK judge (tests/graph/sdk_judge.py), which checks each
request against Microsoft's request builders and each answer against Microsoft's models.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

ENV = "SANDBOX_WIRELOG"
_ID = re.compile(r"^([0-9a-fA-F-]{36}|[^/@]+@[^/]+|\d+|[A-Za-z0-9+/=_-]{40,})$")
_seen: set[tuple[str, ...]] = set()
_lock = threading.Lock()
MAX_ROWS = 20  # of a collection's value: enough to judge the shape, small enough to keep the file small


def shape(path: str) -> str:
    return "/" + "/".join("{}" if _ID.match(s) else s for s in path.strip("/").split("/") if s)


def record(method: str, version: str, path: str, query: dict[str, str], status: int, body: Any,
           kind: str = "request") -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    key = (kind, method, version, shape(path), ",".join(sorted(query)), str(status))
    with _lock:
        if key in _seen:
            return
        _seen.add(key)
    sample = body
    if isinstance(body, dict) and isinstance(body.get("value"), list) and len(body["value"]) > MAX_ROWS:
        sample = {**body, "value": body["value"][:MAX_ROWS]}
    if kind == "batch" and isinstance(body, dict) and isinstance(body.get("responses"), list):
        sample = {**body, "responses": body["responses"][:MAX_ROWS]}
    row = {"kind": kind, "method": method, "version": version, "path": path, "query": sorted(query),
           "status": status, "body": sample if isinstance(sample, dict | list) else None}
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(row, default=str) + "\n")
