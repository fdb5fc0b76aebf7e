"""Alerts: the port and one adapter per sink (log, Service Bus topic, Teams, mail, ServiceNow incident)."""

from shared.alerts.fanout import FanOutAlerts
from shared.alerts.log import LogAlerts
from shared.alerts.port import Alerts
from shared.alerts.topic import TopicAlerts

__all__ = ["Alerts", "FanOutAlerts", "LogAlerts", "TopicAlerts"]
