"""``python -m sandbox.graph --tenant FILE --port PORT``: serve the Graph simulator on loopback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "tenants" / "demo.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.graph", description=__doc__)
    parser.add_argument("--tenant", default=str(DEMO), help="tenant file (default: the demo tenant)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every Graph request")
    args = parser.parse_args(argv)
    import uvicorn

    from sandbox.graph.app import GraphSimulator, build_app
    from sandbox.graph.tenant import load_tenant

    try:
        tenant = load_tenant(args.tenant)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot load tenant file {args.tenant}: {exc}", file=sys.stderr)
        return 2
    app = build_app(GraphSimulator(tenant, latency_ms=args.latency_ms))
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
