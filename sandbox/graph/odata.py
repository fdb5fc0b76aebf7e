"""A small OData query engine: the $filter, $select, $orderby and $top forms Graph accepts on the
endpoints mfaops uses. Anything else is refused with 400, as Graph refuses what it does not support."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<dt>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:])
    | (?P<word>[A-Za-z_@$][A-Za-z0-9_./@$-]*)
    )""", re.X)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}


class ODataError(ValueError):
    """An unsupported or malformed query option."""


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(f"Invalid filter clause: unexpected text at {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _value(token: tuple[str, str]) -> Any:
    kind, raw = token
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "num":
        return float(raw) if "." in raw else int(raw)
    if kind == "dt":
        return _as_datetime(raw)
    if kind == "word" and raw in {"true", "false"}:
        return raw == "true"
    if kind == "word" and raw == "null":
        return None
    raise ODataError(f"Invalid filter clause: expected a literal, got {raw!r}")


def _as_datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def resolve(item: Any, path: str) -> Any:
    for part in path.split("/"):
        if not isinstance(item, dict):
            return None
        item = item.get(part)
    return item


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(right, datetime) and isinstance(left, str):
        left = _as_datetime(left)
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])
    except TypeError:
        return False


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], lambda_var: str | None = None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.lambda_var = lambda_var

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise ODataError(f"Invalid filter clause: expected {expected or 'more'}")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise ODataError(f"Invalid filter clause: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda e: a(e) or b(e))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda e: a(e) and b(e))(left, right)
        return left

    def unary(self) -> Predicate:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda e: not inner(e)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.or_expr()
            self.take(")")
            return inner
        return self.comparison()

    def _path(self, raw: str) -> str:
        if self.lambda_var and (raw == self.lambda_var or raw.startswith(self.lambda_var + "/")):
            return raw[len(self.lambda_var):].lstrip("/")
        return raw

    def comparison(self) -> Predicate:
        kind, raw = self.take()
        if kind != "word":
            raise ODataError(f"Invalid filter clause: expected a property, got {raw!r}")
        if raw in {"startswith", "endswith"} and self.peek() == ("punct", "("):
            self.take("(")
            path = self._path(self.take()[1])
            self.take(",")
            needle = str(_value(self.take())).lower()
            self.take(")")
            if raw == "startswith":
                return lambda e: str(resolve(e, path) or "" if path else e).lower().startswith(needle)
            return lambda e: str(resolve(e, path) or "" if path else e).lower().endswith(needle)
        if raw.endswith("/any") or raw.endswith("/all"):
            return self.lambda_expr(raw)
        path = self._path(raw)
        op = self.take()[1]
        if op == "in":
            self.take("(")
            options = [_value(self.take())]
            while self.peek() == ("punct", ","):
                self.take()
                options.append(_value(self.take()))
            self.take(")")
            return lambda e: any(_compare(resolve(e, path) if path else e, "eq", o) for o in options)
        if op not in _COMPARE:
            raise ODataError(f"Invalid filter clause: unsupported operator {op!r}")
        literal = _value(self.take())
        return lambda e: _compare(resolve(e, path) if path else e, op, literal)

    def lambda_expr(self, raw: str) -> Predicate:
        collection, quantifier = raw.rsplit("/", 1)
        collection = self._path(collection)
        self.take("(")
        var = self.take()[1]
        self.take(":")
        depth, start = 1, self.pos
        while depth:
            token = self.take()
            depth += {"(": 1, ")": -1}.get(token[1], 0) if token[0] == "punct" else 0
        inner = _Parser(self.tokens[start:self.pos - 1], lambda_var=var).parse()

        def check(entity: dict[str, Any]) -> bool:
            items = resolve(entity, collection) or []
            if quantifier == "any":
                return any(inner(i) for i in items)
            return all(inner(i) for i in items)  # true for an empty collection, as in OData

        return check


def filter_usage(text: str | None) -> tuple[set[str], set[str]]:
    """The top-level properties a $filter names, and the operators and functions it uses (for the rules of
    which property may be filtered, and which filters are advanced queries)."""
    if not text:
        return set(), set()
    properties: set[str] = set()
    operators: set[str] = set()
    tokens = tokenize(text)
    names = {"eq", "ne", "gt", "ge", "lt", "le", "in", "and", "or", "not", "startswith", "endswith", "true", "false",
             "null", "any", "all"}
    lambda_vars: set[str] = set()
    for i, (kind, raw) in enumerate(tokens):
        if kind != "word":
            continue
        if raw in names:
            operators.add(raw)
            continue
        if i + 1 < len(tokens) and tokens[i + 1] == ("punct", ":"):
            lambda_vars.add(raw)
            continue
        head = raw.split("/", 1)[0]
        if head in lambda_vars:
            continue
        if raw.endswith(("/any", "/all")):
            operators.add(raw.rsplit("/", 1)[1])
        properties.add(head)
    return properties, operators


def parse_filter(text: str | None) -> Predicate:
    if not text:
        return lambda e: True
    return _Parser(tokenize(text)).parse()


def apply_select(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return item
    wanted = {s.strip() for s in select.split(",") if s.strip()}
    return {k: v for k, v in item.items() if k in wanted or k in {"id", "@odata.type"}}


def apply_orderby(items: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    if not orderby:
        return items
    for clause in reversed([c.strip() for c in orderby.split(",")]):
        parts = clause.split()
        path, direction = parts[0], (parts[1].lower() if len(parts) > 1 else "asc")
        if direction not in {"asc", "desc"}:
            raise ODataError(f"Invalid $orderby: {clause!r}")
        items = sorted(items, key=lambda e: (resolve(e, path) is None, str(resolve(e, path) or "")),
                       reverse=direction == "desc")
    return items
