"""Cold start: `import function_app` in a fresh process (median of 5 wall seconds, peak RSS), side by side with a
bare `from msgraph import GraphServiceClient` (the least any Graph app on msgraph-sdk pays; alternated in pairs so
both see the same machine; the ratio of the medians), and the size of the deployment package: the app files
.funcignore lets through plus the installed runtime requirements."""

from __future__ import annotations

import fnmatch
import os
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import emit, parser, positive

ROOT = Path(__file__).resolve().parent.parent


# What the first reset imports on top: the gateway and the request builders it touches.
EAGER_GRAPH = ("import function_app; import shared.graph.sdk_gateway, shared.graph.client; "
               "from msgraph.graph_service_client import GraphServiceClient; "
               "from msgraph.generated.users.users_request_builder import UsersRequestBuilder; "
               "from msgraph.generated.models.temporary_access_pass_authentication_method import "
               "TemporaryAccessPassAuthenticationMethod")


BARE_MSGRAPH = "from msgraph import GraphServiceClient"


def import_once(code: str = "import function_app") -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one fresh interpreter running ``code``."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit("import function_app failed")
    return wall, usage.ru_maxrss / 1024


def funcignore_patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text().splitlines()
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")]


def app_files() -> list[Path]:
    patterns = funcignore_patterns()
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    kept = []
    for name in tracked:
        parts = Path(name).parts
        if any(fnmatch.fnmatch(part, pat) or fnmatch.fnmatch(name, pat) for pat in patterns for part in parts):
            continue
        kept.append(ROOT / name)
    return [p for p in kept if p.is_file()]


def requirement_closure() -> dict[str, int]:
    """Installed size in bytes of every distribution requirements.txt pulls in (from this venv)."""
    wanted = [re.split(r"[<>=!~ ;\[]", ln.strip())[0] for ln in (ROOT / "requirements.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    sizes: dict[str, int] = {}
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in sizes:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        size = 0
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                size += path.stat().st_size
        sizes[name] = size
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            wanted.append(re.split(r"[<>=!~ ;\[(]", req.strip())[0])
    return sizes


def measure(runs: int, pairs: int = 10) -> dict[str, Any]:
    app_side, bare_side = [], []
    for _ in range(pairs):  # alternated, so a busy moment weighs on both sides
        app_side.append(import_once()[0])
        bare_side.append(import_once(BARE_MSGRAPH)[0])
    samples = [import_once() for _ in range(runs)]
    eager = [import_once(EAGER_GRAPH) for _ in range(runs)]
    app_bytes = sum(p.stat().st_size for p in app_files())
    deps = requirement_closure()
    biggest = sorted(deps.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return {
        "import_s": round(statistics.median(s[0] for s in samples), 3),
        "rss_mb": round(statistics.median(s[1] for s in samples), 1),
        "import_with_graph_s": round(statistics.median(s[0] for s in eager), 3),
        "rss_with_graph_mb": round(statistics.median(s[1] for s in eager), 1),
        "package_mb": round((app_bytes + sum(deps.values())) / 2**20, 1),
        "app_code_mb": round(app_bytes / 2**20, 2),
        "largest_dependencies_mb": {k: round(v / 2**20, 1) for k, v in biggest},
        "runs": runs,
        "pairs": pairs,
        "import_app_paired_s": round(statistics.median(app_side), 3),
        "bare_msgraph_s": round(statistics.median(bare_side), 3),
        "ratio_to_bare_msgraph": round(statistics.median(app_side) / statistics.median(bare_side), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--runs", type=positive, default=5)
    p.add_argument("--pairs", type=positive, default=10, help="app / bare-msgraph imports, alternated")
    args = p.parse_args(argv)
    result = measure(args.runs, args.pairs)
    rows = [[result["import_app_paired_s"], result["bare_msgraph_s"], result["ratio_to_bare_msgraph"],
             result["import_s"], result["rss_mb"], result["import_with_graph_s"], result["rss_with_graph_mb"],
             result["package_mb"], result["app_code_mb"],
             ", ".join(f"{k} {v}" for k, v in result["largest_dependencies_mb"].items())]]
    emit(result, args.json, rows, ["app s (paired)", "bare msgraph s", "ratio", "import s", "peak RSS MB",
                                   "+ Graph s", "+ Graph MB", "package MB",
                                   "app code MB", "largest (MB)"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
