"""`python -m bench.chaos` (`make chaos`): the attack suite in full. Hostile input at every door (>= 10,000 cases),
then a workload of tickets (each delivered several times at once), a bulk, a cleanup, findings and containment, a
monitor scan and a posture check at 20 % injected faults, with Azurite (on disk for this run) stopped and
restarted mid-run, ServiceNow and every alert sink down for part of it. Prints one JSON summary; the targets are
>= 10,000 inputs, 20 % faults, and every loss and violation count 0."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
import uuid
from typing import Any

from bench.common import parser, positive
from sandbox.azurite import start_azurite
from sandbox.chaos import LogCapture, everything_written, faulted_workload, hostile_doors, least_privilege, secrets_in
from sandbox.system import build_sandbox
from shared.bootstrap import use_container


async def run(inputs: int, tickets: int, fault_rate: float, seed: int) -> dict[str, Any]:
    location = tempfile.mkdtemp(prefix="mfaops-chaos-azurite-")
    azurite = start_azurite(location=location)
    port = azurite.port
    suffix = uuid.uuid4().hex[:8]
    environ = {"JOBS_TABLE": f"jobs{suffix}", "JOBS_BY_USER_TABLE": f"jobsbyuser{suffix}",
               "MONITOR_TABLE": f"monitor{suffix}", "POSTURE_TABLE": f"posture{suffix}", "LOG_LEVEL": "DEBUG",
               "RESETS_PER_HOUR_LIMIT": "25", "QUEUE_MAX_DELIVERIES": "6", "GRAPH_MAX_RETRIES": "2",
               "GRAPH_RETRY_AFTER_CAP_S": "2", "SELF_SERVICE_RECOVERY": "true"}
    box = build_sandbox(table_connection_string=azurite.connection_string, environ=environ, throttle=False)
    use_container(box.container)
    capture = LogCapture()
    logging.getLogger().addHandler(capture)
    state = {"azurite": azurite, "restarts": 0}

    async def restart_tables() -> asyncio.Task[None]:
        # Azurite saves to disk every few seconds: the outage starts after a quiet save, so what it drops is only
        # what mfaops writes while it is down (refused, never acknowledged), as a Storage outage would.
        await asyncio.sleep(6)
        state["azurite"].stop()  # type: ignore[attr-defined]

        async def back_up() -> None:
            await asyncio.sleep(1.5)
            state["azurite"] = await asyncio.to_thread(start_azurite, location=location, port=port)
            state["restarts"] += 1  # type: ignore[operator]

        return asyncio.create_task(back_up())

    started = time.perf_counter()
    try:
        from sandbox.chaos_verify import public_doors, verification_doors

        gate = await verification_doors(box, seed=seed, forged=max(20, inputs // 50))
        public = await public_doors(box, seed=seed, cases=max(20, inputs // 50))
        summary = await hostile_doors(box, inputs, seed=seed)
        await faulted_workload(box, tickets=tickets, fault_rate=fault_rate, seed=seed, summary=summary,
                               restart_tables=restart_tables)
        summary.secrets_found = secrets_in(box, [*capture.lines, *await everything_written(box)])
        least_privilege(box, summary)
        result = summary.to_dict()
        result["verification_attacks"] = gate.to_dict()  # proof before reset's doors (issue 25)
        result["public_attacks"] = public.to_dict()  # the user's page, callback and recovery (issue 26)
        result.update(azurite_restarts=state["restarts"], seconds=round(time.perf_counter() - started, 1),
                      tap_values_issued=len(box.graph.issued_tap_values), log_lines_scanned=len(capture.lines),
                      graph_calls=len(box.graph.calls))
        requests = sum(1 for c in box.graph.calls if not c["path"].endswith("/$batch"))
        result["graph_requests"] = requests
        result["fault_share"] = round(sum(summary.faults.values()) / requests, 3) if requests else 0.0
        return result
    finally:
        logging.getLogger().removeHandler(capture)
        use_container(None)
        await box.container.close()
        state["azurite"].stop()  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    p.add_argument("--inputs", type=positive, default=10_500)
    p.add_argument("--tickets", type=positive, default=40)
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--seed", type=positive, default=17)
    args = p.parse_args(argv)
    logging.getLogger("azure").setLevel(logging.WARNING)
    result = asyncio.run(run(args.inputs, args.tickets, args.fault_rate, args.seed))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
