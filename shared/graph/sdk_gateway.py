"""The Graph gateway on msgraph-sdk, one port (shared/graph/port.py) served by the resource families it talks to:
users and roles, methods, policies, reports / audit / sign-ins, and mail (shared/graph/sdk/, each part with the
documentation pages of the calls it makes), on one request machinery (shared/graph/sdk/base.py). Beta endpoints
and $batch go through the same request adapter (and so the same auth, retry and telemetry middleware) as raw
requests: the v1.0 SDK has no builders for them."""

from __future__ import annotations

from shared.graph.sdk.audit import AuditAndSignIns
from shared.graph.sdk.base import SEGMENTS, _method_from_json, _tap_from_json
from shared.graph.sdk.mail import Mail
from shared.graph.sdk.methods import Methods
from shared.graph.sdk.policies import Policies
from shared.graph.sdk.users import UsersAndRoles

__all__ = ["SEGMENTS", "SdkGraphGateway", "_method_from_json", "_tap_from_json"]


class SdkGraphGateway(UsersAndRoles, Methods, Policies, AuditAndSignIns, Mail):
    """Every call of the port; the parts share the base's clients, budget and caches."""
