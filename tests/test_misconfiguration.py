"""A misconfigured app answers with a problem body that names the missing setting."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest

from sandbox.localhost import user_function
from shared.bootstrap import Container, use_container
from shared.identity.principal import PRINCIPAL_HEADER, encode_principal
from shared.settings import load_settings


@pytest.fixture
def bare_container() -> Iterator[None]:
    use_container(Container(load_settings({})))
    yield
    use_container(None)


@pytest.mark.usefixtures("bare_container")
async def test_a_missing_table_setting_is_a_500_problem_naming_it() -> None:
    import function_app

    response = await user_function(function_app.app, "get_job")(
        func.HttpRequest("GET", "http://localhost/api/jobs/x", body=b"", route_params={"job_id": "x"},
                         headers={PRINCIPAL_HEADER: encode_principal(object_id="0b5e1c7a-1111-4c2e-9a53-5d7c1e0f0001",
                                                                     upn="ops@contoso.example", roles=["Jobs.Read"])}))
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert "TABLE_SERVICE_URL" in json.loads(response.get_body())["detail"]


@pytest.mark.usefixtures("bare_container")
async def test_without_a_webhook_secret_every_webhook_is_refused() -> None:
    from sandbox.tickets import submit

    response = await submit("any-secret", {"table": "incident"})
    assert response.status_code == 401
    assert "not configured" in json.loads(response.get_body())["detail"]
