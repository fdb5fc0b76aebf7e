"""The webhook signature: ``X-Mfaops-Signature: v1=<base64 HMAC-SHA256(secret, "<timestamp>.<raw body>")>``
with ``X-Mfaops-Timestamp`` in unix seconds (what GlideCertificateEncryption.generateMac produces).

Every header comes from a caller who may hold no secret, so every malformed shape is a SignatureError (401),
never an exception of the parser: digits only and a bounded length for the timestamp, printable ASCII for the
signature, a bounded number of comma-separated candidates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re

from shared.errors import MfaopsError

TIMESTAMP_HEADER = "X-Mfaops-Timestamp"
SIGNATURE_HEADER = "X-Mfaops-Signature"
MAX_SIGNATURE_CHARS = 512
MAX_CANDIDATES = 4
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_CANDIDATE = re.compile(r"^v1=[A-Za-z0-9+/]{43}=$")


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
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds")
    stamp = int(timestamp)
    # Whole seconds on both sides: with the fraction of `now` kept, -300 s was refused while +300 s passed.
    if abs(math.floor(now) - stamp) > max_skew_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {max_skew_s} s from now")
    if len(signature) > MAX_SIGNATURE_CHARS or not signature.isascii():
        raise SignatureError(f"{SIGNATURE_HEADER} is malformed")
    candidates = [c.strip() for c in signature.split(",")]
    if len(candidates) > MAX_CANDIDATES:
        raise SignatureError(f"{SIGNATURE_HEADER} has more than {MAX_CANDIDATES} signatures")
    expected = sign(secret, timestamp, body).encode()
    # Any of several comma-separated signatures may match (secret rotation sends old and new). Every candidate
    # is compared (no early exit) in constant time, on bytes.
    matched = False
    for candidate in candidates:
        if _CANDIDATE.fullmatch(candidate):
            matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise SignatureError("signature does not match")
