"""A ServiceNow instance simulator for the Table API: GET/PATCH /api/now/table/{table}/{sys_id}, POST
inserts (incidents), basic auth, journal fields appended, 429 on demand.
Seeded from the tenant file's ``servicenow`` section."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JOURNAL_FIELDS = ("work_notes", "comments")


@dataclass
class ServiceNowInstance:
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    journal: list[dict[str, Any]] = field(default_factory=list)
    username: str = "mfaops.integration"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    fail_next: int = 0
    fail_status: int = 429
    requests: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)  # records inserted (incidents from alerts)

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> ServiceNowInstance:
        instance = cls()
        for record in section.get("records", []):
            row = {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                   for k, v in record.items()}
            instance.records[(row["table"], row["sys_id"])] = row
        return instance

    def journal_for(self, sys_id: str) -> list[str]:
        return [entry["value"] for entry in self.journal if entry["sys_id"] == sys_id]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "detail": ""}, "status": "failure"}, status_code=status)


def build_servicenow_app(instance: ServiceNowInstance) -> Starlette:
    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, instance.username) and secrets.compare_digest(password,
                                                                                          instance.password)

    def injected_failure() -> Response | None:
        """The next call fails with the configured status while fail_next lasts (sandbox control)."""
        if instance.fail_next <= 0:
            return None
        instance.fail_next -= 1
        return Response(json.dumps({"error": {"message": "Too many requests"}}), status_code=instance.fail_status,
                        headers={"Retry-After": "0"}, media_type="application/json")

    async def record(request: Request) -> Response:
        table, sys_id = request.path_params["table"], request.path_params["sys_id"]
        instance.requests.append({"method": request.method, "table": table, "sys_id": sys_id})
        if not authorised(request):
            return _error(401, "User Not Authenticated")
        failing = injected_failure()
        if failing is not None:
            return failing
        row = instance.records.get((table, sys_id))
        if row is None:
            return _error(404, "No Record found")
        if request.method == "PATCH":
            try:
                body = json.loads(await request.body())
            except json.JSONDecodeError:
                return _error(400, "Exception while reading request")
            for key, value in body.items():
                if key in JOURNAL_FIELDS:  # journal fields append an entry; the field itself reads empty
                    instance.journal.append({"sys_id": sys_id, "element": key, "value": str(value),
                                             "at": datetime.now(UTC).isoformat()})
                else:
                    row[key] = str(value)
        fields = request.query_params.get("sysparm_fields")
        shown = {k: v for k, v in row.items() if k != "table"}
        shown.update({f: "" for f in JOURNAL_FIELDS})
        if fields:
            wanted = fields.split(",")
            shown = {k: shown.get(k, "") for k in wanted if k in shown or "." not in k}
        return JSONResponse({"result": shown})

    async def create(request: Request) -> Response:
        """Table API insert (POST /api/now/table/{table}): 201 with the new record."""
        table = request.path_params["table"]
        instance.requests.append({"method": "POST", "table": table})
        if not authorised(request):
            return _error(401, "User Not Authenticated")
        failing = injected_failure()
        if failing is not None:
            return failing
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            return _error(400, "Exception while reading request")
        if not isinstance(body, dict):
            return _error(400, "Exception while reading request")
        sys_id = uuid.uuid4().hex
        prefix = {"incident": "INC"}.get(table, table[:3].upper())
        number = f"{prefix}{len(instance.created) + 10001:07d}"
        row = {"sys_id": sys_id, "number": number, "table": table, **{k: str(v) for k, v in body.items()}}
        instance.records[(table, sys_id)] = row
        instance.created.append(row)
        return JSONResponse({"result": {k: v for k, v in row.items() if k != "table"}}, status_code=201)

    async def created(request: Request) -> Response:
        return JSONResponse({"created": instance.created})

    async def control(request: Request) -> Response:
        """Sandbox control (not part of ServiceNow): fail the next N Table API calls with a status."""
        body = json.loads(await request.body() or b"{}")
        instance.fail_next = int(body.get("fail_next", 0))
        instance.fail_status = int(body.get("status", 429))
        return JSONResponse({"fail_next": instance.fail_next, "status": instance.fail_status})

    async def journal(request: Request) -> Response:
        return JSONResponse({"journal": instance.journal})

    routes = [Route("/api/now/table/{table}/{sys_id}", record, methods=["GET", "PATCH"]),
              Route("/api/now/table/{table}", create, methods=["POST"]),
              Route("/_sandbox/created", created, methods=["GET"]),
              Route("/_sandbox/config", control, methods=["POST"]),
              Route("/_sandbox/journal", journal, methods=["GET"])]
    return Starlette(routes=routes)
