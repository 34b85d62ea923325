"""Golden tests: each example, applied to the apiserver and reconciled by the operator, reaches the
emulator as exactly the parameters the seed document shows (read from the emulator's request log)."""

from __future__ import annotations

from typing import Any

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.api.test_api_mapping import seed_examples
from tests.e2e.conftest import REGISTRY_PASSWORD, Cluster, load_example, wait_for
from tests.e2e.test_lifecycle import StartOperator

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

SEED_PREFIXES = ("Container.", "AcrRegistryInfo.", "ImageRegistryCredential.")


def apply_example(cluster: Cluster, file_name: str) -> dict[str, Any]:
    resource: dict[str, Any] = {}
    for document in load_example(file_name):
        applied = cluster.apply(document)
        if document["kind"] == "AcrContainerGroup":
            resource = applied
    return resource


def create_request(eci: EmulatorFixture, resource: dict[str, Any]) -> dict[str, str]:
    def sent() -> dict[str, str] | None:
        for request in eci.admin.requests("CreateContainerGroup"):
            if request["parameters"].get("ContainerGroupName") == resource["metadata"]["name"]:
                return dict(request["parameters"])
        return None

    parameters: dict[str, str] = wait_for(sent, what=f"the create of {resource['metadata']['name']}")
    return parameters


def seed_part(parameters: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in parameters.items() if key.startswith(SEED_PREFIXES)}


@pytest.mark.parametrize(
    ("file_name", "seed_index"),
    [
        ("acr-registry-info-domains.yaml", 0),
        ("acr-registry-info-name.yaml", 1),
        ("acr-registry-info-id.yaml", 2),
    ],
)
def test_the_seed_examples_reach_eci_exactly(
    cluster: Cluster,
    eci_emulator: EmulatorFixture,
    start_operator: StartOperator,
    file_name: str,
    seed_index: int,
) -> None:
    start_operator()
    resource = apply_example(cluster, file_name)
    parameters = create_request(eci_emulator, resource)
    assert seed_part(parameters) == seed_examples()[seed_index]
    assert parameters["Action"] == "CreateContainerGroup" and parameters["Version"] == "2018-08-08"
    assert parameters["RegionId"] == "cn-beijing"
    assert parameters["ClientToken"] == f"{resource['metadata']['uid']}-0"
    name = resource["metadata"]["name"]
    wait_for(lambda: cluster.status(name).get("phase") == "Running", what=f"{name} Running")


def test_the_annotation_example_reaches_eci_as_one_acr_registry_info(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    resource = apply_example(cluster, "acr-instance-annotation.yaml")
    parameters = create_request(eci_emulator, resource)
    assert seed_part(parameters) == {
        "Container.1.Name": "nginx",
        "Container.1.Image": "demoabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
        "Container.1.ImagePullPolicy": "Always",
        "AcrRegistryInfo.1.InstanceId": "cri-j36zhodptmyqabcd",
    }
    assert parameters["RestartPolicy"] == "Never"
    wait_for(lambda: cluster.status("cri-test").get("phase") == "Running")
    assert cluster.status("cri-test")["registries"] == [{"instanceId": "cri-j36zhodptmyqabcd"}]


def test_the_credentials_example_sends_the_password_from_its_secret(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    resource = apply_example(cluster, "image-registry-credentials.yaml")
    parameters = create_request(eci_emulator, resource)
    assert parameters["ImageRegistryCredential.1.Server"] == "registry.example.com"
    assert parameters["ImageRegistryCredential.1.UserName"] == "bob"
    # The emulator's log redacts passwords; the pull succeeding proves the right one arrived.
    assert parameters["ImageRegistryCredential.1.Password"] != REGISTRY_PASSWORD
    name = resource["metadata"]["name"]
    wait_for(lambda: cluster.status(name).get("phase") == "Running", what="the private image pulled")
    assert cluster.condition(name, "Ready")["status"] == "True"
