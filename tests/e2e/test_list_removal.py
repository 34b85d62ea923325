"""Removing a whole list (or the group-level cpu/memory) reaches ECI, or the resource says it cannot.

UpdateContainerGroup cannot send an empty list and ECI keeps what is not sent (see
mapping.UNSENDABLE_REMOVALS): such a removal replaces the group under `updateStrategy: Recreate`, and is
otherwise refused by name. Synced is never True while ECI still holds the removed values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from eci_emulator.model import GroupSpec
from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, acg, load_example, wait_for
from tests.e2e.test_lifecycle import ACR, NGINX, StartOperator, polls_later, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

PRIVATE_IMAGE = "registry.example.com/team/app:1.0"
CREDENTIALS = [
    {
        "server": "registry.example.com",
        "userName": "bob",
        "passwordSecretRef": {"name": "registry-example-com", "key": "password"},
    }
]


@dataclass(frozen=True)
class Case:
    field: str
    spec: dict[str, Any]
    removal: dict[str, Any]
    """A merge patch that removes the field (null removes a key)."""
    held: Callable[[GroupSpec], bool]
    """Whether ECI's group still holds the field's values."""
    annotations: dict[str, str] | None = None


CASES = [
    Case(
        "spec.imageRegistryCredentials",
        {"containers": web(PRIVATE_IMAGE), "imageRegistryCredentials": CREDENTIALS},
        {"spec": {"imageRegistryCredentials": None}},
        lambda spec: bool(spec.credentials),
    ),
    Case(
        "spec.initContainers",
        {"containers": web(), "acrRegistryInfos": ACR, "initContainers": [{"name": "init", "image": NGINX}]},
        {"spec": {"initContainers": None}},
        lambda spec: bool(spec.init_containers),
    ),
    Case(
        "spec.acrRegistryInfos",
        {"containers": web("nginx:1.25"), "acrRegistryInfos": ACR},
        {
            "spec": {"acrRegistryInfos": None},
            "metadata": {"annotations": {"k8s.aliyun.com/acr-instance-id": None}},
        },
        lambda spec: bool(spec.acr_registry_infos),
        annotations={"k8s.aliyun.com/acr-instance-id": "cri-j36zhodptmyqabcd"},
    ),
    Case(
        "spec.cpu",
        {"containers": web(), "acrRegistryInfos": ACR, "cpu": 1.0, "memory": 2.0},
        {"spec": {"cpu": None, "memory": None}},
        lambda spec: (spec.cpu, spec.memory) == (1.0, 2.0),
    ),
]


def start(cluster: Cluster, case: Case, **spec: Any) -> str:
    for document in load_example("image-registry-credentials.yaml"):
        if document["kind"] == "Secret":
            cluster.apply(document)
    fields = {**case.spec, **spec}
    body = acg("web", fields.pop("containers"), **fields)
    if case.annotations:
        body["metadata"]["annotations"] = case.annotations
    cluster.apply(body)
    return running(cluster)


@pytest.mark.parametrize("case", CASES, ids=[case.field for case in CASES])
def test_removing_a_whole_list_in_place_is_refused_by_name(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, case: Case
) -> None:
    start_operator()
    group_id = start(cluster, case)
    assert case.held(eci_emulator.group_spec(group_id))  # type: ignore[arg-type]
    cluster.patch("web", case.removal)
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "RemovalNotApplicable")
    synced = cluster.condition("web", "Synced")
    assert synced["status"] == "False"
    assert case.field in synced["message"] and "updateStrategy: Recreate" in synced["message"]
    polls_later(eci_emulator)
    assert cluster.condition("web", "Synced")["status"] == "False"
    assert not eci_emulator.admin.requests("UpdateContainerGroup")
    assert case.held(eci_emulator.group_spec(group_id))  # type: ignore[arg-type]
    assert "RemovalNotApplicable" in {e.reason for e in cluster.events("web")}


@pytest.mark.parametrize("case", CASES, ids=[case.field for case in CASES])
def test_removing_a_whole_list_under_recreate_replaces_the_group(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, case: Case
) -> None:
    start_operator()
    group_id = start(cluster, case, updateStrategy="Recreate")
    cluster.patch("web", case.removal)
    wait_for(
        lambda: cluster.status("web").get("containerGroupId") not in (None, group_id), what="a new group"
    )
    wait_for(lambda: cluster.condition("web", "Synced").get("status") == "True", what="Synced")
    new_id = str(cluster.status("web")["containerGroupId"])
    assert not case.held(eci_emulator.group_spec(new_id))  # type: ignore[arg-type]
    assert eci_emulator.group_spec(group_id) is None or eci_emulator.admin.group(group_id) is None
