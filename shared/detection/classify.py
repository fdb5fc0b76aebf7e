"""Offline classification (`mfaops monitor classify FILE`): directoryAudit events in, JSON lines out.

Input may be a Graph response ``{"value": [...]}``, a JSON array, or JSON lines; it is read as a stream (the
array forms by an incremental decoder over chunks), so memory does not grow with the file. Output: an
``event`` line per relevant event and a ``finding`` line per rule hit that needs no tenant context.
"""

from __future__ import annotations

import codecs
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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; RFC 8259 has neither


class _ArrayReader:
    """Incremental reader of ``[...]`` or ``{"value": [...], ...}``: decodes one item at a time from a window
    of the input, so a file of a million events never sits in memory at once. The bytes are decoded by an
    incremental UTF-8 decoder (a character split across two reads is whole), and a value longer than the window
    grows it geometrically, so one huge value costs linear time, not one retry per 64 KiB."""

    def __init__(self, stream: IO[bytes], first: bytes) -> None:
        self.stream = stream
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.bytes_read = 0
        self.text = ""
        self.pos = 0
        self.offset = 0
        self.attempts = 0  # decode attempts (the linear-time test counts them)
        self.decoder = json.JSONDecoder(parse_constant=_no_constant)
        self._feed(first, final=False)

    def _feed(self, chunk: bytes, *, final: bool) -> None:
        try:
            text = self.utf8.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            pending = len(self.utf8.getstate()[0]) if not final else 0
            raise InputError(f"offset {self.bytes_read - pending + exc.start}: not UTF-8") from None
        self.bytes_read += len(chunk)
        self.text += text

    def more(self, at_least: int = CHUNK) -> bool:
        """Read at least ``at_least`` more bytes (or to the end); False when nothing was left."""
        got = 0
        self.offset += self.pos
        self.text = self.text[self.pos:]
        self.pos = 0
        while got < at_least:
            chunk = self.stream.read(max(CHUNK, at_least - got))
            if not chunk:
                self._feed(b"", final=True)
                break
            got += len(chunk)
            self._feed(chunk, final=False)
        return got > 0

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
            self.attempts += 1
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except RecursionError:
                raise InputError(f"offset {self.offset + self.pos}: nested too deep") from None
            except json.JSONDecodeError as exc:
                # Maybe the value runs past the window: read as much again as the window holds and retry (the
                # window doubles, so a value of n bytes is retried log2(n / 64 KiB) times); at the end it is
                # malformed.
                if self.more(at_least=max(CHUNK, len(self.text) - self.pos)):
                    continue
                raise InputError(f"offset {self.offset + exc.pos}: {exc.msg}") from None
            except ValueError as exc:  # NaN, Infinity, an integer of over 4,300 digits
                raise InputError(f"offset {self.offset + self.pos}: {str(exc)[:80]}") from None
            if end == len(self.text) and self.more():
                continue  # a number cut at the window's edge: decode it again with what follows
            self.pos = end
            return value

    def end(self) -> None:
        """Nothing but whitespace may follow the document."""
        if self.skip_ws():
            raise InputError(f"offset {self.offset + self.pos}: unexpected data after the end of the JSON document")

    def items(self) -> Iterator[Any]:
        start = self.skip_ws()
        wrapped = start == "{"
        if wrapped:
            self.pos += 1
            while True:
                char = self.skip_ws()
                if char == "}":
                    self.pos += 1
                    self.end()
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
        else:
            while True:
                yield self.decode()
                char = self.skip_ws()
                if char == ",":
                    self.pos += 1
                    continue
                if char == "]":
                    self.pos += 1
                    break
                raise InputError(f"offset {self.offset + self.pos}: expected ',' or ']' between events")
        if wrapped:  # the rest of the response object: more members, then its '}'
            while self.skip_ws() == ",":
                self.pos += 1
                self.decode()
                self.expect(":")
                self.decode()
            self.expect("}")
        self.end()


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
