"""The webhook signature: ``X-Mfaops-Signature: v1=<base64 HMAC-SHA256(secret, "<timestamp>.<raw body>")>``
with ``X-Mfaops-Timestamp`` in unix seconds (what GlideCertificateEncryption.generateMac produces)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from shared.errors import MfaopsError

TIMESTAMP_HEADER = "X-Mfaops-Timestamp"
SIGNATURE_HEADER = "X-Mfaops-Signature"


class SignatureError(MfaopsError):
    """Missing, malformed, wrong or stale signature. The message never contains the secret."""


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1=" + base64.b64encode(mac).decode()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float,
           max_skew_s: int) -> None:
    if not secret:
        raise SignatureError("the webhook secret is not configured")
    if not timestamp or not signature:
        raise SignatureError(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds") from None
    if abs(now - stamp) > max_skew_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {max_skew_s} s from now")
    expected = sign(secret, timestamp, body)
    # Any of several comma-separated signatures may match (secret rotation sends old and new).
    if not any(hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(",")):
        raise SignatureError("signature does not match")
