"""The linter against a real CEL-enforcing apiserver (apiextensions-apiserver 1.36.4): every AcrContainerGroup
of tests/lint/bad and examples/ is sent as a create (dry run, kubectl's strict field validation), and the
server refuses exactly the fields the linter's admission layer names, and accepts what it accepts.

Left out of the comparison: keys given twice (the YAML is parsed before it is sent, so the server never
sees the repeat; kubectl refuses it on the client) and a version the CRD does not serve (the server answers
404: no such resource).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from acr_eci_operator import cel_offline, crd, lint, manifests, models
from tests.api.acg_testlib import apply_crd

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "lint"
CLIENT_SIDE = ("duplicate-field",)
NOT_CHECKED = "some validation rules were not checked because the object was invalid"

RESOURCES = [
    manifest
    for folder in (ROOT / "tests" / "lint" / "bad", ROOT / "examples")
    for manifest in manifests.read([str(folder)])
    if manifest.is_acr_container_group
]


@pytest.fixture(scope="module")
def custom(apiextensions_api: Any) -> client.CustomObjectsApi:
    apply_crd(apiextensions_api, crd.build_crd())
    return client.CustomObjectsApi(apiextensions_api)


def server_field(field: str) -> str:
    """The linter names a label or annotation by its key (for its line); the server names the map."""
    return re.sub(r"^(metadata\.(labels|annotations))\[.*\]$", r"\1", field)


@pytest.mark.parametrize(
    "manifest", RESOURCES, ids=[f"{Path(m.source).name}#{m.document}:{m.name}" for m in RESOURCES]
)
def test_the_server_refuses_what_the_linter_finds(custom: client.CustomObjectsApi, manifest: Any) -> None:
    problems = [p for p in lint.admission(manifest, cel_offline.violations) if p.code not in CLIENT_SIDE]
    _group, _, version = manifest.api_version.rpartition("/")
    body = json.loads(json.dumps(manifest.body))
    with pytest.raises(ApiException) if problems else _nothing() as refused:
        custom.create_namespaced_custom_object(
            models.GROUP, version, NAMESPACE, models.PLURAL, body, dry_run="All", field_validation="Strict"
        )
    if not problems:
        return
    error = refused.value  # type: ignore[union-attr]
    if any(problem.code == "api-version" for problem in problems):
        assert error.status == 404
        return
    answer = json.loads(error.body)
    unknown = [problem.field for problem in problems if problem.code == "schema.unknown-field"]
    if unknown:
        # Strict decoding refuses before validation, naming every unknown field.
        assert error.status == 400, answer
        assert sorted(re.findall(r'unknown field "([^"]+)"', answer["message"])) == sorted(unknown)
        return
    assert error.status == 422, answer
    causes = [cause for cause in answer["details"]["causes"] if NOT_CHECKED not in cause["message"]]
    assert sorted(cause["field"] for cause in causes) == sorted(server_field(p.field) for p in problems), (
        answer
    )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
