"""Infrastructure as code: every Bicep file parses, the template sets exactly the app's settings, and the Graph
grants match the README's permission table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pycep import BicepParser

from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BICEP = ROOT / "bicep"
# Settings the Functions platform reads (the host, triggers, telemetry), not mfaops's Settings object.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
    "ServiceBusConnection__credential", "ServiceBusConnection__clientId", "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}


def parse(text: str) -> dict[str, object]:
    # pycep (Checkov's parser) predates `extension` statements; nothing else in the file depends on the line.
    return dict(BicepParser().parse(text=re.sub(r"^extension .*$", "", text, flags=re.M)))


@pytest.mark.parametrize("path", sorted(BICEP.glob("*.bicep")), ids=lambda p: p.name)
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = parse(path.read_text())
    assert parsed.get("resources") or parsed.get("modules")


def test_a_syntax_slip_is_caught() -> None:
    broken = (BICEP / "resources.bicep").read_text().replace("properties: {", "properties: {{", 1)
    with pytest.raises(Exception):  # noqa: B017 - any parse error will do
        parse(broken)


def app_setting_names() -> list[str]:
    text = (BICEP / "resources.bicep").read_text()
    block = text[text.index("appSettings: ["):]
    block = block[:block.index("\n      ]")]
    return re.findall(r"\{ name: '([^']+)', value:", block)


def test_the_template_sets_exactly_the_apps_settings() -> None:
    names = app_setting_names()
    assert len(names) == len(set(names)), "an app setting is set twice"
    code = {info.alias for info in Settings.model_fields.values()}
    template = set(names) - PLATFORM_SETTINGS
    assert code - template == set(), "settings the template does not set"
    assert template - code == set(), "app settings the code does not read"


def test_secrets_come_from_key_vault_references() -> None:
    text = (BICEP / "resources.bicep").read_text()
    secret_fields = [info.alias for info in Settings.model_fields.values()
                     if "SecretStr" in str(info.annotation) and info.alias != "TABLE_CONNECTION_STRING"]
    for name in secret_fields:
        line = next(ln for ln in text.splitlines() if f"name: '{name}'" in ln)
        assert "@Microsoft.KeyVault(SecretUri=" in line, name
    assert "AccountKey" not in text and "SharedAccessKey" not in text and "listKeys" not in text


def test_graph_grants_are_commented_and_documented() -> None:
    text = (BICEP / "graph-permissions.bicep").read_text()
    granted = re.findall(r"^\s+'([A-Za-z.]+)' // \S", text, flags=re.M)
    assert len(granted) == 10
    readme = (ROOT / "docs" / "operations.md").read_text()  # the permission table, under Deployment
    documented = set(re.findall(r"^\| `([A-Za-z.]+)` \|", readme, flags=re.M))
    assert set(granted) <= documented


def test_the_api_app_registration_declares_exactly_the_routes_roles() -> None:
    """api-app.bicep (Graph extension; Checkov cannot parse it) declares the app roles the routes check."""
    from shared.identity.principal import Role

    text = (BICEP / "api-app.bicep").read_text()
    parse(text)
    assert text.startswith("//") and "extension microsoftGraphV1" in text
    declared = re.findall(r"^\s+value: '([A-Za-z.]+)'$", text, flags=re.M)
    assert declared == [r.value for r in Role] == ["Jobs.Read", "Tap.Retrieve", "Jobs.Retry", "Jobs.Verify"]
    # Any tenant user may sign in (a manager approving a reset holds no role); the routes check roles in code.
    assert "appRoleAssignmentRequired: false" in text
    assert "redirectUris: ['https://${appHostName}/.auth/login/aad/callback']" in text
    assert "enableIdTokenIssuance: true" in text
    main = (BICEP / "main.bicep").read_text()
    assert "module apiApp 'api-app.bicep'" in main and "apiClientId: apiApp.outputs.clientId" in main


def default_grants() -> set[str]:
    """What graph-permissions.bicep grants with its default parameters (detection on, the manager's mail on: the
    default verification policy asks managers; the write flags off)."""
    text = (BICEP / "graph-permissions.bicep").read_text()
    lists = {name: re.findall(r"'([A-Za-z.]+)' //", body) for name, body in
             re.findall(r"^var (\w+Roles) = \[(.*?)^\]", text, flags=re.M | re.S)}
    defaults = {name: value == "true" for name, value in re.findall(r"^param (\w+) bool = (\w+)", text, flags=re.M)}
    assert defaults == {"enableVerifiedId": False, "enableDetection": True, "enableMailAlerts": False,
                        "enableManagerApproval": True, "enablePostureFix": False, "enablePerUserMfaChange": False}
    # The verified_id proof's permission lives on the Request Service's own service principal, not Graph's.
    assert "appId: requestServiceAppId" in text and "'VerifiableCredential.Create.PresentRequest'" in text
    assert "enableMailAlerts || enableManagerApproval ? mailRoles" in text
    return set(lists["resetRoles"]) | set(lists["detectionRoles"]) | set(lists["mailRoles"])


def test_the_demo_tenant_grants_exactly_what_the_grants_file_grants() -> None:
    """Least privilege proven by the whole suite: the sandbox answers 403 for anything outside this set."""
    import json

    demo = json.loads((ROOT / "sandbox" / "tenants" / "demo.json").read_text())
    assert set(demo["app"]["appRoles"]) == default_grants()
