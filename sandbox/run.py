"""Start Azurite and the local host, configure mfaops to use them, and serve (or check once and exit)."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.azurite import AzuriteError, start_azurite
from sandbox.localhost import build_api
from shared.bootstrap import Container, use_container
from shared.errors import ConfigurationError
from shared.settings import load_settings


def run(*, port: int, once: bool, scenario: bool) -> int:
    try:
        azurite = start_azurite()
    except AzuriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(port=port, connection_string=azurite.connection_string, once=once,
                                  scenario=scenario))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        azurite.stop()


async def _serve(*, port: int, connection_string: str, once: bool, scenario: bool) -> int:
    environ = {**os.environ, "TABLE_CONNECTION_STRING": connection_string}
    settings = load_settings(environ)
    container = Container(settings)
    use_container(container)
    await container.job_store().ensure_tables()

    import function_app

    root = Starlette(routes=[Mount("/api", app=build_api(function_app.app))])
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            print(f"error: could not listen on 127.0.0.1:{port}", file=sys.stderr)
            return 2
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    print(f"Azurite tables   {settings.jobs_table}, {settings.jobs_by_user_table}")
    print(f"functions        {base}/api/jobs/{{job_id}}")
    print("ready", flush=True)
    status = 0
    try:
        if once or scenario:
            async with httpx.AsyncClient(base_url=base) as client:
                probe = await client.get("/api/jobs/does-not-exist")
            ok = probe.status_code == 404
            print(f"self-check       GET /api/jobs/does-not-exist -> {probe.status_code}"
                  f" ({'ok' if ok else 'unexpected'})")
            status = 0 if ok else 1
        if not once:
            await serving
    finally:
        server.should_exit = True
        await serving
        await container.close()
    return status
