"""Every parser under hypothesis: whatever bytes or text arrive, the answer is a result or the parser's own typed
error, never another exception; a valid signature is accepted only over its exact body and inside the skew."""

from __future__ import annotations

import contextlib
import io
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.cleanup.policy import PolicyError, load_policy
from shared.detection.classify import InputError, classify
from shared.detection.events import PhoneHasher, normalise
from shared.detection.rules import RuleConfig
from shared.reset.bulk import parse_users_csv
from shared.reset.request import RequestError, parse_request
from shared.reset.signature import SignatureError, sign, verify
from shared.settings import load_settings

CONFIG = RuleConfig.from_settings(load_settings({}))
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                     max_size=4), max_leaves=20)


@given(st.binary(max_size=2000) | JSONISH.map(lambda v: json.dumps(v).encode()))
@settings(max_examples=300, deadline=None)
def test_webhook_bodies(body: bytes) -> None:
    with contextlib.suppress(RequestError):
        parse_request(body)


@given(secret=st.text(min_size=8, max_size=40), body=st.binary(max_size=300), skew=st.integers(-400, 400),
       signature=st.text(max_size=120), stamp=st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_signatures(secret: str, body: bytes, skew: int, signature: str, stamp: str) -> None:
    now = time.time()
    good = sign(secret, int(now) + skew, body)
    if abs(skew) < 300:
        verify(secret, str(int(now) + skew), good, body, now=now, max_skew_s=300)
    for timestamp, header, other in ((str(int(now) + skew), good, body + b"x"), (stamp, signature, body)):
        try:
            verify(secret, timestamp, header, other, now=now, max_skew_s=300)
        except SignatureError:
            continue
        assert header == good and other == body  # accepted only when it is the real signature of this body


@given(st.text(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_bulk_csv_files(text: str) -> None:
    rows, bad = parse_users_csv(text)
    assert all(row.user for row in rows) and all(b.line >= 0 for b in bad)  # 0: the file as a whole


@given(st.text(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_cleanup_policies(text: str) -> None:
    with contextlib.suppress(PolicyError):
        load_policy(text)


@given(st.binary(max_size=3000) | st.lists(JSONISH, max_size=5).map(lambda v: json.dumps(v).encode()))
@settings(max_examples=300, deadline=None)
def test_audit_files_and_graph_answers(data: bytes) -> None:
    with contextlib.suppress(InputError, UnicodeDecodeError):
        list(classify(io.BytesIO(data), CONFIG, PhoneHasher(b"k")))
    try:
        value = json.loads(data)
    except ValueError:
        return
    normalise(value, PhoneHasher(b"k"))
