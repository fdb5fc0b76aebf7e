"""Issue 23, finding 9: `monitor classify` on hostile files. Each input exits 2 naming its line or offset, or is
classified correctly; nothing raises anything but InputError, and a huge value costs linear time (counted in
decode attempts, not seconds)."""

from __future__ import annotations

import io
import json
from typing import Any

import orjson
import pytest

from shared.detection import classify as classify_module
from shared.detection.classify import CHUNK, InputError, classify
from shared.detection.events import PhoneHasher
from shared.detection.rules import RuleConfig
from shared.settings import load_settings
from tests.detection.events import SMS, am, by_user

CONFIG = RuleConfig.from_settings(load_settings({}))


def run(blob: bytes) -> list[dict[str, Any]]:
    lines = list(classify(io.BytesIO(blob), CONFIG, PhoneHasher(b"k")))
    for line in lines:
        orjson.dumps(line)  # what the CLI writes must be writable
    return lines


def event(**extra: Any) -> dict[str, Any]:
    return {**am("User registered security info", f"User registered {SMS}", "alice@contoso.example",
                 actor=by_user("alice@contoso.example")), **extra}


def outcome(blob: bytes) -> str:
    try:
        return f"ok {len(run(blob))}"
    except InputError as exc:
        return f"input error: {exc}"


@pytest.mark.parametrize("form", ["array", "lines", "value"])
def test_brackets_inside_a_string_are_text(form: str) -> None:
    events = [event(resultReason="[" * 100_000)]
    blob = {"array": json.dumps(events), "lines": json.dumps(events[0]),
            "value": json.dumps({"value": events})}[form].encode()
    assert outcome(blob).startswith(("ok", "input error"))


def test_deep_nesting_is_an_input_error_with_its_offset() -> None:
    result = outcome(b"[" + b"[" * 100_000 + b"]" * 100_001)
    assert result.startswith("input error: offset") and "deep" in result


@pytest.mark.parametrize("form", ["array", "lines"])
def test_a_lone_surrogate_is_refused_or_replaced(form: str) -> None:
    raw = json.dumps(event(resultReason="x\udc80y"))  # json.dumps escapes it as \udc80
    blob = (f"[{raw}]" if form == "array" else raw).encode()
    result = outcome(blob)
    assert result.startswith(("ok", "input error: offset", "input error: line"))


@pytest.mark.parametrize("when", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00",
                                  "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z"])
def test_timestamps_at_the_edges_of_the_calendar(when: str) -> None:
    one = event(activityDateTime=when)
    for blob in (json.dumps([one]).encode(), json.dumps(one).encode()):
        assert outcome(blob).startswith("ok")


@pytest.mark.parametrize("form", ["array", "lines"])
def test_a_number_of_5001_digits(form: str) -> None:
    raw = json.dumps(event()).replace('"id":', '"n": ' + "9" * 5001 + ', "id":', 1)
    blob = (f"[{raw}]" if form == "array" else raw).encode()
    result = outcome(blob)
    assert result.startswith(("ok", "input error: offset", "input error: line"))


@pytest.mark.parametrize("tail", [b"garbage", b"]", b"[1]", b",", b"{}"])
def test_garbage_after_the_array_is_an_input_error(tail: bytes) -> None:
    blob = json.dumps([event()]).encode() + b" " + tail
    assert outcome(blob).startswith("input error: offset")
    value = json.dumps({"value": [event()]}).encode() + tail
    assert outcome(value).startswith("input error: offset")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_is_not_json(constant: str) -> None:
    raw = json.dumps(event()).replace('"id":', f'"n": {constant}, "id":', 1)
    assert outcome(f"[{raw}]".encode()).startswith("input error: offset")
    assert outcome(raw.encode()).startswith("input error: line")


@pytest.mark.parametrize("shift", range(0, 4))
def test_a_character_split_across_a_read_boundary_is_read_whole(shift: int) -> None:
    # "é" (2 bytes) and "𝄞" (4 bytes) placed so that they straddle the 64 KiB boundary, at every split.
    head = json.dumps([event(resultReason="")])[:-2]  # '[{..."resultReason": "' ... without '"}]'
    head = head[: head.rindex('"resultReason": "') + len('"resultReason": "')]
    pad = CHUNK - len(head.encode()) - 1 - shift
    reason = "a" * pad + "𝄞é" + "b" * 10
    blob = json.dumps([event(resultReason=reason)], ensure_ascii=False).encode()
    assert len(run(blob)) >= 1


def test_invalid_utf8_names_its_offset() -> None:
    blob = json.dumps([event()]).encode()
    bad = blob[:100] + b"\xff" + blob[100:]
    assert outcome(bad).startswith("input error: offset 100")
    lines = json.dumps(event()).encode()
    assert outcome(lines[:50] + b"\xff" + lines[50:]).startswith("input error: line 1")


def test_one_huge_value_is_read_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window grows geometrically: decode attempts grow with log(size), not size / 64 KiB."""
    attempts: list[int] = []
    original = classify_module._ArrayReader.decode

    def counting(self: Any) -> Any:
        before = self.attempts
        value = original(self)
        attempts.append(self.attempts - before)
        return value

    monkeypatch.setattr(classify_module._ArrayReader, "decode", counting)
    for size in (1 << 20, 8 << 20):
        attempts.clear()
        blob = json.dumps([event(resultReason="x" * size)]).encode()
        run(blob)
        assert max(attempts) <= 2 + (size // CHUNK).bit_length(), (size, attempts)
