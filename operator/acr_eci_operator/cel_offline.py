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
- The apiserver's ratcheting (a failed rule that does not use `oldSelf` only warns when its node is
  unchanged) is left out: it never changes a verdict here, since the old object was accepted by the same
  rules, so such a rule passes again on an unchanged node.
- The error names the node's path with the rule's `fieldPath` appended, as the server's does
  (`spec.zoneId`, `spec.containers[0].env[0]`); a rule that fails to evaluate is an error at the node.

Shared by the tests (tests/api/cel_cases.py) and `acr-eci-operator lint`; it needs cel-python (the
`lint` extra), which the operator's image does not carry: import it only where it is used.

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    """A rule that refused the object: the path the error names, its message and the rule."""

    field: str
    message: str
    rule: str
    evaluated: bool = True
    """False when the rule failed to evaluate (a field it reads is missing or of another type): the
    apiserver refuses the object then too, but a linter that already reported the field says it once."""


class CaseError(ValueError):
    """The object cannot be judged as the server would: an unknown field (the server prunes it), or a
    rule feature this evaluator does not have."""


def _is_sorted(items: Any) -> celtypes.BoolType:
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
    "lowerAscii": lambda text: celtypes.StringType("".join(c.lower() if c.isascii() else c for c in text)),
    "upperAscii": lambda text: celtypes.StringType("".join(c.upper() if c.isascii() else c for c in text)),
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
    misplaced = uncorrelatable_transition_rules(schema)
    if misplaced:
        raise CaseError(f"the server refuses this CRD: oldSelf where nothing correlates, at {misplaced}")
    new = with_defaults(schema, copy.deepcopy(dict(new)))
    old = with_defaults(schema, copy.deepcopy(dict(old))) if old is not None else None
    found: list[Violation] = []
    _validate(_Node(schema, "", new, old, root=True), found)
    return found


def uncorrelatable_transition_rules(schema: Schema, path: str = "", correlated: bool = True) -> list[str]:
    """Where a rule uses `oldSelf` in a part of the schema the server cannot correlate (below the items of
    a list that is not `x-kubernetes-list-type: map`): the server refuses such a CRD."""
    found = []
    if not correlated:
        found += [path for rule in schema.get("x-kubernetes-validations", ()) if _uses_old_self(rule["rule"])]
    for name, child in schema.get("properties", {}).items():
        found += uncorrelatable_transition_rules(child, _child(path, name), correlated)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        found += uncorrelatable_transition_rules(extra, f"{path}[*]", correlated)
    if "items" in schema:
        keeps = correlated and schema.get("x-kubernetes-list-type") == "map"
        found += uncorrelatable_transition_rules(schema["items"], f"{path}[*]", keeps)
    return found


def _uses_old_self(rule: str) -> bool:
    return re.search(r"\boldSelf\b", rule) is not None


def rules(schema: Schema) -> Iterator[Mapping[str, Any]]:
    """Every `x-kubernetes-validations` rule in a schema, at any depth."""
    yield from schema.get("x-kubernetes-validations", ())
    children = [
        *schema.get("properties", {}).values(),
        schema.get("items"),
        schema.get("additionalProperties"),
    ]
    for child in children:
        if isinstance(child, Mapping):
            yield from rules(child)


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
    """A place in the object: its schema, path, new value and correlated old value (or None)."""

    schema: Schema
    path: str
    new: Any
    old: Any
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
            if node.root and name in ("apiVersion", "kind", "metadata"):
                continue  # every resource has them, described or not; no rule sits inside them
            if name in properties:
                _validate(_Node(properties[name], _child(path, name), value, old_value), found)
            elif isinstance(extra, Mapping):
                _validate(_Node(extra, f"{path}[{name}]", value, old_value), found)
            else:
                raise CaseError(f"{_child(path, name)} is not in the schema: the apiserver would prune it")
    elif isinstance(new, list) and "items" in schema:
        for position, item in enumerate(new):
            old_item = _map_list_item(schema, old, item) if isinstance(old, list) else None
            _validate(_Node(schema["items"], f"{path}[{position}]", item, old_item), found)


def _evaluate_rules(node: _Node, found: list[Violation]) -> None:
    for rule in node.schema.get("x-kubernetes-validations", ()):
        text = rule["rule"]
        transition = _uses_old_self(text)
        if rule.get("optionalOldSelf"):
            raise CaseError(f"optionalOldSelf is not supported offline: {text}")
        if transition and node.old is None:
            continue
        variables = {"self": to_cel(node.schema, node.new, root=node.root)}
        if transition:
            variables["oldSelf"] = to_cel(node.schema, node.old, root=node.root)
        try:
            verdict = _run(text, variables)
        except CELEvalError as error:
            found.append(Violation(node.path, f"{error.args[0]} evaluating rule: {text}", text, False))
            continue
        if not isinstance(verdict, celtypes.BoolType):
            raise CaseError(f"rule {text!r} gave {verdict!r}, not a bool")
        if verdict:
            continue
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


# CEL's escapes in a quoted (not raw) string literal; cel-python also takes others (`\.`), which the
# apiserver's parser refuses as a syntax error (measured on 1.36: a regex written '\.' fails the CRD).
_STRING_LITERAL = re.compile(r"""(?<![rR])('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-3][0-7]{2}|[abfnrtv\\'\"`?]|.)")
_VALID_ESCAPE = re.compile(r"x..|u....|U........|[0-3][0-7]{2}|[abfnrtv\\'\"`?]")


def check_escapes(expression: str) -> None:
    """Raise CaseError for an escape the apiserver's CEL parser refuses."""
    for literal in _STRING_LITERAL.findall(expression):
        for escape in _ESCAPE.findall(literal[1:-1]):
            if not _VALID_ESCAPE.fullmatch(escape):
                raise CaseError(f"the escape \\{escape} in {literal} is not CEL (the apiserver refuses it)")


@functools.cache
def _program(expression: str) -> Any:
    check_escapes(expression)
    environment = celpy.Environment()
    return environment.program(environment.compile(expression), functions=KUBERNETES_FUNCTIONS)


def _run(expression: str, variables: Mapping[str, Any]) -> Any:
    return _program(expression).evaluate(dict(variables))


class UnorderedList(celtypes.ListType):
    """An `x-kubernetes-list-type: map` or `set` list: the apiserver's CEL compares such lists regardless
    of order (measured: reordering sysctls or volumes passes an `==` rule on 1.36)."""

    def __eq__(self, other: Any) -> Any:
        if not isinstance(other, list):
            return super().__eq__(other)
        return len(self) == len(other) and all(any(item == candidate for candidate in other) for item in self)

    def __ne__(self, other: Any) -> Any:
        equal = self.__eq__(other)
        return equal if not isinstance(equal, bool) else not equal

    __hash__ = None  # type: ignore[assignment]


def to_cel(schema: Schema, value: Any, *, root: bool = False) -> Any:
    """A JSON value as the apiserver types it for CEL, by its schema."""
    if value is None:
        return None
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields"):
        return json_to_cel(value)
    if kind == "object":
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        converted: dict[celtypes.StringType, Any] = {}
        for name, item in value.items():
            if root and name == "metadata":
                # A root rule sees metadata.name and metadata.generateName only.
                item = {key: item[key] for key in ("name", "generateName") if key in item}
                converted[celtypes.StringType(name)] = json_to_cel(item)
            elif name in properties:
                converted[celtypes.StringType(name)] = to_cel(properties[name], item)
            elif isinstance(extra, Mapping):
                converted[celtypes.StringType(name)] = to_cel(extra, item)
            elif root and name in ("apiVersion", "kind"):
                converted[celtypes.StringType(name)] = celtypes.StringType(item)
        return celtypes.MapType(converted)
    if kind == "array":
        items = (to_cel(schema.get("items", {}), item) for item in value)
        if schema.get("x-kubernetes-list-type") in ("map", "set"):
            return UnorderedList(items)
        return celtypes.ListType(items)
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
    return json_to_cel(value)
