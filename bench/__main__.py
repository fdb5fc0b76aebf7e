"""`python -m bench`: every benchmark, in turn, as tables (pass --json for JSON lines)."""

from __future__ import annotations

import sys

from bench import bulk, classify, coldstart, inventory, lanes, reset, shared_budget, throughput, timers


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for module in (coldstart, reset, throughput, shared_budget, lanes, bulk, timers, inventory, classify):
        print(f"== {module.__name__}", flush=True)
        module.main(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
