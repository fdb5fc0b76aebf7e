"""The whole system wired to the sandbox: Azurite tables, the Graph and ServiceNow simulators, the in-process
queue, and mfaops's own container. Used by ``python -m sandbox run`` and by the end-to-end tests."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.graph import GraphSimulator, build_app
from sandbox.graph.tenant import tenant_from_dict
from sandbox.graph.throttle import Throttle
from sandbox.localhost import call_queue_function, queue_functions
from sandbox.queue import InProcessQueue
from sandbox.receivers import TeamsReceiver, build_receivers_app
from sandbox.servicenow import ServiceNowInstance, build_servicenow_app
from sandbox.verifiedid import RequestServiceSimulator, build_verifiedid_app
from shared.alerts import LogAlerts
from shared.bootstrap import Container, configure_logging
from shared.queue.port import QueueMessage
from shared.settings import Settings, load_settings
from shared.tapdrop import new_drop_key

DEMO_TENANT = Path(__file__).resolve().parent / "tenants" / "demo.json"
# Defaults that make the demo tenant meaningful; the environment may override any of them.
EXAMPLE_POLICY = Path(__file__).resolve().parent.parent / "integrations" / "verify" / "policy.example.yaml"
SANDBOX_DEFAULTS = {"BREAK_GLASS_GROUP": "Break Glass Accounts", "LOG_LEVEL": "WARNING",
                    # The shipped verification policy: managers approve, VIPs and admins also need a call-back, the
                    # "Remote Staff" prove themselves with Verified ID on their own page.
                    "VERIFY_POLICY": str(EXAMPLE_POLICY),
                    # The monitor's alerts go to the local Teams receiver and ServiceNow incidents as well as the log.
                    "ALERT_SINKS": "log,teams,servicenow"}


@dataclass
class Sandbox:
    settings: Settings
    graph: GraphSimulator
    servicenow: ServiceNowInstance
    queue: InProcessQueue
    alerts: LogAlerts
    container: Container
    graph_app: Starlette
    servicenow_app: Starlette
    teams: TeamsReceiver
    receivers_app: Starlette
    verifiedid: RequestServiceSimulator
    verifiedid_app: Starlette

    @property
    def webhook_secret(self) -> str:
        return self.settings.servicenow_webhook_secret.get_secret_value()

    def handlers(self) -> tuple[Any, Any]:
        import function_app

        functions = queue_functions(function_app.app, self.resolve)
        worker = functions[self.settings.reset_queue]
        dead = functions[f"{self.settings.reset_queue}/$deadletterqueue"]

        async def deliver(message: QueueMessage) -> None:
            await call_queue_function(worker, message)

        async def dead_letter(message: QueueMessage) -> None:
            await call_queue_function(dead, message)

        return deliver, dead_letter

    async def deliver_all(self) -> None:
        """Feed every queued message (and dead letter) to the function entry points until none is left."""
        deliver, dead_letter = self.handlers()
        await self.queue.drain(deliver, dead_letter)

    def find_user(self, key: str) -> tuple[str, str] | None:
        """(object id, UPN) of a tenant user: the sandbox sign-in's directory."""
        user = self.graph.tenant.user(key)
        return (user.id, user.upn) if user is not None else None

    def resolve(self, name: str) -> str:
        """An app setting by its name, as the Functions host resolves '%NAME%' in trigger bindings."""
        for field, info in Settings.model_fields.items():
            if info.alias == name:
                return str(getattr(self.settings, field))
        raise KeyError(name)


def build_sandbox(*, table_connection_string: str, tenant: Path | dict[str, Any] = DEMO_TENANT,
                  environ: Mapping[str, str] | None = None, base_url: str | None = None,
                  throttle: bool = True) -> Sandbox:
    """``base_url`` None wires mfaops to the simulators in-process (tests); a loopback URL wires it over HTTP
    to the simulators mounted at ``/graph`` and ``/servicenow`` there (``sandbox run``)."""
    data = tenant if isinstance(tenant, dict) else json.loads(Path(tenant).read_text())
    graph = GraphSimulator(tenant_from_dict(data), throttle=None if throttle else Throttle(enabled=False))
    servicenow = ServiceNowInstance.from_section(data.get("servicenow", {}))
    graph_app, servicenow_app = build_app(graph), build_servicenow_app(servicenow)
    verifiedid = RequestServiceSimulator(graph.tenant)
    verifiedid_app = build_verifiedid_app(verifiedid)
    given = dict(environ or {})
    values = {**SANDBOX_DEFAULTS, **given}
    values.setdefault("SERVICENOW_WEBHOOK_SECRET", secrets.token_urlsafe(32))
    values.setdefault("TAP_DROP_KEY", new_drop_key())
    values.setdefault("JOB_ID_KEY", secrets.token_urlsafe(32))
    # With the simulator's throttling off (most tests), mfaops's own budget is off too, so a test of something
    # else stays fast; with it on (`make run`, throttling tests, benchmarks) both follow the documented figures.
    values.setdefault("GRAPH_BUDGET_ENABLED", "true" if throttle else "false")
    # In-process the transport is ASGI: the host is never dialled, but it is a loopback one (GRAPH_AUTH=none
    # is refused anywhere else).
    root = base_url or "http://127.0.0.1"
    values.setdefault("TEAMS_WEBHOOK_URL", f"{base_url or 'http://sandbox.invalid'}/teams/workflows/alerts")
    # mfaops's own app id as the simulator writes it in audit events: the monitor knows its own changes.
    values.setdefault("MFAOPS_APP_ID", graph.tenant.app["appId"])
    values.setdefault("ALERT_MAIL_FROM", f"mfaops@{graph.tenant.domain}")
    values.setdefault("APP_BASE_URL", base_url or "http://localhost")  # links in the manager's mail
    # Verified ID: the tenant's verifier DID, a callback key, and the Request Service simulator at /verifiedid.
    values.setdefault("VERIFIED_ID_AUTHORITY", verifiedid.issuer)
    values.setdefault("VERIFIED_ID_CALLBACK_KEY", secrets.token_urlsafe(32))
    values.setdefault("ALERT_MAIL_TO", f"secops@{graph.tenant.domain}")
    values.update({
        "TABLE_CONNECTION_STRING": table_connection_string,
        "GRAPH_BASE_URL": f"{root}/graph", "GRAPH_AUTH": "none",
        "SERVICENOW_INSTANCE_URL": f"{root}/servicenow", "VERIFIED_ID_ENDPOINT": f"{root}/verifiedid",
        "SERVICENOW_USERNAME": servicenow.username, "SERVICENOW_PASSWORD": servicenow.password,
    })
    settings = load_settings(values)
    configure_logging(settings)
    queue = InProcessQueue(max_deliveries=settings.queue_max_deliveries)
    alerts = LogAlerts()
    teams = TeamsReceiver()
    receivers_app = build_receivers_app(teams)
    graph_transport = servicenow_transport = receiver_transport = verifiedid_transport = None
    if base_url is None:
        graph_transport = _MountedTransport(graph_app, "/graph")
        servicenow_transport = _MountedTransport(servicenow_app, "/servicenow")
        receiver_transport = _MountedTransport(receivers_app, "/teams")
        verifiedid_transport = _MountedTransport(verifiedid_app, "/verifiedid")
    verifiedid.poster = _callback_poster(in_process=base_url is None)
    container = Container(settings, graph_transport=graph_transport, servicenow_transport=servicenow_transport,
                          queue=queue, alerts=alerts, receiver_transport=receiver_transport,
                          verifiedid_transport=verifiedid_transport)
    return Sandbox(settings=settings, graph=graph, servicenow=servicenow, queue=queue, alerts=alerts,
                   container=container, graph_app=graph_app, servicenow_app=servicenow_app, teams=teams,
                   receivers_app=receivers_app, verifiedid=verifiedid, verifiedid_app=verifiedid_app)


def _callback_poster(*, in_process: bool) -> Any:
    """How the Request Service simulator reaches mfaops's callback: over loopback (`sandbox run`), or straight
    into the function app's routes in this process (tests), as the platform would deliver the request."""

    app: list[Starlette] = []  # the function app's routes, built on the first in-process callback

    async def post(url: str, headers: dict[str, str], body: dict[str, Any]) -> int:
        transport = None
        if in_process:
            if not app:
                import function_app
                from sandbox.localhost import build_api

                app.append(Starlette(routes=[Mount("/api", app=build_api(function_app.app))]))
            transport = httpx.ASGITransport(app=app[0])
        async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
            response = await client.post(url, json=body, headers=headers)
        return response.status_code

    return post


class _MountedTransport(httpx.ASGITransport):
    """An in-process transport for a simulator that expects to be mounted at ``prefix``."""

    def __init__(self, app: Starlette, prefix: str) -> None:
        super().__init__(app=Starlette(routes=[Mount(prefix, app=app)]))
