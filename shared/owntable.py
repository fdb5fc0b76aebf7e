"""A table a store owns: created on first use (Bicep creates it in Azure; Azurite starts empty), then its client."""

from __future__ import annotations

from azure.data.tables.aio import TableClient, TableServiceClient


class OwnTable:
    def __init__(self, service: TableServiceClient, table: str) -> None:
        self._service = service
        self._table = table
        self._ready = False

    async def _client(self) -> TableClient:
        if not self._ready:
            await self._service.create_table_if_not_exists(self._table)
            self._ready = True
        return self._service.get_table_client(self._table)
