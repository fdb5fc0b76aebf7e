"""Posture: daily checks that security-info registration is protected, the TAP policy fits, break-glass accounts
are safe; drift alerts; the registration policy created on request."""
