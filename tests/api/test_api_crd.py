"""The CRD: generated from the models without drift, fully described, and its CEL rules correct."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import celpy
import pytest

from acr_eci_operator import crd, models
from tests.api.acg_testlib import CRD_PATH, load_crd

IMMUTABLE_VALUES: dict[str, Any] = {
    "containerGroupName": "group-a",
    "regionId": "cn-beijing",
    "zoneId": "cn-beijing-a",
    "securityGroupId": "sg-aaa",
    "vSwitchIds": ["vsw-aaa", "vsw-bbb"],
    "instanceType": "ecs.c6.large",
    "terminationGracePeriodSeconds": 30,
    "ephemeralStorage": 20,
    "securityContext": {"sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 1000"}]},
}
CHANGED_VALUES: dict[str, Any] = {
    "containerGroupName": "group-b",
    "regionId": "cn-hangzhou",
    "zoneId": "cn-beijing-b",
    "securityGroupId": "sg-bbb",
    "vSwitchIds": ["vsw-bbb", "vsw-aaa"],
    "instanceType": "ecs.g6.large",
    "terminationGracePeriodSeconds": 60,
    "ephemeralStorage": 40,
    "securityContext": {"sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 2000"}]},
}


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def rules_at(path: str) -> list[dict[str, str]]:
    return dict(walk(root_schema()))[path]["x-kubernetes-validations"]  # type: ignore[no-any-return]


def evaluate(rule: str, **variables: Any) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(rule))
    result = program.evaluate({name: celpy.json_to_cel(value) for name, value in variables.items()})
    return bool(result)


def spec_with(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c1", "image": "nginx"}], "updateStrategy": "InPlace", **fields}


def test_committed_crd_is_what_the_models_generate() -> None:
    assert CRD_PATH.read_text() == crd.render_crd(), (
        "crds/ drifted from the models: run `python -m acr_eci_operator.crd > " + str(CRD_PATH.name) + "`"
    )


def test_names_and_printer_columns() -> None:
    spec = load_crd()["spec"]
    assert spec["group"] == "eci.acr-operator.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "AcrContainerGroup"
    assert spec["names"]["plural"] == "acrcontainergroups"
    assert spec["names"]["shortNames"] == ["acg"]
    assert spec["names"]["categories"] == ["eci"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = {column["name"]: column["jsonPath"] for column in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Group ID": ".status.containerGroupId",
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Intranet IP": ".status.intranetIp",
        "Age": ".metadata.creationTimestamp",
    }


def test_every_property_has_a_description() -> None:
    missing = [
        path
        for path, schema in walk(root_schema())
        if path not in ("", ".metadata") and not path.endswith("[]") and not schema.get("description")
    ]
    assert missing == []


def test_schema_constraints() -> None:
    schema = dict(walk(root_schema()))
    assert schema[".spec"]["required"] == ["containers"]
    assert schema[".spec.restartPolicy"]["default"] == "Always"
    assert schema[".spec.restartPolicy"]["enum"] == ["Always", "OnFailure", "Never"]
    assert schema[".spec.deletionPolicy"]["default"] == "Delete"
    assert schema[".spec.updateStrategy"]["default"] == "InPlace"
    assert schema[".spec.acrRegistryInfos[].instanceId"]["pattern"] == "^cri-[a-z0-9]+$"
    assert schema[".spec.acrRegistryInfos[]"]["required"] == ["instanceId"]
    assert schema[".spec.vSwitchIds"]["maxItems"] == 10
    assert schema[".spec.tags"]["maxProperties"] == 17
    assert schema[".spec.containers[].ports[].containerPort"]["minimum"] == 1
    assert schema[".spec.containers[].ports[].containerPort"]["maximum"] == 65535
    assert (schema[".spec.cpu"]["minimum"], schema[".spec.cpu"]["maximum"]) == (0.25, 64.0)
    assert (schema[".spec.memory"]["minimum"], schema[".spec.memory"]["maximum"]) == (0.5, 512.0)
    assert schema[".spec.containers[].env[].value"]["maxLength"] == 256
    assert schema[".spec.containers[].args"]["maxItems"] == 10
    for list_path in (".spec.containers", ".spec.initContainers", ".spec.containers[].env"):
        assert schema[list_path]["x-kubernetes-list-type"] == "map"
        assert schema[list_path]["x-kubernetes-list-map-keys"] == ["name"]
    assert schema[".status.conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    assert "password" not in schema[".spec.imageRegistryCredentials[]"]["properties"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
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
    ],
)
def test_group_name_pattern(name: str, valid: bool) -> None:
    assert models.matches(models.GROUP_NAME_PATTERN, name) is valid
    rule = rules_at("")[0]["rule"]
    assert evaluate(rule, self={"metadata": {"name": name}, "spec": {}}) is valid
    assert evaluate(rule, self={"metadata": {"name": name}, "spec": {"containerGroupName": "ok-name"}})


def test_every_immutable_field_has_a_rule_naming_it() -> None:
    rules = rules_at(".spec")[: len(models.IMMUTABLE_FIELDS)]
    for name, rule in zip(models.IMMUTABLE_FIELDS, rules, strict=True):
        assert f"self.{name}" in rule["rule"]
        assert f"spec.{name}" in rule["message"]


@pytest.mark.parametrize("field", models.IMMUTABLE_FIELDS)
def test_immutable_rules_refuse_a_change_in_place(field: str) -> None:
    old = spec_with(**IMMUTABLE_VALUES)
    for changed in ({**old, field: CHANGED_VALUES[field]}, {k: v for k, v in old.items() if k != field}):
        verdicts = {name: evaluate(rule["rule"], self=changed, oldSelf=old) for name, rule in _spec_rules()}
        assert verdicts == {name: name != field for name in models.IMMUTABLE_FIELDS}
    added = {**spec_with(), field: IMMUTABLE_VALUES[field]}
    assert not dict(_verdicts(added, spec_with()))[field]


@pytest.mark.parametrize("field", models.IMMUTABLE_FIELDS)
def test_immutable_rules_allow_a_change_with_recreate(field: str) -> None:
    old = spec_with(**IMMUTABLE_VALUES)
    new = {**old, field: CHANGED_VALUES[field], "updateStrategy": "Recreate"}
    assert all(verdict for _, verdict in _verdicts(new, old))


def test_immutable_rules_allow_unchanged_and_mutable_changes() -> None:
    old = spec_with(**IMMUTABLE_VALUES)
    assert all(verdict for _, verdict in _verdicts(dict(old), old))
    assert all(verdict for _, verdict in _verdicts(spec_with(), spec_with()))
    mutable = {**old, "cpu": 4, "restartPolicy": "Never", "containers": [{"name": "c2", "image": "busybox"}]}
    assert all(verdict for _, verdict in _verdicts(mutable, old))
    no_strategy = {k: v for k, v in old.items() if k != "updateStrategy"}
    assert all(verdict for _, verdict in _verdicts(no_strategy, no_strategy))


def _spec_rules() -> list[tuple[str, dict[str, str]]]:
    return list(zip(models.IMMUTABLE_FIELDS, rules_at(".spec")[: len(models.IMMUTABLE_FIELDS)], strict=True))


def _verdicts(new: dict[str, Any], old: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(name, evaluate(rule["rule"], self=new, oldSelf=old)) for name, rule in _spec_rules()]


@pytest.mark.parametrize(
    ("env", "valid"),
    [
        ({"name": "A", "value": "x"}, True),
        ({"name": "A"}, True),
        ({"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, True),
        ({"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, False),
    ],
)
def test_env_rule(env: dict[str, Any], valid: bool) -> None:
    for path in (".spec.containers[].env[]", ".spec.initContainers[].env[]"):
        (rule,) = rules_at(path)
        assert evaluate(rule["rule"], self=env) is valid


@pytest.mark.parametrize(
    ("tags", "valid"),
    [
        ({}, True),
        ({"team": "payments", "env": "prod"}, True),
        ({"acr-eci-operator/uid": "x"}, False),
        ({"aliyun-thing": "x"}, False),
        ({"acs:x": "x"}, False),
        ({"k" * 129: "x"}, False),
    ],
)
def test_tags_rule(tags: dict[str, str], valid: bool) -> None:
    (rule,) = rules_at(".spec.tags")
    assert evaluate(rule["rule"], self=tags) is valid
