"""The composition root: builds settings and clients lazily, once per worker, and nothing at import.

Blueprints ask ``container()`` for what they need; tests and the local host build their own ``Container``
with other settings (Azurite, the sandbox tenant) and install it with ``use_container``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import ConfigurationError
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableServiceClient

    from shared.graph.port import GraphGateway
    from shared.jobs.table_store import TableJobStore


class Container:
    def __init__(self, settings: Settings, *, graph_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        # Tests route Graph to the in-process simulator; in Azure this stays None (real HTTPS).
        self.graph_transport = graph_transport
        self._tables: TableServiceClient | None = None
        self._jobs: TableJobStore | None = None
        self._credential: AsyncTokenCredential | None = None
        self._graph: GraphGateway | None = None

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

            self._jobs = TableJobStore(self.table_service(), self.settings.jobs_table,
                                       self.settings.jobs_by_user_table,
                                       update_retries=self.settings.job_update_retries)
        return self._jobs

    def graph(self) -> GraphGateway:
        if self._graph is None:
            from shared.graph.client import build_graph_client
            from shared.graph.sdk_gateway import SdkGraphGateway

            settings = self.settings
            credential = self.credential() if settings.graph_auth == "managed_identity" else None
            client = build_graph_client(settings, credential=credential, transport=self.graph_transport)
            self._graph = SdkGraphGateway(client, retry_after_cap_s=settings.graph_retry_after_cap_s,
                                          max_retries=settings.graph_max_retries)
        return self._graph

    async def close(self) -> None:
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
        _container = Container(get_settings())
    return _container


def use_container(new: Container | None) -> None:
    """Install a container (tests, the local host); ``None`` goes back to building from app settings."""
    global _container
    _container = new
