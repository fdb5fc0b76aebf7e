"""Policy files (YAML: the cleanup policy, the verification policy): read safely and validated by a pydantic
model, every error naming the line and the field of the first problem."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from shared.errors import MfaopsError

M = TypeVar("M", bound=BaseModel)


class PolicyFileError(MfaopsError):
    """The file is not a valid policy; the message names the line and the field."""


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



def validated(text: str, model: type[M], *, what: str, kinds: set[str] | frozenset[str] = frozenset(),
              max_bytes: int) -> M:
    """``text`` parsed and validated as ``model``; ``what`` says what the top-level mapping must hold, ``kinds``
    are the discriminator values of tagged unions (not fields: left out of the error's location)."""
    try:
        size = len(text.encode())
    except UnicodeEncodeError as exc:
        raise PolicyFileError(f"character {exc.start}: not valid Unicode text (a lone surrogate)") from None
    if size > max_bytes:
        raise PolicyFileError(f"the policy is over {max_bytes} bytes")
    try:
        loader = _NoAliases(text)
        try:  # composed once: the node tree gives the lines, the same tree the data
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PolicyFileError(f"line {mark.line + 1 if mark else '?'}: not YAML: {exc.problem}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyFileError(f"not YAML: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise PolicyFileError(f"line 1: the policy must be a mapping with {what}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p in kinds)]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")  # the discriminator itself is what is wrong
        field = ".".join(str(p) for p in loc) or "policy"
        raise PolicyFileError(f"line {_line_of(node, loc)}: {field}: {first['msg']}") from None


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
