"""`python -m sandbox run`: Azurite, the Graph and ServiceNow simulators and the local Functions host on one
loopback port, configured by the normal settings; plays the scenario and keeps serving (or exits)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.azurite import AzuriteError, start_azurite
from sandbox.localhost import build_api, run_timers, signin_routes, unrouted
from sandbox.scenario import play, table
from sandbox.system import DEMO_TENANT, build_sandbox
from shared.bootstrap import use_container
from shared.errors import ConfigurationError
from shared.settings import Settings

SECRET_FILE = Path(__file__).resolve().parent.parent / ".sandbox" / "webhook-secret"


def local_settings(settings: Settings) -> dict[str, str]:
    """Every setting that differs from its default: what `mfaops --local` needs to act on this system."""
    from pydantic import SecretStr

    out = {}
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if value == info.default or not info.alias:
            continue
        out[info.alias] = value.get_secret_value() if isinstance(value, SecretStr) else str(value).lower() \
            if isinstance(value, bool) else str(value)
    return out


def run(*, port: int, once: bool, scenario: bool, tenant: str = str(DEMO_TENANT)) -> int:
    if not Path(tenant).is_file():
        print(f"error: no tenant file at {tenant}", file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Claimed before anything starts, and handed to the server: no window for another process to take it.
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        print(f"error: could not listen on 127.0.0.1:{port}: {exc.strerror} (try --port)", file=sys.stderr)
        return 2
    # SIGTERM (a test stopping the local system, a service manager) ends the run through its finally blocks,
    # so Azurite and the clients are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        azurite = start_azurite()
    except AzuriteError as exc:
        listener.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(listener=listener, tenant=tenant, connection_string=azurite.connection_string,
                                  once=once, scenario=scenario))
    except (ConfigurationError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        listener.close()
        azurite.stop()


async def _serve(*, listener: socket.socket, tenant: str, connection_string: str, once: bool,
                 scenario: bool) -> int:
    port = listener.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    box = build_sandbox(table_connection_string=connection_string, tenant=Path(tenant), environ=os.environ,
                        base_url=base)
    use_container(box.container)
    await box.container.job_store().ensure_tables()
    from cli.target import write_local

    settings = box.settings
    # What `mfaops --local` needs to act on this system, whatever --port and --tenant were given.
    write_local({**local_settings(settings), "GRAPH_AUTH": "none", "MFAOPS_LOCAL_BASE_URL": base,
                 "MFAOPS_LOCAL_QUEUE_URL": f"{base}/_local/queue"})
    generated = "SERVICENOW_WEBHOOK_SECRET" not in os.environ
    if generated:
        SECRET_FILE.parent.mkdir(exist_ok=True)
        SECRET_FILE.write_text(box.webhook_secret)
        SECRET_FILE.chmod(0o600)

    import function_app
    from sandbox.queue import control_routes

    root = Starlette(routes=[Mount("/api", app=build_api(function_app.app)), Mount("/graph", app=box.graph_app),
                             Mount("/servicenow", app=box.servicenow_app),
                             Mount("/teams", app=box.receivers_app),
                             Mount("/verifiedid", app=box.verifiedid_app),
                             Mount("/_local", routes=control_routes(box.queue)),  # type: ignore[arg-type]
                             Mount("/.auth", routes=signin_routes(box.find_user))],
                     exception_handlers={404: unrouted, 405: unrouted})
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    if not server.started:
        await box.container.close()
        use_container(None)
        print("error: the local host did not start", file=sys.stderr)
        return 2
    deliver, dead_letter = box.handlers()
    # MFAOPS_LOCAL_WORKER=off: no worker here; `python -m sandbox worker` processes receive from this queue
    # instead (peek-lock), so a test can kill one mid-job and watch another take the message over.
    external = os.environ.get("MFAOPS_LOCAL_WORKER", "on").lower() == "off"
    worker = asyncio.create_task(box.queue.serve(deliver, dead_letter) if not external else asyncio.sleep(10**9))
    timers = asyncio.create_task(run_timers(function_app.app, resolve=box.resolve))
    print(f"functions   {base}/api/itsm/servicenow  {base}/api/jobs/{{job_id}}  {base}/api/jobs/{{job_id}}/tap")
    print(f"graph       {base}/graph/v1.0/...  (call log: {base}/graph/_sandbox/calls)")
    print(f"servicenow  {base}/servicenow/api/now/table/...  (incidents: {base}/servicenow/_sandbox/created)")
    print(f"teams       {base}/teams/workflows/alerts  (received: {base}/teams/_sandbox/posts)")
    print(f"verifiedid  {base}/verifiedid/v1.0/...  (requests: {base}/verifiedid/_sandbox/requests)")
    print(f"tables      Azurite: {box.settings.jobs_table}, {box.settings.jobs_by_user_table}")
    print("webhook     secret " + (f"generated, in {SECRET_FILE}" if generated else
                                   "from SERVICENOW_WEBHOOK_SECRET"))
    status = 0
    try:
        if scenario or once:
            ok, rows = await play(base, box.webhook_secret)
            print()
            print(table(rows))
            print()
            print("scenario: every job ended as expected" if ok else "scenario: some jobs did NOT end as expected")
            status = 0 if ok else 1
        if not once:
            print("ready", flush=True)
            await serving
    finally:
        server.should_exit = True
        for task in (worker, timers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await serving
        await box.container.close()
        use_container(None)
        from cli.target import remove_local

        remove_local()
    return status
