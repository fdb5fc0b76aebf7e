"""The cleanup policy file (``CLEANUP_POLICY``, YAML), validated with errors that name the line and the field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.errors import MfaopsError
from shared.graph.method_names import NAMES
from shared.graph.method_names import PHISHING_RESISTANT as PHISHING_RESISTANT_NAMES

MAX_POLICY_BYTES = 64 * 1024  # a real policy is a few hundred bytes; pure-Python YAML costs ~0.5 ms a KiB

# Graph's methodsRegistered vocabulary -> (method @odata.type suffix, phoneType or None): the names some Graph API
# removes, every spelling of each (shared/graph/method_names.py is the one table; fido2, fido2SecurityKey and
# the passKey* names all name a FIDO2 method).
VOCABULARY: dict[str, tuple[str, str | None]] = {n.name: (n.resource, n.phone_type) for n in NAMES.values()
                                                 if n.deletable}
# Types no Graph API removes, and where an admin removes them instead.
NOT_DELETABLE = {n.name: n.note for n in NAMES.values() if not n.deletable}
PHISHING_RESISTANT = tuple(sorted(PHISHING_RESISTANT_NAMES))


class PolicyError(MfaopsError):
    """The policy file is not valid. The message names the line and the field."""


def _check_types(types: list[str]) -> list[str]:
    for name in types:
        if name in NOT_DELETABLE:
            raise ValueError(f"{name} cannot be removed through Graph: {NOT_DELETABLE[name]}")
        if name not in VOCABULARY:
            raise ValueError(f"{name!r} is not a methodsRegistered type mfaops can remove "
                             f"({', '.join(sorted(VOCABULARY))})")
    return types


def _group_names(names: list[str]) -> list[str]:
    """A group is an object id or a display name (Entra allows 256 characters); it goes into an OData filter
    and into Table Storage, so it must be printable Unicode text."""
    for name in names:
        try:
            name.encode()
        except UnicodeEncodeError:
            raise ValueError(f"group {name.encode(errors='backslashreplace').decode()!r} is not valid Unicode "
                             "text (a lone surrogate)") from None
        if not name.strip() or len(name) > 256 or not name.isprintable():
            raise ValueError(f"group {name[:80]!r}: a display name or object id of 1 to 256 printable characters")
    return names


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._-]+$")
    include_groups: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("include_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        return _group_names(value)


class _RemovesTypes(_Rule):
    """A rule that names the method types it removes (checked against what Graph can delete)."""

    remove: list[str] = Field(min_length=1)

    @field_validator("remove")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return _check_types(value)


class WeakWhenPhishingResistant(_RemovesTypes):
    kind: Literal["weak_when_phishing_resistant"]


class DisabledAccount(_Rule):
    kind: Literal["disabled_account"]


class Guest(_Rule):
    kind: Literal["guest"]


class KeepNewest(_RemovesTypes):
    kind: Literal["keep_newest"]
    keep: int = Field(ge=0, le=100)


class MethodType(_RemovesTypes):
    kind: Literal["method_type"]


Rule = Annotated[WeakWhenPhishingResistant | DisabledAccount | Guest | KeepNewest | MethodType,
                 Field(discriminator="kind")]


class CleanupPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    max_removals_per_run: int = Field(ge=1, le=100_000)
    exclude_groups: list[str] = Field(default_factory=list, max_length=50)
    rules: list[Rule] = Field(min_length=1, max_length=100)

    @field_validator("exclude_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        return _group_names(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> CleanupPolicy:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


class _NoAliases(yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML without anchors and aliases (a billion-laughs document expands from a few lines), without
    duplicate keys (YAML 1.2 forbids them; PyYAML keeps the last one silently) and without numbers longer
    than any setting needs (Python refuses to convert over 4,300 digits with a bare ValueError)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"line {event.start_mark.line + 1}: aliases are not allowed")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = getattr(key_node, "value", None)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> Any:
        if len(str(node.value)) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(None, None, f"a number of {len(str(node.value))} digits",
                                                    node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> Any:
        if len(str(node.value)) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(None, None, f"a number of {len(str(node.value))} characters",
                                                    node.start_mark)
        return super().construct_yaml_float(node)


_NoAliases.add_constructor("tag:yaml.org,2002:int", _NoAliases.construct_yaml_int)
_NoAliases.add_constructor("tag:yaml.org,2002:float", _NoAliases.construct_yaml_float)
MAX_NUMBER_CHARS = 20


def load_policy(text: str) -> CleanupPolicy:
    """Parse and validate; PolicyError naming the line (and the field) of the first problem."""
    try:
        size = len(text.encode())
    except UnicodeEncodeError as exc:
        raise PolicyError(f"character {exc.start}: not valid Unicode text (a lone surrogate)") from None
    if size > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is over {MAX_POLICY_BYTES} bytes")
    try:
        loader = _NoAliases(text)
        try:  # composed once: the node tree gives the lines, the same tree the data
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PolicyError(f"line {mark.line + 1 if mark else '?'}: not YAML: {exc.problem}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyError(f"not YAML: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise PolicyError("line 1: the policy must be a mapping with max_removals_per_run and rules")
    try:
        return CleanupPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p in _KINDS)]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")  # the discriminator itself is what is wrong
        field = ".".join(str(p) for p in loc) or "policy"
        raise PolicyError(f"line {_line_of(node, loc)}: {field}: {first['msg']}") from None


_KINDS = {"weak_when_phishing_resistant", "disabled_account", "guest", "keep_newest", "method_type"}


def _line_of(node: Any, loc: list[Any]) -> int:
    """The line of the YAML node the error's location points at (or of the nearest parent that exists)."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if child is None:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line
