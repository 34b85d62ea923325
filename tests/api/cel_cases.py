"""The CRD's CEL rules, case by case: one table that both engines judge.

tests/api/test_api_crd.py runs every case through cel-python (`cel_offline`), tests/api/test_api_cel_server.py
through the real apiextensions-apiserver 1.36, and both must give the case's verdict and name its field. A new
rule is proven on both by adding rows here: its allowed and refused objects (for a transition rule, the old
spec too), the field its error must name (the node's path plus the rule's fieldPath) and a piece of its
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acr_eci_operator import models

DEFAULT_NAME = "cel-case"


@dataclass(frozen=True)
class CelCase:
    """`new` (a whole spec) is created, or replaces `old` when that is given; `allowed` or refused with an
    error naming `field` whose message contains `message`."""

    id: str
    new: Mapping[str, Any]
    allowed: bool
    old: Mapping[str, Any] | None = None
    field: str | None = None
    """Where refused: the one field the CEL error names (spec.zoneId, spec.containers[0].env[0], ...)."""
    message: str = ""
    name: str = DEFAULT_NAME
    """metadata.name of the resource (root rules read it)."""
    server_also: tuple[str, ...] = ()
    """Fields the apiserver's own checks, not CEL, also refuse (an invalid metadata.name): the server's
    answer names them besides `field`, and refuses even an `allowed` case."""

    def __post_init__(self) -> None:
        assert self.allowed == (self.field is None), f"{self.id}: a refused case names its field, no other"

    def resource(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "metadata": {"name": self.name},
            "spec": dict(spec),
        }


def spec_with(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c1", "image": "nginx"}], "updateStrategy": "InPlace", **fields}


# ------------------------------------------------------------- metadata.name as the ECI group name

NAME_MESSAGE = "metadata.name is not a valid ECI container group name"

GROUP_NAMES: list[tuple[str, bool]] = [
    ("ab", True),
    ("nginx-test", True),
    ("a" * 128, True),
    ("a", False),
    ("a" * 129, False),
    ("-ab", False),
    ("ab-", False),
    ("Ab", False),
    ("a_b", False),
    ("a.b", False),
]
"""(metadata.name, whether it is a valid ECI container group name)."""

KUBERNETES_NAME_INVALID = {"-ab", "ab-", "Ab", "a_b"}
"""Names the apiserver refuses anyway, as a resource name (RFC 1123 subdomain)."""


def _name_cases() -> list[CelCase]:
    cases = []
    for index, (name, valid) in enumerate(GROUP_NAMES):
        cases.append(
            CelCase(
                f"name-{index}-{'valid' if valid else 'invalid'}",
                spec_with(),
                allowed=valid,
                field=None if valid else "spec.containerGroupName",
                message="" if valid else NAME_MESSAGE,
                name=name,
                server_also=("metadata.name",) if name in KUBERNETES_NAME_INVALID else (),
            )
        )
        cases.append(
            CelCase(
                f"name-{index}-with-group-name",
                spec_with(containerGroupName="ok-name"),
                allowed=True,
                name=name,
                server_also=("metadata.name",) if name in KUBERNETES_NAME_INVALID else (),
            )
        )
    return cases


# ------------------------------------------------------------------------------ immutable fields

IMMUTABLE_VALUES: dict[str, Any] = {
    "containerGroupName": "group-a",
    "regionId": "cn-beijing",
    "zoneId": "cn-beijing-a",
    "securityGroupId": "sg-aaa",
    "vSwitchIds": ["vsw-aaa", "vsw-bbb"],
    "instanceType": "ecs.c6.large",
}
CHANGED_VALUES: dict[str, Any] = {
    "containerGroupName": "group-b",
    "regionId": "cn-hangzhou",
    "zoneId": "cn-beijing-b",
    "securityGroupId": "sg-bbb",
    "vSwitchIds": ["vsw-bbb", "vsw-aaa"],
    "instanceType": "ecs.g6.large",
}
IMMUTABLE_MESSAGE = "is immutable; set updateStrategy: Recreate"


def _immutable_cases() -> list[CelCase]:
    full = spec_with(**IMMUTABLE_VALUES)
    cases = []
    for name in models.IMMUTABLE_FIELDS:
        refused = {"field": f"spec.{name}", "message": f"spec.{name} {IMMUTABLE_MESSAGE}"}
        without = {key: value for key, value in full.items() if key != name}
        cases += [
            CelCase(f"{name}-changed", {**full, name: CHANGED_VALUES[name]}, False, full, **refused),
            CelCase(f"{name}-removed", without, False, full, **refused),
            CelCase(
                f"{name}-added", {**spec_with(), name: IMMUTABLE_VALUES[name]}, False, spec_with(), **refused
            ),
            CelCase(
                f"{name}-changed-with-recreate",
                {**full, name: CHANGED_VALUES[name], "updateStrategy": "Recreate"},
                True,
                full,
            ),
            CelCase(f"{name}-set-on-create", {**spec_with(), name: IMMUTABLE_VALUES[name]}, True),
        ]
    no_strategy = {key: value for key, value in full.items() if key != "updateStrategy"}
    mutable = {**full, "cpu": 4, "restartPolicy": "Never", "containers": [{"name": "c2", "image": "busybox"}]}
    cases += [
        CelCase("immutable-unchanged", dict(full), True, full),
        CelCase("nothing-set-unchanged", spec_with(), True, spec_with()),
        CelCase("mutable-fields-changed", mutable, True, full),
        CelCase("unchanged-without-update-strategy", no_strategy, True, no_strategy),
        CelCase(
            "every-immutable-field-changed-with-recreate",
            {**full, **CHANGED_VALUES, "updateStrategy": "Recreate"},
            True,
            full,
        ),
    ]
    return cases


# ----------------------------------------------------------------------- env: value or valueFrom

ENV_MESSAGE = "value and valueFrom are mutually exclusive"
SECRET_KEY_REF = {"secretKeyRef": {"name": "s", "key": "k"}}
ENVS: list[tuple[str, dict[str, Any], bool]] = [
    ("value", {"name": "A", "value": "x"}, True),
    ("neither", {"name": "A"}, True),
    ("value-from", {"name": "A", "valueFrom": SECRET_KEY_REF}, True),
    ("both", {"name": "A", "value": "x", "valueFrom": SECRET_KEY_REF}, False),
]


def _env_cases() -> list[CelCase]:
    cases = []
    for list_name in ("containers", "initContainers"):
        for label, env, valid in ENVS:
            container = {"name": "c1", "image": "nginx", "env": [{"name": "FIRST", "value": "1"}, env]}
            cases.append(
                CelCase(
                    f"{list_name}-env-{label}",
                    {**spec_with(), list_name: [container]},
                    valid,
                    field=None if valid else f"spec.{list_name}[0].env[1]",
                    message="" if valid else ENV_MESSAGE,
                )
            )
    return cases


# ---------------------------------------------------------------------------------------- tags

TAGS_MESSAGE = f"tag keys must be 1 to {models.MAX_TAG_KEY} characters"
TAGS: list[tuple[str, dict[str, str], bool]] = [
    ("none", {}, True),
    ("plain", {"team": "payments", "env": "prod"}, True),
    ("longest-key", {"k" * models.MAX_TAG_KEY: "x"}, True),
    ("operator-prefix", {"acr-eci-operator/uid": "x"}, False),
    ("aliyun-prefix", {"aliyun-thing": "x"}, False),
    ("acs-prefix", {"acs:x": "x"}, False),
    ("key-too-long", {"k" * (models.MAX_TAG_KEY + 1): "x"}, False),
    ("key-much-too-long", {"k" * 129: "x"}, False),
]


def _tag_cases() -> list[CelCase]:
    return [
        CelCase(
            f"tags-{label}",
            spec_with(tags=tags),
            valid,
            field=None if valid else "spec.tags",
            message="" if valid else TAGS_MESSAGE,
        )
        for label, tags, valid in TAGS
    ]


CASES: list[CelCase] = [*_name_cases(), *_immutable_cases(), *_env_cases(), *_tag_cases()]

_ids = [case.id for case in CASES]
assert len(set(_ids)) == len(_ids), "case ids must be unique"
