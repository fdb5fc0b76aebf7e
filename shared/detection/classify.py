"""Offline classification (`mfaops monitor classify FILE`): directoryAudit events in, JSON lines out.

Input may be a Graph response ``{"value": [...]}``, a JSON array, or JSON lines; it is read as a stream (the
array forms by an incremental decoder over chunks), so memory does not grow with the file. Output: an
``event`` line per relevant event and a ``finding`` line per rule hit that needs no tenant context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson  # parses a line several times faster than json: the 50,000 events/s target needs it

from shared.detection.correlate import Correlator
from shared.detection.events import PhoneHasher, Registration, normalise
from shared.detection.rules import RuleConfig, StreamRules

CHUNK = 1 << 16


class InputError(ValueError):
    """Malformed input, with where it is (line, or character offset)."""


@dataclass
class ClassifyStats:
    read: int = 0
    relevant: int = 0
    unknown: int = 0
    merged: int = 0
    findings: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def _lines(stream: IO[bytes], first: bytes) -> Iterator[Any]:
    number = 0
    for raw in _chain_lines(stream, first):
        number += 1
        text = raw.strip()
        if not text:
            continue
        try:
            yield orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"line {number}: not JSON ({exc.args[0].split(':')[0]})") from None


def _chain_lines(stream: IO[bytes], first: bytes) -> Iterator[bytes]:
    buffer = first
    while True:
        *complete, buffer = buffer.split(b"\n")
        yield from complete
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        buffer += chunk
    if buffer:
        yield buffer


def read_events(stream: IO[bytes]) -> Iterator[Any]:
    first = stream.read(CHUNK)
    stripped = first.lstrip()
    while not stripped and first:
        first = stream.read(CHUNK)
        stripped = first.lstrip()
    if not stripped:
        return iter(())
    if stripped[:1] == b"[":
        return _ArrayReader(stream, first).items()
    if stripped[:1] == b"{":
        # A Graph response opens with "@odata.context" or "value" and holds the list; JSON lines hold an event
        # (with "id", "activityDisplayName"...) on each line.
        if re.match(rb'\{\s*"(@odata\.[^"]*|value)"\s*:', stripped):
            return _ArrayReader(stream, first).items()
        return _lines(stream, first)
    raise InputError("offset 0: expected a JSON object, a JSON array or JSON lines")


class _ArrayReader:
    """Incremental reader of ``[...]`` or ``{"value": [...], ...}``: decodes one item at a time from a window
    of the input, so a file of a million events never sits in memory at once."""

    def __init__(self, stream: IO[bytes], first: bytes) -> None:
        self.stream = stream
        self.text = first.decode("utf-8")
        self.pos = 0
        self.offset = 0
        self.decoder = json.JSONDecoder()

    def more(self) -> bool:
        chunk = self.stream.read(CHUNK)
        if not chunk:
            return False
        self.offset += self.pos
        self.text = self.text[self.pos:] + chunk.decode("utf-8", errors="replace")
        self.pos = 0
        return True

    def skip_ws(self) -> str:
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def expect(self, char: str) -> None:
        if self.skip_ws() != char:
            raise InputError(f"offset {self.offset + self.pos}: expected {char!r}")
        self.pos += 1

    def decode(self) -> Any:
        self.skip_ws()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except RecursionError:
                raise InputError(f"offset {self.offset + self.pos}: nested too deep") from None
            except json.JSONDecodeError as exc:
                # Maybe the value runs past the window: read more and try again; at the end it is malformed.
                if self.more():
                    continue
                raise InputError(f"offset {self.offset + exc.pos}: {exc.msg}") from None
            if end == len(self.text) and self.more():
                continue  # a number cut at the window's edge: decode it again with what follows
            self.pos = end
            return value

    def items(self) -> Iterator[Any]:
        start = self.skip_ws()
        if start == "{":
            self.pos += 1
            while True:
                char = self.skip_ws()
                if char == "}":
                    return
                key = self.decode()
                self.expect(":")
                if key == "value":
                    break
                self.decode()
                if self.skip_ws() == ",":
                    self.pos += 1
        self.expect("[")
        if self.skip_ws() == "]":
            self.pos += 1
            return
        while True:
            yield self.decode()
            char = self.skip_ws()
            if char == ",":
                self.pos += 1
                continue
            if char == "]":
                self.pos += 1
                return
            raise InputError(f"offset {self.offset + self.pos}: expected ',' or ']' between events")


def classify(stream: IO[bytes], config: RuleConfig, hasher: PhoneHasher,
             stats: ClassifyStats | None = None) -> Iterator[dict[str, Any]]:
    stats = stats if stats is not None else ClassifyStats()
    rules = StreamRules(config)
    correlator = Correlator()

    def emit(regs: list[Registration]) -> Iterator[dict[str, Any]]:
        for reg in regs:
            stats.relevant += 1
            yield reg.to_event()
            for finding in rules.evaluate(reg):
                stats.findings += 1
                stats.by_rule[finding.rule] = stats.by_rule.get(finding.rule, 0) + 1
                yield finding.to_line()

    for event in read_events(stream):
        stats.read += 1
        reg = normalise(event, hasher)
        if reg is None:
            if not _irrelevant(event):
                stats.unknown += 1
            continue
        yield from emit(correlator.push(reg))
    yield from emit(correlator.flush())
    stats.merged = correlator.merged


def _irrelevant(event: Any) -> bool:
    """An event shaped as a directoryAudit (merely not about methods) is irrelevant, not unknown."""
    return isinstance(event, dict) and isinstance(event.get("activityDisplayName"), str) and "id" in event
