"""IT service management: the ticket port and its ServiceNow adapter."""
