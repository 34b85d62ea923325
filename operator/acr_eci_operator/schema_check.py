"""A custom resource checked offline against its CRD's structural schema, as the apiserver checks a create.

`check(schema, value)` walks a version's `openAPIV3Schema` (the one `acr_eci_operator.crd` generates)
and the object together and gives every `SchemaError` the apiserver's schema validation would give:
`type`, `required`, `enum`, `pattern`, `minLength`/`maxLength`, `minimum`/`maximum` (and the boolean
`exclusiveMinimum`/`exclusiveMaximum` of OpenAPI 3.0), `minItems`/`maxItems`,
`minProperties`/`maxProperties`, `format` (int32, int64, date-time), `x-kubernetes-int-or-string`, the
uniqueness of `x-kubernetes-list-type: map` and `set` lists, and unknown fields: what kubectl's strict
field validation refuses (without it the apiserver drops them silently, which is how a typo goes unseen).

As the apiserver does, a property given as `null` is taken as absent (it prunes such nulls before
defaulting), and `x-kubernetes-preserve-unknown-fields` keeps anything below it. The root's `apiVersion`,
`kind` and `metadata` are checked elsewhere (ObjectMeta has rules of its own, `metadata_errors`); `status`
is not checked, since the apiserver drops it on a create when the status subresource is on.

The check also returns the object as the CEL rules should see it: unknown fields and values of the wrong
type left out, so that one finding does not make every rule above it fail to evaluate.

No I/O here, and no dependency beyond the standard library.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acr_eci_operator.models import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, matches

Schema = Mapping[str, Any]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
ROOT_CHECKED_ELSEWHERE = ("apiVersion", "kind", "metadata", "status")

OBJECT_META_FIELDS = (
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)
"""The fields of a Kubernetes ObjectMeta (k8s.io/apimachinery/pkg/apis/meta/v1)."""
MAX_NAME = 253
MAX_NAMESPACE = 63
MAX_LABEL_VALUE = 63
MAX_ANNOTATIONS_BYTES = 256 * 1024
# A qualified name (label and annotation keys): an optional DNS subdomain prefix and '/', then up to 63
# alphanumerics, '-', '_' or '.', starting and ending alphanumeric (k8s.io/apimachinery validation).
QUALIFIED_NAME_PATTERN = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


BLOCKING = frozenset({"type", "required", "enum", "maxLength", "maxItems", "maxProperties"})
"""Errors after which the apiserver does not run the CEL rules (apiextensions-apiserver's
`hasBlockingErr`: a wrong type, a missing required field, an unsupported enum value, too long, too many;
it answers "some validation rules were not checked because the object was invalid" instead)."""


@dataclass(frozen=True)
class SchemaError:
    """One refusal: the field as the apiserver names it (`spec.containers[0].image`), a message, and the
    schema keyword that refused it (`pattern`, `required`, `unknown-field`, ...)."""

    field: str
    message: str
    code: str


def check(schema: Schema, value: Mapping[str, Any]) -> tuple[list[SchemaError], dict[str, Any]]:
    """The schema errors of a whole object (`schema` is the version's openAPIV3Schema), and the object
    with what the errors are about left out (for the CEL rules)."""
    errors: list[SchemaError] = []
    kept: dict[str, Any] = {name: value[name] for name in ROOT_CHECKED_ELSEWHERE[:3] if name in value}
    body = {key: item for key, item in value.items() if key not in ROOT_CHECKED_ELSEWHERE}
    root = {**schema, "properties": _without(schema.get("properties", {}), ROOT_CHECKED_ELSEWHERE)}
    checked = _value(root, body, "", errors)
    if isinstance(checked, dict):
        kept.update(checked)
    return errors, kept


def _without(properties: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: child for name, child in properties.items() if name not in names}


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_MISSING = object()


def _value(schema: Schema, value: Any, path: str, errors: list[SchemaError]) -> Any:
    """`value` checked against `schema` (errors appended); what is left of it for CEL, or _MISSING."""
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            errors.append(
                SchemaError(path, f"must be an integer or a string, not {_describe(value)}", "type")
            )
            return _MISSING
        return value
    kind = schema.get("type")
    if kind is not None and not _has_type(kind, value):
        errors.append(SchemaError(path, f"must be of type {kind}, not {_describe(value)}", "type"))
        return _MISSING
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(item) for item in schema["enum"])
        errors.append(SchemaError(path, f"must be one of {allowed}, not {json.dumps(value)}", "enum"))
    if isinstance(value, str):
        _string(schema, value, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _number(schema, value, path, errors)
    elif isinstance(value, list):
        return _array(schema, value, path, errors)
    elif isinstance(value, dict):
        return _object(schema, value, path, errors)
    return value


def _has_type(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _describe(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    if value is None:
        return "null"
    shown = json.dumps(value, default=str)
    return (
        f"{names.get(type(value), type(value).__name__)} {shown if len(shown) <= 40 else shown[:37] + '...'}"
    )


def _string(schema: Schema, value: str, path: str, errors: list[SchemaError]) -> None:
    length = len(value)
    if "minLength" in schema and length < schema["minLength"]:
        errors.append(
            SchemaError(path, f"must be at least {schema['minLength']} characters long", "minLength")
        )
    if "maxLength" in schema and length > schema["maxLength"]:
        errors.append(
            SchemaError(
                path, f"must be at most {schema['maxLength']} characters long (is {length})", "maxLength"
            )
        )
    pattern = schema.get("pattern")
    if pattern and not matches(pattern, value):
        errors.append(SchemaError(path, f"{json.dumps(value)} does not match {pattern}", "pattern"))
    if schema.get("format") in ("date-time", "date") and not _is_timestamp(value):
        errors.append(
            SchemaError(path, f"{json.dumps(value)} is not an RFC 3339 {schema['format']}", "format")
        )


def _is_timestamp(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _number(schema: Schema, value: float, path: str, errors: list[SchemaError]) -> None:
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if minimum is not None:
        if schema.get("exclusiveMinimum") and value <= minimum:
            errors.append(SchemaError(path, f"must be greater than {minimum} (is {value})", "minimum"))
        elif value < minimum:
            errors.append(SchemaError(path, f"must be at least {minimum} (is {value})", "minimum"))
    if maximum is not None:
        if schema.get("exclusiveMaximum") and value >= maximum:
            errors.append(SchemaError(path, f"must be less than {maximum} (is {value})", "maximum"))
        elif value > maximum:
            errors.append(SchemaError(path, f"must be at most {maximum} (is {value})", "maximum"))
    bounds = {"int32": INT32, "int64": INT64}.get(str(schema.get("format")))
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        errors.append(SchemaError(path, f"{value} does not fit in {schema['format']}", "format"))


def _array(schema: Schema, value: list[Any], path: str, errors: list[SchemaError]) -> list[Any]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(SchemaError(path, f"must have at least {schema['minItems']} items", "minItems"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(
            SchemaError(path, f"must have at most {schema['maxItems']} items (has {len(value)})", "maxItems")
        )
    items = schema.get("items")
    kept = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if item is None:
            errors.append(SchemaError(item_path, "must not be null", "type"))
            continue
        checked = _value(items, item, item_path, errors) if isinstance(items, Mapping) else item
        if checked is not _MISSING:
            kept.append(checked)
    _unique(schema, value, path, errors)
    return kept


def _unique(schema: Schema, value: list[Any], path: str, errors: list[SchemaError]) -> None:
    """`x-kubernetes-list-type`: map (unique by its keys) or set (unique items)."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type not in ("map", "set"):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        if list_type == "map":
            if not isinstance(item, dict) or any(item.get(key) is None for key in keys):
                continue  # a type or required error already
            identity = json.dumps({key: item[key] for key in keys}, sort_keys=True)
        else:
            identity = json.dumps(item, sort_keys=True)
        if identity in seen:
            what = ", ".join(f"{key} {json.dumps(item[key])}" for key in keys) if list_type == "map" else ""
            errors.append(
                SchemaError(
                    f"{path}[{index}]",
                    f"duplicate entry{' ' + what if what else ''}: the same as {path}[{seen[identity]}]",
                    "duplicate",
                )
            )
        else:
            seen[identity] = index


def _object(schema: Schema, value: dict[str, Any], path: str, errors: list[SchemaError]) -> dict[str, Any]:
    given = {key: item for key, item in value.items() if item is not None}
    count = len(given)
    if "minProperties" in schema and count < schema["minProperties"]:
        errors.append(
            SchemaError(path, f"must have at least {schema['minProperties']} entries", "minProperties")
        )
    if "maxProperties" in schema and count > schema["maxProperties"]:
        errors.append(
            SchemaError(
                path, f"must have at most {schema['maxProperties']} entries (has {count})", "maxProperties"
            )
        )
    for name in schema.get("required", ()):
        if name not in given:
            errors.append(SchemaError(_child(path, name), "required field is missing", "required"))
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    kept: dict[str, Any] = {}
    for name, item in given.items():
        if name in properties:
            checked = _value(properties[name], item, _child(path, name), errors)
        elif isinstance(extra, Mapping):
            checked = _value(extra, item, f"{path}[{name}]", errors)
        elif preserve or extra is True:
            checked = item
        else:
            errors.append(
                SchemaError(_child(path, name), f"unknown field {json.dumps(name)}", "unknown-field")
            )
            continue
        if checked is not _MISSING:
            kept[name] = checked
    return kept


def metadata_errors(metadata: Any, namespaced: bool = True) -> list[SchemaError]:
    """What the apiserver's ObjectMeta validation refuses in a create's metadata: a missing or invalid
    name (a DNS subdomain; generateName stands in when the name is missing), an invalid namespace (a DNS
    label), label and annotation keys that are not qualified names, label values, annotations over
    256 KiB in all, and fields ObjectMeta does not have."""
    if metadata is None:
        return [SchemaError("metadata.name", "required field is missing (name or generateName)", "required")]
    if not isinstance(metadata, dict):
        return [SchemaError("metadata", f"must be of type object, not {_describe(metadata)}", "type")]
    errors: list[SchemaError] = []
    for name in metadata:
        if name not in OBJECT_META_FIELDS:
            errors.append(
                SchemaError(f"metadata.{name}", f"unknown field {json.dumps(name)}", "unknown-field")
            )
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        errors.append(
            SchemaError("metadata.name", "required field is missing (name or generateName)", "required")
        )
    elif name is not None:
        errors += _dns_name(name, "metadata.name", DNS_SUBDOMAIN_PATTERN, MAX_NAME, "RFC 1123 subdomain")
    namespace = metadata.get("namespace")
    if namespace is not None and namespaced:
        errors += _dns_name(
            namespace, "metadata.namespace", DNS_LABEL_PATTERN, MAX_NAMESPACE, "RFC 1123 label"
        )
    for field in ("labels", "annotations"):
        entries = metadata.get(field)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            errors.append(
                SchemaError(f"metadata.{field}", f"must be a map, not {_describe(entries)}", "type")
            )
            continue
        for key, item in entries.items():
            path = f"metadata.{field}[{key}]"
            errors += _qualified_name(str(key), path)
            if not isinstance(item, str):
                errors.append(SchemaError(path, f"must be a string, not {_describe(item)}", "type"))
            elif field == "labels" and (
                len(item) > MAX_LABEL_VALUE or not matches(LABEL_VALUE_PATTERN, item)
            ):
                errors.append(
                    SchemaError(
                        path,
                        f"{json.dumps(item)} is not a label value (at most 63 alphanumerics, '-', '_' or '.', "
                        "starting and ending alphanumeric)",
                        "pattern",
                    )
                )
        if field == "annotations":
            size = sum(len(str(key).encode()) + len(str(item).encode()) for key, item in entries.items())
            if size > MAX_ANNOTATIONS_BYTES:
                errors.append(
                    SchemaError("metadata.annotations", f"{size} bytes in all; at most 262144", "maxLength")
                )
    return errors


def _dns_name(value: Any, path: str, pattern: str, limit: int, what: str) -> list[SchemaError]:
    if not isinstance(value, str):
        return [SchemaError(path, f"must be a string, not {_describe(value)}", "type")]
    if len(value) > limit:
        return [SchemaError(path, f"must be at most {limit} characters long (is {len(value)})", "maxLength")]
    if not matches(pattern, value):
        return [
            SchemaError(
                path,
                f"{json.dumps(value)} is not a lowercase {what}: lowercase letters, digits and '-'"
                + (" or '.'" if "subdomain" in what else "")
                + ", starting and ending with a letter or digit",
                "pattern",
            )
        ]
    return []


def _qualified_name(key: str, path: str) -> list[SchemaError]:
    prefix, slash, name = key.rpartition("/")
    valid = len(name) <= 63 and matches(QUALIFIED_NAME_PATTERN, name)
    if slash:
        valid = valid and len(prefix) <= MAX_NAME and matches(DNS_SUBDOMAIN_PATTERN, prefix)
    if valid:
        return []
    return [
        SchemaError(
            path,
            f"{json.dumps(key)} is not a qualified name (an optional DNS subdomain and '/', then at most 63 "
            "alphanumerics, '-', '_' or '.', starting and ending alphanumeric)",
            "pattern",
        )
    ]
