"""Alerts reach the log and the Service Bus topic; a broken topic does not break the caller."""

from __future__ import annotations

import json
import logging

import pytest

from shared.alerts import FanOutAlerts, LogAlerts, TopicAlerts
from tests.fakes import RecordingServiceBusClient


async def test_an_alert_goes_to_the_log_and_the_topic(caplog: pytest.LogCaptureFixture) -> None:
    client = RecordingServiceBusClient()
    alerts = FanOutAlerts(LogAlerts(), TopicAlerts("ns", "mfaops-alerts", credential=None,  # type: ignore[arg-type]
                                                   client=client))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="mfaops.alerts"):
        await alerts.raise_alert("blast_radius", "20 resets in the last hour", job_id="j1", recent=20)
    assert "ALERT blast_radius: 20 resets in the last hour" in caplog.text
    [(topic, message)] = client.sent
    body = json.loads(b"".join(message.body))
    assert topic == "mfaops-alerts" and message.message_id == "blast_radius:j1" and message.subject == "blast_radius"
    assert body["facts"] == {"job_id": "j1", "recent": 20}


async def test_a_failing_topic_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    log_sink = LogAlerts()
    alerts = FanOutAlerts(log_sink, TopicAlerts("ns", "t", credential=None,  # type: ignore[arg-type]
                                                client=RecordingServiceBusClient(fail=True)))  # type: ignore[arg-type]
    await alerts.raise_alert("blast_radius", "limit reached", job_id="j2")
    assert log_sink.raised[0]["job_id"] == "j2"
    assert "not published to TopicAlerts: ServiceBusConnectionError" in caplog.text
