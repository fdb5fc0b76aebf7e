"""mfaops's error tree. Adapters raise these (``from`` the library error); the edges map them to HTTP."""

from __future__ import annotations


class MfaopsError(Exception):
    """Base of every error mfaops raises on purpose."""


class ConfigurationError(MfaopsError):
    """A setting is missing or invalid. The message names the setting, never its value."""


class JobError(MfaopsError):
    """Base of job-store errors."""


class JobNotFoundError(JobError):
    pass


class InvalidTransitionError(JobError):
    """A state change the job's state machine does not allow."""


class ConcurrencyError(JobError):
    """An optimistic-concurrency update kept conflicting after every retry."""
