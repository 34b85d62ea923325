"""The CRD: generated from the models without drift, fully described, and its CEL rules correct: every case
of tests/api/cel_cases.py judged by cel-python here, as tests/api/test_api_cel_server.py has the real
apiserver judge it."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from acr_eci_operator import cel_offline, crd, models
from tests.api.acg_testlib import CRD_PATH, load_crd
from tests.api.cel_cases import (
    ALL_CASE_IDS,
    ALL_CASES,
    GROUP_NAMES,
    TABLES,
    CelCase,
    CelTable,
    uncorrelatable_variant,
)


def walk(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


@functools.cache
def root_schema() -> dict[str, Any]:
    """The committed CRD's schema, parsed once (read it, do not change it)."""
    schema: dict[str, Any] = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def rules_at(path: str) -> list[dict[str, str]]:
    return dict(walk(root_schema()))[path]["x-kubernetes-validations"]  # type: ignore[no-any-return]


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


@pytest.mark.parametrize(("name", "valid"), GROUP_NAMES)
def test_group_name_pattern_in_python(name: str, valid: bool) -> None:
    assert models.matches(models.GROUP_NAME_PATTERN, name) is valid


def test_every_immutable_field_has_a_rule_naming_it() -> None:
    rules = rules_at(".spec")[: len(models.IMMUTABLE_FIELDS)]  # then the workload rules
    for name, rule in zip(models.IMMUTABLE_FIELDS, rules, strict=True):
        assert f"self.{name}" in rule["rule"]
        assert f"spec.{name}" in rule["message"]
        assert rule["fieldPath"] == f".{name}"
    assert all("fieldPath" in rule for rule in rules_at(".spec")), "spec-level rules name their field"


def offline_verdict(table: CelTable, case: CelCase) -> list[cel_offline.Violation]:
    old = table.resource(case, case.old) if case.old is not None else None
    return cel_offline.violations(table.schema, table.resource(case, case.new), old)


@pytest.mark.parametrize(("table", "case"), ALL_CASES, ids=ALL_CASE_IDS)
def test_cel_case_offline(table: CelTable, case: CelCase) -> None:
    found = offline_verdict(table, case)
    if case.allowed:
        assert found == []
    else:
        assert [violation.field for violation in found] == [case.field], found
        assert case.message in found[0].message


@pytest.mark.parametrize("table", TABLES, ids=[table.plural for table in TABLES])
def test_every_cel_rule_refuses_some_case(table: CelTable) -> None:
    """A rule with no refused case in cel_cases.py is proven on neither engine: add its rows."""
    rules = {rule["rule"] for rule in cel_offline.rules(table.schema)}
    refused = {violation.rule for case in table.cases for violation in offline_verdict(table, case)}
    assert rules - refused == set()


def test_a_transition_rule_where_nothing_correlates_is_found() -> None:
    """The server refuses such a CRD (test_api_cel_server.py); offline, the evaluator refuses to judge it."""
    variant = CelTable(uncorrelatable_variant(), ())
    assert cel_offline.uncorrelatable_transition_rules(variant.schema) == ["spec.atomic[*]"]
    with pytest.raises(cel_offline.CaseError, match="oldSelf where nothing correlates"):
        cel_offline.violations(variant.schema, {"spec": {}})
    for table in TABLES:
        assert cel_offline.uncorrelatable_transition_rules(table.schema) == []


def test_the_offline_evaluator_refuses_escapes_the_apiserver_refuses() -> None:
    from acr_eci_operator.cel_offline import CaseError, check_escapes

    check_escapes(r"self.a.matches('[.]x\\d') && self.b == 'it\'s' && self.c == r'\.'")
    with pytest.raises(CaseError):
        check_escapes(r"self.a.matches('ecs\.gn')")
