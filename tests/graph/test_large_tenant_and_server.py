"""A generated 50,000-user tenant loads and pages; the simulator runs as its own HTTP server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.azurite import free_port
from sandbox.graph import GraphSimulator, build_app
from sandbox.graph.generate import generate, main
from sandbox.graph.tenant import tenant_from_dict
from sandbox.graph.throttle import Throttle

ROOT = Path(__file__).resolve().parents[2]


async def test_a_generated_50000_user_tenant_pages_completely() -> None:
    tenant = tenant_from_dict(generate(50_000))
    assert len(tenant.users) == 50_000
    sim = GraphSimulator(tenant, throttle=Throttle(enabled=False))
    sim.max_page = 0  # Graph's page sizes as asked: this test counts the pages of $top=999
    seen: list[str] = []
    pages = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(sim)),
                                 base_url="http://graph.sandbox") as client:
        url: str | None = "/v1.0/users?$top=999&$select=id,userPrincipalName"
        while url:
            body = (await client.get(url)).json()
            seen.extend(u["id"] for u in body["value"])
            url = body.get("@odata.nextLink")
            pages += 1
        guests = (await client.get("/v1.0/users", params={"$filter": "userType eq 'Guest'", "$top": "999"})).json()
    assert len(seen) == len(set(seen)) == 50_000
    assert pages == 51
    assert guests["value"] and all(g["userType"] == "Guest" for g in guests["value"])


def test_the_generator_is_deterministic_and_refuses_nonsense(tmp_path: Path) -> None:
    assert generate(50, seed=3) == generate(50, seed=3)
    assert main(["--users", "0"]) == 2
    out = tmp_path / "t.json"
    assert main(["--users", "10", "--out", str(out)]) == 0
    assert len(tenant_from_dict(json.loads(out.read_text())).users) == 10


def test_the_simulator_serves_over_http_on_loopback() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.graph", "--tenant", "sandbox/tenants/demo.json",
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1.0/users/ada.lovelace@contoso.example", timeout=2)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.json()["displayName"] == "Ada Lovelace"
        httpx.post(f"http://127.0.0.1:{port}/_sandbox/config", json={"faults": {"rate_reset": 1.0}}, timeout=5)
        with pytest.raises(httpx.RemoteProtocolError):  # the injected reset drops the connection mid-response
            httpx.get(f"http://127.0.0.1:{port}/v1.0/users", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_bad_tenant_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"users": [{"userPrincipalName": "x@y", "methods": [{"type": "carrierPigeon"}]}]}')
    result = subprocess.run([sys.executable, "-m", "sandbox.graph", "--tenant", str(bad), "--port", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "carrierPigeon" in result.stderr and "Traceback" not in result.stderr
