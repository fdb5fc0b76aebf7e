import pytest

from shared.tablekeys import MAX_KEY_CHARS, table_key

FORBIDDEN = "/\\#?"


@pytest.mark.parametrize("value", ["a/b", "a\\b", "a#b", "a?b", "tab\there", "nul\x00", "del\x7f", "c1\x85"])
def test_forbidden_characters_never_reach_a_key(value: str) -> None:
    key = table_key(value)
    assert not any(ch in key for ch in FORBIDDEN)
    assert all(ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F for ch in key)


def test_ordinary_values_are_kept_as_they_are() -> None:
    assert table_key("ada.lovelace@contoso.com") == "ada.lovelace@contoso.com"
    assert table_key("3f1c2b9e-0000-4000-8000-000000000001") == "3f1c2b9e-0000-4000-8000-000000000001"


def test_escaping_is_injective() -> None:
    values = ["a/b", "a%2Fb", "a#b", "a%23b", "a?b", "a%3Fb"]
    assert len({table_key(v) for v in values}) == len(values)


def test_long_values_are_bounded_and_still_distinct() -> None:
    a, b = "x" * 5000 + "a", "x" * 5000 + "b"
    assert len(table_key(a)) <= MAX_KEY_CHARS
    assert table_key(a) != table_key(b)
    assert len(table_key("/" * 1000).encode("utf-8")) <= 1024
