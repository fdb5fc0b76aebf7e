"""function_app must import light: no Graph SDK, no storage or Service Bus client at import time, and (issue 28)
nothing a trigger needs only when it runs: pydantic and the settings object, YAML, the detection rules, posture,
the HTML pages, OpenTelemetry's exporters."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("msgraph", "kiota_http", "azure.data.tables", "azure.servicebus", "azure.identity", "cryptography",
         "pydantic", "pydantic_settings", "shared.settings", "yaml", "shared.detection", "shared.posture",
         "segno", "azure.monitor", "opentelemetry.exporter", "opentelemetry.sdk")


def test_importing_function_app_loads_no_sdk_client() -> None:
    code = ("import sys, json, function_app; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith({!r}))))".format(HEAVY))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
