"""A Microsoft Graph tenant simulator for the endpoints mfaops uses, behaving as the Graph reference says."""

from sandbox.graph.app import GraphSimulator, build_app
from sandbox.graph.tenant import Tenant, load_tenant

__all__ = ["GraphSimulator", "Tenant", "build_app", "load_tenant"]
