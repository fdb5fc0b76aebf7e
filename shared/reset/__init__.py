"""Ticket-driven MFA reset: request, signature, guardrails, removal plan and the service that runs it."""
