"""ServiceNow Table API adapter (basic auth), retrying 429 and 5xx as the instance asks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.escaping import servicenow_text
from shared.itsm.port import Ticket, TicketSystem, TicketSystemError

_FIELDS = ("sys_id,number,state,approval,active,requested_for,requested_for.email,requested_for.user_name,"
           "caller_id,caller_id.email,caller_id.user_name")


class ServiceNowTickets(TicketSystem):
    def __init__(self, client: httpx.AsyncClient, instance_url: str, username: str, password: str, *,
                 privileged_field: str = "", max_retries: int = 3, retry_after_cap_s: float = 30.0) -> None:
        self._client = client
        self._base = instance_url.rstrip("/")
        self._auth = httpx.BasicAuth(username, password)
        self._fields = _FIELDS + (f",{privileged_field}" if privileged_field else "")
        self._retries = max_retries
        self._cap = retry_after_cap_s

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._retries + 1):
            try:
                response = await self._client.request(method, url, auth=self._auth, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise TicketSystemError(f"ServiceNow unreachable: {type(exc).__name__}", transient=True) from exc
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            if response.status_code != 429 and response.status_code < 500:
                return response
            if attempt == self._retries:
                break
            wait = _retry_after(response) or 0.2 * 2**attempt
            if wait > self._cap:
                break
            await asyncio.sleep(wait)
        raise TicketSystemError(f"ServiceNow answered {response.status_code} after {attempt + 1} attempts",
                                transient=True)

    async def get_ticket(self, table: str, sys_id: str) -> Ticket | None:
        response = await self._send("GET", f"{self._base}/api/now/table/{table}/{sys_id}", params={
            "sysparm_fields": self._fields, "sysparm_display_value": "false",
            "sysparm_exclude_reference_link": "true"})
        if response.status_code == 404:
            return None
        _raise_for(response, "read the ticket")
        record = {k: _text(v) for k, v in response.json().get("result", {}).items()}
        return Ticket(table=table, sys_id=sys_id, number=record.get("number", ""), state=record.get("state", ""),
                      approval=record.get("approval", ""), active=record.get("active", "true") != "false",
                      fields=record)

    async def write_back(self, table: str, sys_id: str, work_note: str, *, state: str = "") -> None:
        body = {"work_notes": servicenow_text(work_note), **({"state": state} if state else {})}
        response = await self._send("PATCH", f"{self._base}/api/now/table/{table}/{sys_id}", json=body)
        _raise_for(response, "write back to the ticket")

    async def create_record(self, table: str, fields: dict[str, str]) -> str:
        response = await self._send("POST", f"{self._base}/api/now/table/{table}", json=fields,
                                    params={"sysparm_fields": "sys_id,number"})
        _raise_for(response, f"create a {table} record")
        return str(response.json().get("result", {}).get("sys_id", ""))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise TicketSystemError(f"could not {what}: ServiceNow answered {response.status_code}",
                                transient=response.status_code in (408, 429) or response.status_code >= 500)


def _text(value: Any) -> str:
    if isinstance(value, dict):  # a reference field when links are not excluded: {"value": ..., "link": ...}
        return str(value.get("value", ""))
    return "" if value is None else str(value)
