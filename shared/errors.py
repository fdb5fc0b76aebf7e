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


class GraphError(MfaopsError):
    """A Microsoft Graph call failed. Carries what an operator needs to look it up, never a token."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", request_id: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in (("status", self.status), ("code", self.code),
                                                  ("request-id", self.request_id)) if v)
        return f"{self.args[0]} ({extra})" if extra else str(self.args[0])


class GraphNotFoundError(GraphError):
    """404: the user or method does not exist (for a delete: already gone)."""


class DefaultMethodConflictError(GraphError):
    """400 badRequest: the method is the user's default and other methods remain."""


class GraphBadRequestError(GraphError):
    """400 for any other reason: a policy or rule of Graph refused the request."""


class GroupNotFoundError(GraphError):
    """A group named by a setting or a policy matches no group in the tenant."""


class GraphForbiddenError(GraphError):
    """401/403: the identity lacks a permission or a role. Retrying will not help."""


class GraphThrottledError(GraphError):
    """429 that outlasted the retry handler (or asked for a longer wait than the cap)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class GraphTransientError(GraphError):
    """5xx or a broken connection: worth retrying later (the queue redelivers)."""


class NotIndependentError(MfaopsError):
    """An approval by the person who asked (or who acts): it approves nothing."""


class TapNotFoundError(MfaopsError):
    """The job issued no Temporary Access Pass."""


class TapGoneError(MfaopsError):
    """The Temporary Access Pass was retrieved already, or has expired (HTTP 410)."""


class TapDeliveredElsewhereError(MfaopsError):
    """The verification policy delivers this job's TAP to someone other than an operator (HTTP 409)."""


class VerificationError(MfaopsError):
    """A decision on a verification that cannot be taken; ``status`` is its HTTP answer, ``code`` its reason."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
