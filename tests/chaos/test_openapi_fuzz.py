"""A schema-driven fuzz of the HTTP API (schemathesis, from the checked-in OpenAPI document the local host serves)
against the local system over loopback: never a 5xx, every refusal a problem body, no job from an unsigned
request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.localsystem import serving

SECRET = "fuzz-secret"
ROUTES = {"/itsm/servicenow", "/jobs/{job_id}", "/jobs/{job_id}/tap", "/jobs/{job_id}/retry",
          "/jobs/{job_id}/verify/callback", "/verify/manager/{verification_id}",
          "/verify/manager/{verification_id}/tap", "/public/verify/{verification_id}",
          "/public/verify/{verification_id}/status", "/public/verify/{verification_id}/tap", "/public/verify/callback",
          "/public/recover"}
# Pages a person looks at answer their refusals as HTML pages, not problem bodies.
HTML_PAGES = {("/verify/manager/{verification_id}", "GET"), ("/public/verify/{verification_id}", "GET"),
              ("/public/recover", "GET"), ("/public/recover", "POST")}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(SECRET) as port:
        yield f"http://127.0.0.1:{port}"


def test_no_input_the_schema_allows_or_not_gets_a_5xx(base_url: str) -> None:
    # The schemathesis pytest plugin does not load under this pytest; its strategies, driven by hypothesis, do.
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    seen: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def one(case: Any) -> None:
            response = case.call(base_url=f"{base_url}/api", timeout=30)
            seen[case.path] = seen.get(case.path, 0) + 1
            assert response.status_code < 500, response.text[:500]
            html_page = (case.path, case.method) in HTML_PAGES
            if response.status_code >= 400 and not html_page:
                assert str(response.headers.get("content-type", "")).find("application/problem+json") >= 0, (
                    response.status_code, case.method, case.path, case.headers, response.text[:300])
                body = json.loads(response.text)
                assert {"title", "status"} <= set(body), body
            if case.path == "/itsm/servicenow":
                assert response.status_code not in (200, 202)  # schemathesis signs nothing: no job

        one()
    assert set(seen) == ROUTES
    assert sum(seen.values()) >= 500


def test_the_document_is_served_and_names_every_route(base_url: str) -> None:
    document = httpx.get(f"{base_url}/api/openapi.json", timeout=30).json()
    assert set(document["paths"]) == ROUTES
