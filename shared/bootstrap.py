"""The composition root: builds settings and clients lazily, once per worker, and nothing at import.

Blueprints ask ``container()`` for what they need; tests and the local host build their own ``Container``
with other settings (Azurite, the sandbox tenant) and install it with ``use_container``. One piece at ~420
lines: the one composition root, each builder a few lines that import what it builds only when first asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableServiceClient

    from shared.alerts import Alerts
    from shared.cleanup.service import CleanupService
    from shared.detection.service import MonitorService
    from shared.graph.budget import GraphBudget
    from shared.graph.port import GraphGateway
    from shared.inventory.figures import MethodsReportService
    from shared.inventory.service import InventoryService
    from shared.itsm.port import TicketSystem
    from shared.jobs.table_store import TableJobStore
    from shared.posture.service import PostureService
    from shared.queue.port import JobQueue
    from shared.reset.service import ResetService
    from shared.settings import Settings
    from shared.tap.sweep import TapSweeper
    from shared.tapdrop import TapDrop
    from shared.verify.gate import VerificationGate
    from shared.verify.recovery import RecoveryService
    from shared.verify.recovery_store import RecoveryStore
    from shared.verify.service import VerificationService
    from shared.verify.verified_id import VerifiedIdService


class Container:
    def __init__(self, settings: Settings, *, graph_transport: httpx.AsyncBaseTransport | None = None,
                 servicenow_transport: httpx.AsyncBaseTransport | None = None, queue: JobQueue | None = None,
                 alerts: Alerts | None = None, receiver_transport: httpx.AsyncBaseTransport | None = None,
                 sinks: dict[str, Alerts] | None = None,
                 verifiedid_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        # Tests route Graph and ServiceNow to in-process simulators, and the local host brings its own queue;
        # in Azure these stay None (real HTTPS, Service Bus, alert logs).
        self.graph_transport = graph_transport
        self.servicenow_transport = servicenow_transport
        self._queue = queue
        self._alerts = alerts
        self.receiver_transport = receiver_transport  # the Teams webhook (a local receiver in the sandbox)
        self.verifiedid_transport = verifiedid_transport  # the Verified ID Request Service (a simulator locally)
        self._verifiedid_http: httpx.AsyncClient | None = None
        self._verified_id: VerifiedIdService | None = None
        self._recovery: RecoveryService | None = None
        self._sinks = sinks
        self._alert_http: httpx.AsyncClient | None = None
        self._grants_http: httpx.AsyncClient | None = None
        self._tickets: TicketSystem | None = None
        self._servicenow_http: httpx.AsyncClient | None = None
        self._tap_drop: TapDrop | None = None
        self._reset: ResetService | None = None
        self._tables: TableServiceClient | None = None
        self._jobs: TableJobStore | None = None
        self._credential: AsyncTokenCredential | None = None
        self._graph: GraphGateway | None = None
        self._budget: GraphBudget | None = None
        self._gate: VerificationGate | None = None
        self._verification: VerificationService | None = None

    def credential(self) -> AsyncTokenCredential:
        """One credential per worker, so its token cache serves every client."""
        if self._credential is None:
            from azure.identity.aio import DefaultAzureCredential

            client_id = self.settings.azure_client_id or None
            self._credential = DefaultAzureCredential(managed_identity_client_id=client_id)
        return self._credential

    def table_service(self) -> TableServiceClient:
        if self._tables is None:
            from azure.data.tables.aio import TableServiceClient

            conn = self.settings.table_connection_string.get_secret_value()
            if conn:
                self._tables = TableServiceClient.from_connection_string(conn)
            elif self.settings.table_service_url:
                self._tables = TableServiceClient(self.settings.table_service_url, credential=self.credential())
            else:
                raise ConfigurationError("TABLE_SERVICE_URL or TABLE_CONNECTION_STRING must be set")
        return self._tables

    def job_store(self) -> TableJobStore:
        if self._jobs is None:
            from shared.jobs.table_store import TableJobStore

            service = self.table_service()
            if not self.settings.job_id_key.get_secret_value():
                raise ConfigurationError("JOB_ID_KEY must be set (a random secret; ticket job ids derive from it)")
            self._jobs = TableJobStore(service, self.settings.jobs_table,
                                       self.settings.jobs_by_user_table,
                                       update_retries=self.settings.job_update_retries,
                                       job_id_key=self.settings.job_id_secret)
        return self._jobs

    def graph(self) -> GraphGateway:
        if self._graph is None:
            from shared.graph.client import build_graph_client
            from shared.graph.sdk_gateway import SdkGraphGateway

            settings = self.settings
            credential = self.credential() if settings.graph_auth == "managed_identity" else None
            budget = self.graph_budget()
            client = build_graph_client(settings, credential=credential, transport=self.graph_transport,
                                        budget=budget)
            self._graph = SdkGraphGateway(client, retry_after_cap_s=settings.graph_retry_after_cap_s,
                                          max_retries=settings.graph_max_retries, budget=budget,
                                          size_identity=settings.graph_budget_enabled
                                          and not settings.graph_budget_identity)
        return self._graph

    def graph_budget(self) -> GraphBudget:
        """One budget per worker: every flow that calls Graph draws on the same buckets."""
        if self._budget is None:
            from shared.graph.budget import GraphBudget

            settings = self.settings
            shared = None
            if settings.graph_budget_shared and (settings.table_service_url or
                                                 settings.table_connection_string.get_secret_value()):
                from shared.graph.shared_budget import TableSharedBuckets

                shared = TableSharedBuckets(self.table_service(), settings.jobs_table)
            self._budget = GraphBudget(settings.graph_budget_limits, time_scale=settings.graph_budget_time_scale,
                                       enabled=settings.graph_budget_enabled, shared=shared,
                                       max_wait_s=settings.graph_budget_max_wait_s,
                                       background_share=settings.graph_background_share)
        return self._budget

    def tickets(self) -> TicketSystem:
        if self._tickets is None:
            import httpx

            from shared.itsm.servicenow import ServiceNowTickets

            settings = self.settings
            if not settings.servicenow_instance_url:
                raise ConfigurationError("SERVICENOW_INSTANCE_URL must be set")
            self._servicenow_http = httpx.AsyncClient(transport=self.servicenow_transport, timeout=30.0)
            self._tickets = ServiceNowTickets(
                self._servicenow_http, settings.servicenow_instance_url, settings.servicenow_username,
                settings.servicenow_password.get_secret_value(), privileged_field=settings.privileged_approval_field,
                retry_after_cap_s=settings.graph_retry_after_cap_s)
        return self._tickets

    def queue(self) -> JobQueue:
        if self._queue is None:
            from shared.queue.servicebus import ServiceBusJobQueue

            if not self.settings.servicebus_namespace:
                raise ConfigurationError("ServiceBusConnection__fullyQualifiedNamespace must be set")
            self._queue = ServiceBusJobQueue(self.settings.servicebus_namespace, self.settings.reset_queue,
                                             self.credential())
        return self._queue

    def alerts(self) -> Alerts:
        if self._alerts is None:
            from shared.alerts import FanOutAlerts, LogAlerts, TopicAlerts

            settings = self.settings
            if settings.servicebus_namespace and settings.alerts_topic:
                topic = TopicAlerts(settings.servicebus_namespace, settings.alerts_topic, self.credential())
                self._alerts = FanOutAlerts(LogAlerts(), topic)
            else:
                self._alerts = LogAlerts()
        return self._alerts

    def alert_sinks(self) -> dict[str, Alerts]:
        """The monitor's sinks by name, as ALERT_SINKS lists them (findings are delivered to each)."""
        if self._sinks is None:
            import httpx

            settings = self.settings
            sinks: dict[str, Alerts] = {}
            wanted = settings.alert_sink_set
            if "log" in wanted:
                from shared.alerts import LogAlerts

                log_sink = self._alerts if isinstance(self._alerts, LogAlerts) else LogAlerts()
                sinks["log"] = log_sink
            if "topic" in wanted and settings.servicebus_namespace and settings.alerts_topic:
                from shared.alerts import TopicAlerts

                sinks["topic"] = TopicAlerts(settings.servicebus_namespace, settings.alerts_topic, self.credential())
            if "teams" in wanted:
                from shared.alerts.teams import TeamsAlerts

                if not settings.teams_webhook_url.get_secret_value():
                    raise ConfigurationError("ALERT_SINKS names teams: TEAMS_WEBHOOK_URL must be set")
                self._alert_http = self._alert_http or httpx.AsyncClient(transport=self.receiver_transport,
                                                                         timeout=30.0)
                sinks["teams"] = TeamsAlerts(self._alert_http, settings.teams_webhook_url.get_secret_value())
            if "mail" in wanted:
                from shared.alerts.mail import MailAlerts

                if not settings.alert_mail_from or not settings.alert_mail_to:
                    raise ConfigurationError("ALERT_SINKS names mail: ALERT_MAIL_FROM and ALERT_MAIL_TO must be set")
                sinks["mail"] = MailAlerts(self.graph(), settings.alert_mail_from,
                                           [a.strip() for a in settings.alert_mail_to.split(",") if a.strip()])
            if "servicenow" in wanted:
                from shared.alerts.incident import IncidentAlerts

                sinks["servicenow"] = IncidentAlerts(self.tickets(), settings.alert_servicenow_table,
                                                     settings.alert_servicenow_group)
            self._sinks = sinks
        return self._sinks

    def monitor_service(self) -> MonitorService:
        from shared.detection.service import MonitorService
        from shared.detection.store import MonitorStore

        tickets = self.tickets() if self.settings.servicenow_instance_url else None
        return MonitorService(settings=self.settings, graph=self.graph(), jobs=self.job_store(),
                              store=MonitorStore(self.table_service(), self.settings.monitor_table),
                              sinks=self.alert_sinks(), tickets=tickets)

    def posture_service(self) -> PostureService:
        import httpx

        from shared.posture.grants import GrantSource, SandboxGrants, TokenGrants
        from shared.posture.service import PostureService

        grants: GrantSource
        if self.settings.graph_auth == "none":  # the sandbox tenant: it issues no token to read roles from
            self._grants_http = self._grants_http or httpx.AsyncClient(transport=self.graph_transport, timeout=30.0)
            grants = SandboxGrants(self._grants_http, self.settings.graph_base_url)
        else:
            grants = TokenGrants(self.credential())
        return PostureService(settings=self.settings, graph=self.graph(), jobs=self.job_store(),
                              tables=self.table_service(), sinks=self.alert_sinks(), grants=grants,
                              methods=self.methods_report())

    def methods_report(self) -> MethodsReportService:
        from shared.inventory.figures import MethodsReportService
        from shared.inventory.store import InventoryStore

        return MethodsReportService(settings=self.settings, graph=self.graph(),
                                    store=InventoryStore(self.table_service(), self.settings.inventory_table))

    def tap_drop(self) -> TapDrop:
        if self._tap_drop is None:
            from shared.tapdrop import TapDrop

            self._tap_drop = TapDrop(self.table_service(), self.settings.jobs_table,
                                     self.settings.tap_drop_key.get_secret_value())
        return self._tap_drop

    def cleanup_service(self) -> CleanupService:
        from shared.cleanup.service import CleanupService
        from shared.inventory.store import InventoryStore

        return CleanupService(settings=self.settings, graph=self.graph(), jobs=self.job_store(),
                              tables=self.table_service(), alerts=self.alerts(), budget=self.graph_budget(),
                              inventory=InventoryStore(self.table_service(), self.settings.inventory_table))

    def inventory_service(self) -> InventoryService:
        from shared.inventory.service import InventoryService
        from shared.inventory.store import InventoryStore

        return InventoryService(settings=self.settings, graph=self.graph(),
                                store=InventoryStore(self.table_service(), self.settings.inventory_table),
                                budget=self.graph_budget(), thresholds=self._unused_days())

    def _unused_days(self) -> list[int]:
        """The cleanup policy's `unused` thresholds, for the inventory's scheduling; a policy that cannot be read
        here is reported where cleanup runs, and the inventory falls back to INVENTORY_RECHECK_DAYS."""
        if not self.settings.cleanup_policy:
            return []
        from pathlib import Path

        from shared.cleanup.policy import PolicyError, load_policy

        try:
            policy = load_policy(Path(self.settings.cleanup_policy).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, PolicyError):
            return []
        return sorted({rule.days for rule in policy.rules if rule.kind == "unused"})

    def tap_sweeper(self) -> TapSweeper:
        from shared.tap.sweep import TapSweeper

        return TapSweeper(settings=self.settings, graph=self.graph(), jobs=self.job_store(),
                          budget=self.graph_budget())

    def reset_service(self) -> ResetService:
        if self._reset is None:
            from shared.queue.deadletters import DeadLetterStore
            from shared.reset.service import ResetService

            self._reset = ResetService(settings=self.settings, jobs=self.job_store(), graph=self.graph(),
                                       tickets=self.tickets(), queue=self.queue(), tap_drop=self.tap_drop(),
                                       alerts=self.alerts(),
                                       dead_letters=DeadLetterStore(self.table_service(), self.settings.jobs_table),
                                       gate=self.verification_gate())
        return self._reset

    def verification_gate(self) -> VerificationGate:
        if self._gate is None:
            from shared.alerts import FanOutAlerts, LogAlerts
            from shared.verify.gate import VerificationGate

            sinks = self.alert_sinks()
            others = [sink for name, sink in sinks.items() if name != "log"]
            self._gate = VerificationGate(settings=self.settings, graph=self.graph(), jobs=self.job_store(),
                                          tickets=self.tickets(), sinks=FanOutAlerts(LogAlerts(), *others),
                                          teams=sinks.get("teams"))
        return self._gate

    def verified_id_service(self) -> VerifiedIdService:
        """The verified_id proof: the user's page, the Request Service, its callback."""
        if self._verified_id is None:
            import httpx

            from shared.verify.requestservice import RequestService
            from shared.verify.verified_id import VerifiedIdService

            self._verifiedid_http = httpx.AsyncClient(transport=self.verifiedid_transport, timeout=30.0)
            # The sandbox's simulator takes no token (GRAPH_AUTH=none is the sandbox); Azure: the managed identity.
            credential = self.credential() if self.settings.graph_auth == "managed_identity" else None
            self._verified_id = VerifiedIdService(
                proofs=self.verification_service(), settings=self.settings,
                requests=RequestService(self._verifiedid_http, self.settings, credential),
                recovery=self.recovery_store())
        return self._verified_id

    def recovery_service(self) -> RecoveryService:
        if self._recovery is None:
            from shared.verify.recovery import RecoveryService

            self._recovery = RecoveryService(settings=self.settings, reset=self.reset_service(),
                                             verified=self.verified_id_service(), store=self.recovery_store(),
                                             alerts=self.verification_gate().sinks)
        return self._recovery

    def recovery_store(self) -> RecoveryStore:
        from shared.verify.recovery_store import RecoveryStore

        return RecoveryStore(self.table_service().get_table_client(self.settings.jobs_table),
                             ensure=self.job_store().ensure_tables)

    def verification_service(self) -> VerificationService:
        if self._verification is None:
            from shared.verify.service import VerificationService

            reset = self.reset_service()
            self._verification = VerificationService(gate=self.verification_gate(), jobs=self.job_store(),
                                                     tap_drop=self.tap_drop(), resume=reset.continue_verified)
        return self._verification

    async def close(self) -> None:
        for client in (self._queue, self._alerts, *(self._sinks or {}).values()):
            closer = getattr(client, "close", None)
            if closer is not None:
                await closer()
        self._sinks = None
        for http in (self._alert_http, self._grants_http, self._verifiedid_http):
            if http is not None:
                await http.aclose()
        self._alert_http = self._grants_http = self._verifiedid_http = None
        self._verified_id = None
        self._recovery = None
        if self._servicenow_http is not None:
            await self._servicenow_http.aclose()
            self._servicenow_http = None
            self._tickets = None
        self._reset = None
        self._gate = None
        self._verification = None
        self._tap_drop = None
        if self._tables is not None:
            await self._tables.close()
            self._tables = None
            self._jobs = None
        if self._credential is not None:
            await self._credential.close()
            self._credential = None
        self._graph = None


_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        # The settings (pydantic and its settings sources, ~0.1 s) are read when the first trigger runs, not when
        # the Functions host imports the app: a cold start that a timer or a request then pays once.
        from shared.settings import get_settings

        settings = get_settings()
        configure_logging(settings)
        _container = Container(settings)
        from shared.telemetry.setup import configure_telemetry

        configure_telemetry()  # once per worker; nothing unless APPLICATIONINSIGHTS_CONNECTION_STRING is set
    return _container


def configure_logging(settings: Settings) -> None:
    """LOG_LEVEL applies to mfaops's own loggers; the Functions host owns the root logger and its handlers."""
    import logging

    logging.getLogger("mfaops").setLevel(settings.log_level)
    # httpx logs every request's full URL at INFO; a Teams Workflows URL carries its signature in the query, so
    # those lines would put a secret in Application Insights.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def use_container(new: Container | None) -> None:
    """Install a container (tests, the local host); ``None`` goes back to building from app settings."""
    global _container
    _container = new
