"""The ServiceNow simulator: basic auth, journal fields, 429 on demand, unknown records."""

from __future__ import annotations

import httpx

from sandbox.servicenow import ServiceNowInstance, build_servicenow_app

RECORD = {"table": "incident", "sys_id": "ab" * 16, "number": "INC0000001", "state": "2", "approval": "approved",
          "active": True, "requested_for": "ada@contoso.example"}


async def client_for(instance: ServiceNowInstance, *, auth: bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_servicenow_app(instance)),
                             base_url="http://sn.sandbox",
                             auth=(instance.username, instance.password) if auth else None)


async def test_the_table_api_needs_basic_auth_and_appends_journal_fields() -> None:
    instance = ServiceNowInstance.from_section({"records": [RECORD]})
    url = f"/api/now/table/incident/{'ab' * 16}"
    async with await client_for(instance, auth=False) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
    async with await client_for(instance) as client:
        record = (await client.get(url)).json()["result"]
        assert record["active"] == "true" and record["work_notes"] == ""
        for note in ("first", "second"):
            assert (await client.patch(url, json={"work_notes": note, "state": "6"})).status_code == 200
        assert instance.journal_for("ab" * 16) == ["first", "second"]
        assert (await client.get(url)).json()["result"]["state"] == "6"
        assert (await client.get("/api/now/table/incident/" + "cd" * 16)).status_code == 404
        await client.post("/_sandbox/config", json={"fail_next": 2, "status": 429})
        assert [(await client.get(url)).status_code for _ in range(3)] == [429, 429, 200]
        assert len((await client.get("/_sandbox/journal")).json()["journal"]) == 2


async def test_a_table_api_insert_creates_an_incident_and_needs_auth() -> None:
    instance = ServiceNowInstance.from_section({})
    async with await client_for(instance, auth=False) as anonymous:
        assert (await anonymous.post("/api/now/table/incident", json={"short_description": "x"})).status_code == 401
    async with await client_for(instance) as client:
        created = await client.post("/api/now/table/incident", json={"short_description": "mfaops alert",
                                                                     "urgency": "1"})
        assert created.status_code == 201
        row = created.json()["result"]
        assert row["number"].startswith("INC") and len(row["sys_id"]) == 32
        assert (await client.get(f"/api/now/table/incident/{row['sys_id']}")).json()["result"]["urgency"] == "1"
        assert (await client.post("/api/now/table/incident", content=b"{bad")).status_code == 400
