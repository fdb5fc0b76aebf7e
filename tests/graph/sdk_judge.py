"""A judge of the Graph simulator that no one here wrote: Microsoft's own SDKs (issue 24).

msgraph-sdk (v1.0) and msgraph-beta-sdk (beta) are generated from Graph's metadata: every path has a request
builder whose URL template names its path and query options, and whose methods (get, post, patch, delete) name
the model of their answer. The judge reads those builders' source (importing 10,000 modules would take minutes;
their text takes seconds), and then:

- a request is Graph's when its path resolves to a builder of its version, the method is one the builder offers
  and every query option is one the template declares;
- a JSON answer is Graph's when the builder's model, parsed by kiota's JSON parse node as the SDK parses it,
  knows every property (an unknown one lands in ``additional_data``) and keeps every value that was there (kiota
  turns a wrong type or an unknown enum member into ``None`` silently).

What it cannot judge: throttling, ordering, timing, and anything the metadata does not say (a refusal's wording).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.graph.wirelog import shape as path_shape  # ids as "{}": the same shape the wire log dedupes by

_TEMPLATE = re.compile(r'super\(\).__init__\(request_adapter, "\{\+baseurl\}([^"]*?)(?:\{\?([^}]*)\})?"')
_METHOD = re.compile(r"^    async def (get|post|patch|put|delete)\(self.*?(?=^    (?:async )?def |^    class |\Z)",
                     re.DOTALL | re.MULTILINE)
_SEND = re.compile(r"send_(async|collection_async|primitive_async|no_response_content_async)\(request_info,\s*"
                   r"([A-Za-z_][A-Za-z0-9_]*|\"[a-z]+\")")
_IMPORT = re.compile(r"from (\.+)([A-Za-z0-9_.]+) import ([A-Za-z0-9_]+)")

# Where a documented form has no builder in the SDK, the reference page wins, named and cited here.
ALLOWED: dict[tuple[str, str, str], str] = {
    # externalauthenticationmethod-delete: "DELETE /users/{id}/authentication/externalAuthenticationMethods/{id}/$ref"
    # (the SDK models the collection as containment and has no $ref builder for it).
    ("DELETE", "v1.0", "/users/{}/authentication/externalAuthenticationMethods/{}/$ref"):
        "learn.microsoft.com/graph/api/externalauthenticationmethod-delete",
    ("DELETE", "beta", "/users/{}/authentication/externalAuthenticationMethods/{}/$ref"):
        "learn.microsoft.com/graph/api/externalauthenticationmethod-delete?view=graph-rest-beta",
    # $batch is the JSON batching endpoint; the SDKs send it through their BatchRequestBuilder, not a generated one.
    ("POST", "v1.0", "/$batch"): "learn.microsoft.com/graph/json-batching",
    ("POST", "beta", "/$batch"): "learn.microsoft.com/graph/json-batching",
}
# OData system query options every collection and entity takes (the templates list them per builder; these are
# the ones Graph documents for every request: "Use query parameters", $skiptoken being the paging token).
ALWAYS = {"$skiptoken"}


@dataclass
class Builder:
    template: str  # "/users/{}/authentication/methods"
    query: frozenset[str]
    module: str
    methods: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # GET -> (kind, model module:name)


def _segments(path: str) -> list[str]:
    return [s for s in path.strip("/").split("/") if s != ""]


def _normal(segment: str) -> str:
    """A template segment as the judge compares it: a parameter is '{}'; a cast 'graph.x' is 'microsoft.graph.x'
    (Graph takes both spellings; the SDK writes the short one)."""
    if segment.startswith("{") and segment.endswith("}"):
        return "{}"
    if segment.startswith("graph."):
        return "microsoft." + segment
    return segment


@functools.lru_cache(maxsize=2)
def builders(package: str) -> dict[tuple[str, ...], Builder]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    root = Path(next(iter(spec.submodule_search_locations))) / "generated"
    out: dict[tuple[str, ...], Builder] = {}
    for file in root.rglob("*_request_builder.py"):
        text = file.read_text(encoding="utf-8", errors="replace")
        found = _TEMPLATE.search(text)
        if not found:
            continue
        path, query = found.group(1), found.group(2) or ""
        module = ".".join(file.relative_to(root.parent.parent).with_suffix("").parts)
        builder = Builder(template="/".join(_normal(s) for s in _segments(path)),
                          query=frozenset(q.replace("%24", "$") for q in query.split(",") if q), module=module)
        imports = {name: (dots, target) for dots, target, name in _IMPORT.findall(text)}
        for method in _METHOD.finditer(text):
            verb = method.group(1).upper()
            send = _SEND.search(method.group(0))
            model = None
            if send and send.group(1) in ("async", "collection_async") and send.group(2) in imports:
                dots, target = imports[send.group(2)]
                package_parts = module.split(".")[: -len(dots)]
                model = ".".join([*package_parts, target]) + ":" + send.group(2)
            builder.methods[verb] = (send.group(1) if send else "none", model)
        out[tuple(_normal(s) for s in _segments(path))] = builder
    return out


def resolve(version: str, path: str) -> Builder | None:
    """The builder whose template matches ``path`` (literal segments equal, parameters anything)."""
    table = builders("msgraph" if version == "v1.0" else "msgraph_beta")
    segments = [_normal(s) if s.startswith("graph.") else s for s in _segments(path)]
    for size in (len(segments),):
        del size
    candidates = [b for key, b in table.items() if len(key) == len(segments)
                  and all(k == "{}" or k == s or (k.lower() == s.lower() and not k.startswith("{"))
                          for k, s in zip(key, segments, strict=True))]
    if not candidates:
        return None
    # The most literal template wins (/users/{id}/authentication/methods over /users/{id}/{x}/{y}).
    return max(candidates, key=lambda b: sum(1 for s in _segments(b.template) if s != "{}"))


@dataclass
class Verdict:
    ok: bool
    why: str = ""


def judge_request(method: str, version: str, path: str, query: list[str]) -> Verdict:
    shape = path_shape(path)
    allowed = ALLOWED.get((method, version, shape))
    if allowed:
        return Verdict(True, f"allowed by {allowed}")
    builder = resolve(version, path)
    if builder is None:
        other = resolve("beta" if version == "v1.0" else "v1.0", path)
        hint = f" (the {'beta' if version == 'v1.0' else 'v1.0'} SDK has it)" if other else ""
        return Verdict(False, f"{method} /{version}{shape}: no request builder in the {version} SDK{hint}")
    if method not in builder.methods:
        return Verdict(False, f"{method} /{version}{shape}: the builder offers {sorted(builder.methods)}")
    unknown = [q for q in query if q.startswith("$") and q not in builder.query and q not in ALWAYS]
    if unknown:
        return Verdict(False, f"{method} /{version}{shape}: query options {unknown} not in {sorted(builder.query)}")
    return Verdict(True)




def model_for(method: str, version: str, path: str) -> Any | None:
    builder = resolve(version, path)
    if builder is None or method not in builder.methods:
        return None
    _kind, model = builder.methods[method]
    if model is None:
        return None
    module, name = model.split(":")
    return getattr(importlib.import_module(module), name)


def judge_response(method: str, version: str, path: str, body: Any) -> list[str]:
    """Problems of one JSON answer against the SDK's model of it: every unknown property, every value lost."""
    import json

    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    model = model_for(method, version, path)
    if model is None or not isinstance(body, dict):
        return []
    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(body).encode())
    parsed = node.get_object_value(model)
    problems: list[str] = []
    _compare(parsed, body, f"{method} /{version}{path_shape(path)}", problems)
    return problems


def _compare(parsed: Any, raw: Any, where: str, problems: list[str]) -> None:
    if parsed is None or not isinstance(raw, dict):
        return
    extra = {k: v for k, v in (getattr(parsed, "additional_data", None) or {}).items()
             if not k.startswith("@odata.") and k not in ("@odata.type",)}
    for key in extra:
        problems.append(f"{where}: property {key!r} is not in {type(parsed).__name__}")
    names = _json_names(parsed)
    for key, value in raw.items():
        if key.startswith("@") or key in extra or value is None:
            continue
        attribute = names.get(key)
        if attribute is None:
            continue
        got = getattr(parsed, attribute, None)
        if got is None:
            problems.append(f"{where}: {type(parsed).__name__}.{key} = {str(value)[:60]!r} was lost in parsing "
                            "(a wrong type or an unknown enum member)")
        elif isinstance(value, dict):
            _compare(got, value, f"{where}.{key}", problems)
        elif isinstance(value, list) and isinstance(got, list):
            for item, raw_item in zip(got, value, strict=False):
                if isinstance(raw_item, dict):
                    _compare(item, raw_item, f"{where}.{key}[]", problems)


@functools.cache
def _json_names_of(cls: type) -> dict[str, str]:
    """JSON property name -> attribute, from the model's own field deserializers."""
    instance = cls()
    out: dict[str, str] = {}
    for json_name in instance.get_field_deserializers():
        attribute = re.sub(r"(?<!^)(?=[A-Z])", "_", json_name.lstrip("@").replace(".", "_")).lower()
        out[json_name] = attribute if hasattr(instance, attribute) else _snake(json_name)
    return out


def _snake(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _json_names(parsed: Any) -> dict[str, str]:
    try:
        return _json_names_of(type(parsed))
    except Exception:  # a model that cannot be built bare: judge its properties by name only
        return {}


def judge_error(body: Any, where: str) -> list[str]:
    """An error answer as Graph documents it ("Microsoft Graph error responses and resource types"): an object
    ``error`` with string ``code`` and ``message`` and an ``innerError`` object, parsed by the SDK's ODataError."""
    import json

    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return [f"{where}: an error answer without an 'error' object"]
    error = body["error"]
    problems = [f"{where}: error.{k} is not a string" for k in ("code", "message") if not isinstance(error.get(k),
                                                                                                    str)]
    if not isinstance(error.get("innerError"), dict):
        problems.append(f"{where}: error.innerError is missing")
    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(body).encode())
    parsed = node.get_object_value(ODataError)
    if parsed.error is None or parsed.error.code != error.get("code"):
        problems.append(f"{where}: the SDK's ODataError does not read the error's code")
    return problems


def judge_envelope(body: Any, where: str) -> list[str]:
    """A $batch answer (json-batching): ``responses``, each with ``id``, an integer ``status``, optional
    ``headers`` (an object of strings) and ``body``."""
    if not isinstance(body, dict) or not isinstance(body.get("responses"), list):
        return [f"{where}: a $batch answer without a 'responses' list"]
    problems = []
    for item in body["responses"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("status"),
                                                                                               int):
            problems.append(f"{where}: a response without a string id and an integer status")
        elif "headers" in item and not (isinstance(item["headers"], dict) and
                                        all(isinstance(v, str) for v in item["headers"].values())):
            problems.append(f"{where}: response {item['id']} has headers that are not strings")
    return problems


def judge_collection(body: Any, where: str) -> list[str]:
    """A collection page: ``value`` a list, an ``@odata.nextLink`` (when present) an absolute URL."""
    if not isinstance(body, dict) or "value" not in body or isinstance(body["value"], bool | int | float | str):
        return []  # not a collection: an action's primitive answer ({"value": true}) is judged by its model
    problems = [] if isinstance(body["value"], list) else [f"{where}: value is not a list"]
    link = body.get("@odata.nextLink")
    if link is not None and not (isinstance(link, str) and link.startswith(("http://", "https://"))):
        problems.append(f"{where}: @odata.nextLink is not an absolute URL")
    return problems
