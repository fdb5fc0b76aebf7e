"""Every ``@odata.nextLink`` the simulator hands to mfaops, and whether mfaops fetched it (issue 23).

Graph pages every collection it may page ("Paging Microsoft Graph data in your app": "you should follow the
@odata.nextLink until it is absent"), so a product flow that stops at the first page decides on part of the
data. The test suite's session hook (tests/conftest.py) reads this log and fails the run when any link was left
unfollowed. Only requests sent through msgraph-sdk's adapter count (their User-Agent names kiota): a test that
pokes the simulator directly is not a product flow. A request that carried ``$top`` asked for that many rows, so
its link is not owed (the product comments why wherever it reads one page on purpose).

In-process the log is this module's ``PAGES``; a simulator in another process (the local system a test starts)
also appends one JSON line per event to the file named by ``SANDBOX_PAGELOG``, which the hook reads too.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ENV = "SANDBOX_PAGELOG"


def page_key(version: str, path: str, query: Mapping[str, str]) -> str:
    """The link's identity without its host or mount (the same link seen in- or out-of-process)."""
    return f"/{version}{path}?{urlencode(sorted(query.items()))}"


@dataclass
class PageLog:
    issued: dict[str, str] = field(default_factory=dict)  # key -> the path it pages (for the report)
    fetched: set[str] = field(default_factory=set)
    exempt: set[str] = field(default_factory=set)  # abandoned on purpose by a test that says so
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def issue(self, key: str, path: str) -> None:
        with self._lock:
            self.issued[key] = path
        _append({"issued": key, "path": path})

    def fetch(self, key: str) -> None:
        with self._lock:
            self.fetched.add(key)
        _append({"fetched": key})

    def unfollowed(self) -> dict[str, str]:
        with self._lock:
            return {k: p for k, p in self.issued.items() if k not in self.fetched and k not in self.exempt}

    def forget(self, keys: Iterable[str]) -> None:
        """Drop links a test abandoned on purpose (a crash mid-page, say) and says so."""
        with self._lock:
            self.exempt.update(keys)

    def merge_file(self, path: Path) -> None:
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a killed process
            if "issued" in row:
                self.issued.setdefault(str(row["issued"]), str(row.get("path", "")))
            elif "fetched" in row:
                self.fetched.add(str(row["fetched"]))


PAGES = PageLog()


def _append(row: dict[str, str]) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:  # one short line per write: appends do not interleave
        out.write(json.dumps(row) + "\n")
