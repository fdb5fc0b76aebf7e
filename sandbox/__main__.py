"""``python -m sandbox run``: the whole system on one loopback port, on embedded defaults."""

from __future__ import annotations

import argparse
import sys

from sandbox.run import run
from sandbox.system import DEMO_TENANT


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is outside 1-65535")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start Azurite, the simulators and the local Functions host")
    p_run.add_argument("--port", type=port_number, default=7071, help="loopback port to serve on (default 7071)")
    p_run.add_argument("--once", action="store_true", help="play the scenario, print the result, exit")
    p_run.add_argument("--no-scenario", action="store_true", help="serve only; print 'ready' when accepting")
    p_run.add_argument("--tenant", default=str(DEMO_TENANT), help="tenant file (default: the demo tenant)")
    p_worker = sub.add_parser("worker", help="a reset worker in its own process, on the running local system's queue")
    p_worker.add_argument("--lock-s", type=float, default=30.0, help="peek-lock duration (default 30 s)")
    p_worker.add_argument("--idle-exit-s", type=float, default=None, help="exit after this long with nothing to do")
    args = parser.parse_args(argv)
    if args.command == "worker":
        from sandbox.worker import main as worker_main

        return worker_main(args.lock_s, args.idle_exit_s)
    if args.once and args.no_scenario:
        parser.error("--once plays the scenario; it cannot go with --no-scenario")
    try:
        return run(port=args.port, once=args.once, scenario=not args.no_scenario, tenant=args.tenant)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
