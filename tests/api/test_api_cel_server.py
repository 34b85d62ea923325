"""The CRD on a CEL-enforcing apiserver (apiextensions-apiserver 1.36.4): Established and within the CEL
cost budget, which the server really enforces, and every case of tests/api/cel_cases.py judged as
cel-python judges it (tests/api/test_api_crd.py), with the error a user sees naming the field.

The server has no core API: the resources live under a namespace path with no Namespace object behind it
(nothing looks it up), and each case deletes what it created.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from acr_eci_operator import models
from tests.api.acg_testlib import apply_crd, load_crd
from tests.api.cel_cases import (
    ACG,
    ALL_CASE_IDS,
    ALL_CASES,
    TABLES,
    CelCase,
    CelTable,
    uncorrelatable_variant,
)

pytestmark = pytest.mark.cluster

NAMESPACE = "cel-cases"
BUDGET_GROUP = "budget.acr-operator.dev"
# Every label against every other: quadratic in the list's length, and the server assumes an unbounded list
# as long as a request can make it.
PAIRWISE_RULE = {
    "rule": "!has(self.labels) || self.labels.all(a, self.labels.exists_one(b, a == b))",
    "message": "labels must be unique",
}


@pytest.fixture(scope="module")
def cel_crd(apiextensions_api: Any) -> dict[str, Any]:
    """The AcrContainerGroup CRD, and the conformance CRD beside it, on the server."""
    for table in TABLES:
        apply_crd(apiextensions_api, dict(table.crd))
    return dict(ACG.crd)


@pytest.fixture(scope="module")
def custom(apiextensions_api: Any, cel_crd: dict[str, Any]) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(apiextensions_api)


def test_the_server_is_kubernetes_1_36(apiextensions_api: Any) -> None:
    # (not VersionApi: it asks for /version/, which this server does not serve)
    response = apiextensions_api.rest_client.request("GET", f"{apiextensions_api.configuration.host}/version")
    response.read()
    version = json.loads(response.data)
    assert (version["major"], version["minor"], version["gitVersion"]) == ("1", "36", "v1.36.4")


def test_the_generated_crd_is_established(apiextensions_api: Any, cel_crd: dict[str, Any]) -> None:
    status = (
        client.ApiextensionsV1Api(apiextensions_api)
        .read_custom_resource_definition(cel_crd["metadata"]["name"])
        .status
    )
    conditions = {condition.type: condition.status for condition in status.conditions}
    assert conditions.get("Established") == "True"
    assert conditions.get("NonStructuralSchema") is None


@pytest.mark.parametrize(("table", "case"), ALL_CASES, ids=ALL_CASE_IDS)
def test_cel_case_on_the_server(custom: client.CustomObjectsApi, table: CelTable, case: CelCase) -> None:
    where = (table.group, table.version, NAMESPACE, table.plural)
    body = table.resource(case, case.new)
    send: Callable[[], Any]
    try:
        if case.old is None:

            def send() -> Any:
                return custom.create_namespaced_custom_object(*where, body)

        else:
            stored = custom.create_namespaced_custom_object(*where, table.resource(case, case.old))
            body["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]

            def send() -> Any:
                return custom.replace_namespaced_custom_object(*where, case.name, body)

        expected = sorted([*([case.field] if case.field else []), *case.server_also])
        if not expected:
            send()
            return
        with pytest.raises(ApiException) as refused:
            send()
        assert refused.value.status == 422, refused.value.body
        answer = json.loads(refused.value.body)
        assert sorted(cause["field"] for cause in answer["details"]["causes"]) == expected, answer
        if case.field is not None:
            # What kubectl prints: '... is invalid: spec.zoneId: Invalid value: spec.zoneId is immutable; ...'
            assert f"{case.field}: Invalid value: " in answer["message"], answer["message"]
            assert case.message in answer["message"]
    finally:
        try:
            custom.delete_namespaced_custom_object(*where, case.name)
        except ApiException as error:
            if error.status != 404:
                raise


def _budget_variant(labels_schema: dict[str, Any]) -> dict[str, Any]:
    """The generated CRD under another group, with a `spec.labels` list and a pairwise rule over it."""
    crd = copy.deepcopy(load_crd())
    crd["metadata"]["name"] = f"{models.PLURAL}.{BUDGET_GROUP}"
    crd["spec"]["group"] = BUDGET_GROUP
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["labels"] = {"description": "Labels, unique.", "type": "array", **labels_schema}
    spec["x-kubernetes-validations"].append(PAIRWISE_RULE)
    return crd


def test_a_rule_over_an_unbounded_list_is_over_the_cost_budget(apiextensions_api: Any, cel_crd: Any) -> None:
    extensions = client.ApiextensionsV1Api(apiextensions_api)
    crd = _budget_variant({"items": {"type": "string"}})
    with pytest.raises(ApiException) as refused:
        extensions.create_custom_resource_definition(crd)
    assert refused.value.status == 422
    answer = json.loads(refused.value.body)
    index = (
        len(
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
                "x-kubernetes-validations"
            ]
        )
        - 1
    )
    rule_field = f"spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[{index}].rule"
    over_budget = [
        cause
        for cause in answer["details"]["causes"]
        if cause["field"] == rule_field and "estimated rule cost exceeds budget" in cause["message"]
    ]
    assert over_budget, answer


def test_the_same_rule_over_a_bounded_list_fits(apiextensions_api: Any, cel_crd: Any) -> None:
    crd = _budget_variant({"maxItems": 10, "items": {"type": "string", "maxLength": 63}})
    extensions = client.ApiextensionsV1Api(apiextensions_api)
    apply_crd(apiextensions_api, crd)
    try:
        custom = client.CustomObjectsApi(apiextensions_api)
        body = {
            "apiVersion": f"{BUDGET_GROUP}/{models.VERSION}",
            "kind": models.KIND,
            "metadata": {"name": "labels"},
            "spec": {"containers": [{"name": "c1", "image": "nginx"}], "labels": ["a", "a"]},
        }
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(
                BUDGET_GROUP, models.VERSION, NAMESPACE, models.PLURAL, body
            )
        assert "spec: Invalid value: labels must be unique" in json.loads(refused.value.body)["message"]
    finally:
        extensions.delete_custom_resource_definition(crd["metadata"]["name"])


def test_a_transition_rule_where_nothing_correlates_is_refused(apiextensions_api: Any, cel_crd: Any) -> None:
    with pytest.raises(ApiException) as refused:
        client.ApiextensionsV1Api(apiextensions_api).create_custom_resource_definition(
            uncorrelatable_variant()
        )
    assert refused.value.status == 422
    (cause,) = json.loads(refused.value.body)["details"]["causes"]
    assert cause["field"].endswith("properties[atomic].items.x-kubernetes-validations[0].rule")
    assert "oldSelf cannot be used on the uncorrelatable portion of the schema" in cause["message"]
