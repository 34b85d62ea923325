"""Generate the AcrContainerGroup CustomResourceDefinition from the typed models.

`python -m acr_eci_operator.crd > crds/acrcontainergroups.eci.acr-operator.dev.yaml`; a test fails
when the committed file differs from what this produces.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from acr_eci_operator import models

HEADER = (
    "# Generated from operator/acr_eci_operator/models.py by `python -m acr_eci_operator.crd`: do not edit.\n"
)

GROUP_NAME_RULE = {
    "rule": f"has(self.spec.containerGroupName) || self.metadata.name.matches('{models.GROUP_NAME_PATTERN}')",
    "message": (
        "metadata.name is not a valid ECI container group name (2 to 128 lowercase letters, digits and "
        "hyphens, not starting or ending with a hyphen): set spec.containerGroupName"
    ),
    # A root rule's error names no field (`<nil>`) without one; this is where the fix goes. (metadata.name
    # cannot be named: the schema does not describe metadata's fields.)
    "fieldPath": ".spec.containerGroupName",
}

PRINTER_COLUMNS = [
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "ECI status of the group",
    },
    {
        "name": "Group ID",
        "type": "string",
        "jsonPath": ".status.containerGroupId",
        "description": "ID of the ECI container group",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Status of the Ready condition",
    },
    {
        "name": "Intranet IP",
        "type": "string",
        "jsonPath": ".status.intranetIp",
        "description": "Private IP address of the group",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def object_schema(cls: type[Any], description: str | None = None) -> dict[str, Any]:
    """The structural OpenAPI schema of a model class."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for model_field, annotation in models.model_fields(cls):
        name = models.json_name(model_field)
        properties[name] = field_schema(model_field, annotation)
        if models.is_required(model_field):
            required.append(name)
    schema: dict[str, Any] = {
        "description": description or models.class_description(cls),
        "type": "object",
        "properties": properties,
    }
    if required:
        schema["required"] = required
    rules = getattr(cls, "CEL_RULES", ())
    if rules:
        schema["x-kubernetes-validations"] = [dict(rule) for rule in rules]
    return schema


def field_schema(model_field: dataclasses.Field[Any], annotation: Any) -> dict[str, Any]:
    description = model_field.metadata["description"]
    schema = type_schema(annotation, model_field.metadata["schema"], description)
    schema = {
        "description": description,
        **{key: value for key, value in schema.items() if key != "description"},
    }
    keys = model_field.metadata["list_map_keys"]
    if keys:
        schema["x-kubernetes-list-type"] = "map"
        schema["x-kubernetes-list-map-keys"] = list(keys)
    rules = model_field.metadata["cel_rules"]
    if rules:
        schema["x-kubernetes-validations"] = [dict(rule) for rule in rules]
    default = model_field.default
    if isinstance(default, str | int | float | bool):
        schema["default"] = default
    return schema


def type_schema(
    annotation: Any, constraints: Mapping[str, Any], description: str | None = None
) -> dict[str, Any]:
    """Schema of one type, with the field's constraints merged in."""
    origin = typing.get_origin(annotation)
    extra = {key: value for key, value in constraints.items() if key not in ("items", "additionalProperties")}
    if origin is Literal:
        return {"type": "string", "enum": list(typing.get_args(annotation)), **extra}
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        return {"type": "array", "items": type_schema(item_type, constraints.get("items", {})), **extra}
    if origin is Mapping:
        values = type_schema(str, constraints.get("additionalProperties", {}))
        return {"type": "object", "additionalProperties": values, **extra}
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return {**object_schema(annotation, description), **extra}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return {"type": simple[annotation], **extra}
    raise TypeError(f"unsupported model type {annotation!r}")


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a dict."""
    root = {
        "description": (
            "An Alibaba Cloud ECI container group run by acr-eci-operator, pulling images from ACR "
            "Enterprise Edition instances without passwords."
        ),
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "description": "Versioned schema of this representation of an object.",
                "type": "string",
            },
            "kind": {"description": "REST resource this object represents.", "type": "string"},
            "metadata": {"type": "object"},
            "spec": object_schema(models.AcrContainerGroupSpec),
            "status": object_schema(models.AcrContainerGroupStatus),
        },
        "x-kubernetes-validations": [GROUP_NAME_RULE],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{models.PLURAL}.{models.GROUP}"},
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": list(models.SHORT_NAMES),
                "categories": list(models.CATEGORIES),
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def open_api_schema() -> dict[str, Any]:
    """The served version's openAPIV3Schema: what the apiserver validates a resource against."""
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def render_crd() -> str:
    """The CRD as the YAML text committed under crds/."""
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=110, allow_unicode=True)


def main() -> None:
    sys.stdout.write(render_crd())


if __name__ == "__main__":
    main()
