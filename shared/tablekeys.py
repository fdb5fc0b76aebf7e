"""Safe Table Storage keys.

PartitionKey and RowKey may not contain ``/ \\ # ?`` or control characters and are limited to 1 KiB.
Values that reach a key (UPNs, ticket ids, operator input) are escaped reversibly, percent-style, so two
different values never share a key; over-long values keep a readable prefix and a hash.
"""

from __future__ import annotations

import hashlib

_FORBIDDEN = set("/\\#?%")
MAX_KEY_CHARS = 400  # well under 1 KiB even when every character is escaped or wide


def table_key(value: str) -> str:
    out = []
    for ch in value:
        code = ord(ch)
        if ch in _FORBIDDEN or code < 0x20 or 0x7F <= code <= 0x9F:
            out.append("%{:02X}".format(code) if code < 0x100 else f"%u{code:04X}")
        else:
            out.append(ch)
    key = "".join(out)
    if len(key) > MAX_KEY_CHARS:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
        key = key[: MAX_KEY_CHARS - 65] + "~" + digest
    return key
