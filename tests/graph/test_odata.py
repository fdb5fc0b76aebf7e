"""The simulator's OData filter engine on the forms Graph accepts."""

from __future__ import annotations

import pytest

from sandbox.graph.odata import ODataError, apply_orderby, apply_select, parse_filter

ROW = {"userType": "Member", "isAdmin": True, "methodsRegistered": ["mobilePhone", "fido2"], "tags": [],
       "activityDateTime": "2026-01-02T00:00:00Z", "initiatedBy": {"user": {"id": "u1"}},
       "targetResources": [{"id": "t1"}, {"id": "t2"}], "displayName": "O'Brien"}


@pytest.mark.parametrize(("expr", "expected"), [
    ("userType eq 'member'", True),
    ("userType ne 'Member'", False),
    ("isAdmin eq true and userType eq 'Guest'", False),
    ("isAdmin eq true or userType eq 'Guest'", True),
    ("not (isAdmin eq false)", True),
    ("methodsRegistered/any(x:x eq 'fido2')", True),
    ("methodsRegistered/any(x:x eq 'email')", False),
    ("methodsRegistered/all(x:x ne 'email')", True),
    ("tags/any(x:x eq 'a')", False),
    ("tags/all(x:x eq 'a')", True),
    ("targetResources/any(t:t/id eq 't2')", True),
    ("initiatedBy/user/id eq 'u1'", True),
    ("activityDateTime ge 2026-01-01T00:00:00Z and activityDateTime le 2026-01-03T00:00:00Z", True),
    ("activityDateTime gt 2026-01-02T00:00:00Z", False),
    ("startswith(userType,'mem')", True),
    ("endswith(userType,'ber')", True),
    ("userType in ('Guest', 'Member')", True),
    ("displayName eq 'O''Brien'", True),
])
def test_filters(expr: str, expected: bool) -> None:
    assert parse_filter(expr)(ROW) is expected


@pytest.mark.parametrize("bad", ["userType eq", "userType wibble 'x'", "(userType eq 'x'", "userType eq 'x' junk",
                                 "eq 'x'", "userType eq %"])
def test_malformed_filters_are_refused(bad: str) -> None:
    with pytest.raises(ODataError):
        parse_filter(bad)(ROW)


def test_select_keeps_id_and_type_and_orderby_sorts() -> None:
    assert apply_select({"id": 1, "@odata.type": "x", "a": 2, "b": 3}, "a") == {"id": 1, "@odata.type": "x", "a": 2}
    rows = [{"n": "b"}, {"n": "a"}, {"n": "c"}]
    assert [r["n"] for r in apply_orderby(rows, "n desc")] == ["c", "b", "a"]
    with pytest.raises(ODataError):
        apply_orderby(rows, "n sideways")
