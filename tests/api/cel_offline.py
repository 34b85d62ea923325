"""A CRD's `x-kubernetes-validations`, run offline with cel-python the way the apiserver runs them.

`violations(schema, new, old)` walks the structural schema and the object together, as
k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/validation.go does, and evaluates every rule at
its node:

- `self` is the node; `oldSelf` is the old node correlated with it, only where Kubernetes correlates:
  object properties and map values by key, items of `x-kubernetes-list-type: map` lists by their keys
  (never items of other lists). A rule that uses `oldSelf` (a transition rule) is skipped where there is
  no correlated old node, so on a create.
- Defaults are applied to both objects first (the server defaults the request and stored the old object
  defaulted); numbers are doubles, `date-time` strings timestamps, as the apiserver types them.
- On an update, a failed rule that does not use `oldSelf` is ratcheted (a warning, not an error) when its
  node, or else its nearest correlatable ancestor, is unchanged.
- The error names the node's path with the rule's `fieldPath` appended, as the server's does
  (`spec.zoneId`, `spec.containers[0].env[0]`); a rule that fails to evaluate is an error at the node.

Not covered: `optionalOldSelf`, cost limits (the real server checks those, tests/api/test_api_cel_server.py)
and Kubernetes' CEL libraries beyond the few functions in `KUBERNETES_FUNCTIONS` (an unknown function
fails loudly: add it there).
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    """A rule that refused the object: the path the error names, its message and the rule."""

    field: str
    message: str
    rule: str


class CaseError(ValueError):
    """The object cannot be judged as the server would: an unknown field (the server prunes it), or a
    rule feature this evaluator does not have."""


def _is_sorted(items: celtypes.ListType) -> celtypes.BoolType:
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(items)))


def _index_of(target: Any, item: Any) -> celtypes.IntType:
    found = (
        target.find(item)
        if isinstance(target, str)
        else next((index for index, value in enumerate(target) if value == item), -1)
    )
    return celtypes.IntType(found)


def _last_index_of(target: Any, item: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return celtypes.IntType(target.rfind(item))
    matches = [index for index, value in enumerate(target) if value == item]
    return celtypes.IntType(matches[-1] if matches else -1)


KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Kubernetes' list library (k8s.io/apiserver/pkg/cel/library/lists.go)
    "isSorted": _is_sorted,
    "sum": lambda items: sum(items[1:], items[0]) if items else celtypes.IntType(0),
    "min": lambda items: min(items),
    "max": lambda items: max(items),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    # cel-go's strings extension, enabled in the apiserver
    "lowerAscii": lambda text: celtypes.StringType(text.lower()),
    "upperAscii": lambda text: celtypes.StringType(text.upper()),
    "trim": lambda text: celtypes.StringType(text.strip()),
    "split": lambda text, separator: celtypes.ListType(
        celtypes.StringType(part) for part in text.split(separator)
    ),
    "join": lambda items, separator="": celtypes.StringType(separator.join(items)),
    "replace": lambda text, old, new: celtypes.StringType(text.replace(old, new)),
    # Kubernetes' regex library
    "find": lambda text, pattern: celtypes.StringType(
        found.group(0) if (found := re.search(pattern, text)) else ""
    ),
    "findAll": lambda text, pattern: celtypes.ListType(
        celtypes.StringType(found.group(0)) for found in re.finditer(pattern, text)
    ),
}


def violations(
    schema: Schema, new: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> list[Violation]:
    """The errors the apiserver's CEL validation gives for `new` (a create) or `old` -> `new` (an update).

    `schema` is the version's openAPIV3Schema; `new` and `old` are whole objects (apiVersion, kind,
    metadata.name, spec, ...)."""
    new = with_defaults(schema, copy.deepcopy(dict(new)))
    old = with_defaults(schema, copy.deepcopy(dict(old))) if old is not None else None
    ratchet = _Ratchet(current=(new, old) if old is not None else None, nearest=None)
    found: list[Violation] = []
    _validate(_Node(schema, "", new, old, ratchet, root=True), found)
    return found


def with_defaults(schema: Schema, value: Any) -> Any:
    """`value` with the schema's defaults filled in where a property is missing (structural defaulting)."""
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = with_defaults(child, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in value:
                value[key] = with_defaults(extra, value[key])
    elif isinstance(value, list) and "items" in schema:
        return [with_defaults(schema["items"], item) for item in value]
    return value


@dataclass(frozen=True)
class _Ratchet:
    """apiserver's ratchetingOptions: the correlated (new, old) pair here, or None, and the nearest
    correlated ancestor's."""

    current: tuple[Any, Any] | None
    nearest: tuple[Any, Any] | None

    def unchanged(self) -> bool:
        pair = self.current if self.current is not None else self.nearest
        return pair is not None and pair[0] == pair[1]

    def key(self, name: str) -> _Ratchet:
        if self.current is None:
            return self
        if self.nearest is None and name in ("apiVersion", "kind"):
            return _Ratchet(None, None)
        new, old = self.current
        pair = (new[name], old[name]) if _both_have(new, old, name) else None
        return _Ratchet(pair, self.current)

    def index(self, schema: Schema, position: int) -> _Ratchet:
        if self.current is None:
            return self
        new, old = self.current
        correlated = None
        if isinstance(new, list) and isinstance(old, list):
            correlated = _map_list_item(schema, old, new[position])
        return _Ratchet((new[position], correlated) if correlated is not None else None, self.current)


def _both_have(new: Any, old: Any, name: str) -> bool:
    return isinstance(new, dict) and isinstance(old, dict) and name in new and name in old


def _map_list_item(schema: Schema, old_items: list[Any], item: Any) -> Any:
    """The old item with the same keys as `item` in an `x-kubernetes-list-type: map` list, or None."""
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(item, dict):
        return None
    keys = schema.get("x-kubernetes-list-map-keys", [])
    for candidate in old_items:
        if isinstance(candidate, dict) and all(candidate.get(key) == item.get(key) for key in keys):
            return candidate
    return None


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@dataclass(frozen=True)
class _Node:
    """A place in the object: its schema, path, new value, correlated old value (or None) and ratcheting."""

    schema: Schema
    path: str
    new: Any
    old: Any
    ratchet: _Ratchet
    root: bool = False


def _validate(node: _Node, found: list[Violation]) -> None:
    if node.new is None:
        return
    _evaluate_rules(node, found)
    schema, path, new, old = node.schema, node.path, node.new, node.old
    if isinstance(new, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, value in new.items():
            old_value = old.get(name) if isinstance(old, dict) else None
            if name in properties:
                child = _Node(properties[name], _child(path, name), value, old_value, node.ratchet.key(name))
                _validate(child, found)
            elif isinstance(extra, Mapping):
                _validate(_Node(extra, f"{path}[{name}]", value, old_value, node.ratchet.key(name)), found)
            elif not (node.root and name in ("apiVersion", "kind")) and path != "metadata":
                raise CaseError(f"{_child(path, name)} is not in the schema: the apiserver would prune it")
    elif isinstance(new, list) and "items" in schema:
        for position, item in enumerate(new):
            old_item = _map_list_item(schema, old, item) if isinstance(old, list) else None
            ratchet = node.ratchet.index(schema, position)
            _validate(_Node(schema["items"], f"{path}[{position}]", item, old_item, ratchet), found)


def _evaluate_rules(node: _Node, found: list[Violation]) -> None:
    for rule in node.schema.get("x-kubernetes-validations", ()):
        text = rule["rule"]
        transition = re.search(r"\boldSelf\b", text) is not None
        if rule.get("optionalOldSelf"):
            raise CaseError(f"optionalOldSelf is not supported offline: {text}")
        if transition and node.old is None:
            continue
        variables = {"self": to_cel(node.schema, node.new, root=node.root)}
        if transition:
            variables["oldSelf"] = to_cel(node.schema, node.old, root=node.root)
        try:
            verdict = _run(text, variables)
        except celpy.CELEvalError as error:
            found.append(Violation(node.path, f"{error.args[0]} evaluating rule: {text}", text))
            continue
        if not isinstance(verdict, celtypes.BoolType):
            raise CaseError(f"rule {text!r} gave {verdict!r}, not a bool")
        if verdict:
            continue
        if not transition and node.ratchet.unchanged():
            continue  # ratcheted: the server only warns
        message = rule.get("message") or f"failed rule: {text}"
        if rule.get("messageExpression"):
            message = str(_run(rule["messageExpression"], variables))
        field = node.path
        if rule.get("fieldPath"):
            field = _child(node.path, _normalize_field_path(rule["fieldPath"]))
        found.append(Violation(field, message, text))


def _normalize_field_path(field_path: str) -> str:
    """`.a.b` -> `a.b` (the forms of fieldPath the server accepts that we use)."""
    if not re.fullmatch(r"(\.[A-Za-z_][A-Za-z0-9_]*)+", field_path):
        raise CaseError(f"fieldPath {field_path!r}: only .a.b paths are supported offline")
    return field_path[1:]


@functools.cache
def _program(expression: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression), functions=KUBERNETES_FUNCTIONS)


def _run(expression: str, variables: Mapping[str, Any]) -> Any:
    return _program(expression).evaluate(dict(variables))


def to_cel(schema: Schema, value: Any, *, root: bool = False) -> Any:
    """A JSON value as the apiserver types it for CEL, by its schema."""
    if value is None:
        return None
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields"):
        return celpy.json_to_cel(value)
    if kind == "object":
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        converted: dict[celtypes.StringType, Any] = {}
        for name, item in value.items():
            if root and name == "metadata":
                # A root rule sees metadata.name and metadata.generateName only.
                item = {key: item[key] for key in ("name", "generateName") if key in item}
                converted[celtypes.StringType(name)] = celpy.json_to_cel(item)
            elif name in properties:
                converted[celtypes.StringType(name)] = to_cel(properties[name], item)
            elif isinstance(extra, Mapping):
                converted[celtypes.StringType(name)] = to_cel(extra, item)
            elif root and name in ("apiVersion", "kind"):
                converted[celtypes.StringType(name)] = celtypes.StringType(item)
        return celtypes.MapType(converted)
    if kind == "array":
        return celtypes.ListType(to_cel(schema.get("items", {}), item) for item in value)
    if kind == "string":
        form = schema.get("format")
        if form in ("date-time", "date"):
            return celtypes.TimestampType(datetime.datetime.fromisoformat(value))
        if form == "duration":
            return celtypes.DurationType(value)
        if form == "byte":
            return celtypes.BytesType(base64.b64decode(value))
        return celtypes.StringType(value)
    if kind == "integer":
        return celtypes.IntType(value)
    if kind == "number":
        return celtypes.DoubleType(float(value))
    if kind == "boolean":
        return celtypes.BoolType(value)
    return celpy.json_to_cel(value)
