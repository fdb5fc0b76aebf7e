"""The one-time TAP drop: a TAP value waits here, sealed, until it is retrieved once.

The value never reaches Table Storage in the clear: it is sealed with AES-256-GCM under ``TAP_DROP_KEY``
(a Key Vault secret in Azure), bound to its job id, and the sealed row is wiped on first retrieval. A second
retrieval, or one after the TAP expired, is "gone" (HTTP 410).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from shared.errors import ConfigurationError, TapGoneError, TapNotFoundError
from shared.graph.port import IssuedTap, TapValue
from shared.tablekeys import table_key

_ROW = "tapdrop"


@dataclass(frozen=True, slots=True)
class RetrievedTap:
    value: TapValue
    expires: datetime
    usable_once: bool


def _cipher(key_b64: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("TAP_DROP_KEY: must be base64") from None
    if len(key) != 32:
        raise ConfigurationError("TAP_DROP_KEY: must be 32 bytes (AES-256) once base64-decoded")
    return AESGCM(key)


def new_drop_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class TapDrop:
    def __init__(self, service: TableServiceClient, table: str, key_b64: str) -> None:
        self._service = service
        self._table = table
        self._key = key_b64

    @property
    def configured(self) -> bool:
        return bool(self._key)

    async def put(self, job_id: str, tap: IssuedTap) -> None:
        nonce = os.urandom(12)
        sealed = _cipher(self._key).encrypt(nonce, tap.value.reveal().encode(), job_id.encode())
        await self._service.get_table_client(self._table).upsert_entity({
            "PartitionKey": table_key(job_id), "RowKey": _ROW, "Sealed": base64.b64encode(nonce + sealed).decode(),
            "Expires": tap.expires, "UsableOnce": tap.usable_once, "Retrieved": False,
        }, mode=UpdateMode.REPLACE)

    async def supersede(self, job_id: str, *, by_job: str) -> None:
        """A later job deleted this job's TAP from the user: wipe the sealed value and say which job did."""
        table = self._service.get_table_client(self._table)
        try:
            entity = await table.get_entity(table_key(job_id), _ROW)
        except ResourceNotFoundError:
            return
        await table.upsert_entity({"PartitionKey": entity["PartitionKey"], "RowKey": _ROW, "Sealed": "",
                                   "Expires": entity["Expires"], "UsableOnce": entity.get("UsableOnce", True),
                                   "Retrieved": bool(entity.get("Retrieved")), "SupersededBy": by_job},
                                  mode=UpdateMode.REPLACE)

    async def take(self, job_id: str, *, now: datetime | None = None) -> RetrievedTap:
        table = self._service.get_table_client(self._table)
        try:
            entity = await table.get_entity(table_key(job_id), _ROW)
        except ResourceNotFoundError:
            raise TapNotFoundError(f"job {job_id} issued no Temporary Access Pass") from None
        expires = entity["Expires"]
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        if entity.get("SupersededBy"):
            raise TapGoneError(f"superseded by job {entity['SupersededBy']}: a later reset deleted this Temporary "
                               "Access Pass")
        if entity.get("Retrieved") or not entity.get("Sealed"):
            raise TapGoneError("the Temporary Access Pass was already retrieved")
        wiped = {"PartitionKey": entity["PartitionKey"], "RowKey": _ROW, "Sealed": "", "Expires": expires,
                 "UsableOnce": entity.get("UsableOnce", True), "Retrieved": True,
                 "RetrievedAt": now or datetime.now(UTC)}
        try:  # the ETag makes the wipe the claim: of two concurrent readers only one gets the value
            await table.update_entity(wiped, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            raise TapGoneError("the Temporary Access Pass was already retrieved") from None
        if expires <= (now or datetime.now(UTC)):
            raise TapGoneError("the Temporary Access Pass has expired")
        raw = base64.b64decode(entity["Sealed"])
        value = _cipher(self._key).decrypt(raw[:12], raw[12:], job_id.encode()).decode()
        return RetrievedTap(value=TapValue(value), expires=expires, usable_once=bool(entity.get("UsableOnce", True)))
