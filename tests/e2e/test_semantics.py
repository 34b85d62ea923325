"""Bad input the schema cannot catch: named in a False condition and an event, nothing sent to ECI,
and the operator keeps serving every other resource."""

from __future__ import annotations

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, phase_is, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

SECRET_VALUE = "env-secret-value-7f3a"


def secret(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def test_a_missing_secret_is_named_and_healed_when_it_appears(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app-token", "key": "token"}}}]
    cluster.apply(acg("web", web(env=env), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "SecretNotFound")

    synced = cluster.condition("web", "Synced")
    assert synced["status"] == "False"
    assert "spec.containers[0].env[0].valueFrom.secretKeyRef" in synced["message"]
    assert "app-token" in synced["message"]
    assert "SecretNotFound" in {event.reason for event in cluster.events("web")}
    assert not eci_emulator.admin.requests("CreateContainerGroup")

    # GitOps tools may apply the Secret after the resource: the operator retries and succeeds.
    cluster.apply(secret("app-token", token=SECRET_VALUE))
    wait_for(phase_is(cluster, "web", "Running"), timeout=90)
    (create,) = eci_emulator.admin.requests("CreateContainerGroup")
    assert create["parameters"]["Container.1.EnvironmentVar.1.Key"] == "TOKEN"
    assert create["parameters"]["Container.1.EnvironmentVar.1.Value"] == SECRET_VALUE
    assert cluster.condition("web", "Synced")["status"] == "True"


def test_a_missing_key_in_an_existing_secret_is_named(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(secret("registry", other="x"))
    credentials = [
        {
            "server": "registry.example.com",
            "userName": "bob",
            "passwordSecretRef": {"name": "registry", "key": "password"},
        }
    ]
    cluster.apply(acg("web", web("registry.example.com/team/app:1.0"), imageRegistryCredentials=credentials))
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "SecretNotFound")
    message = cluster.condition("web", "Synced")["message"]
    assert "spec.imageRegistryCredentials[0].passwordSecretRef" in message
    assert "registry" in message and "password" in message
    assert not eci_emulator.admin.requests("CreateContainerGroup")


def test_a_bad_annotation_is_refused_and_others_are_still_served(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    bad = acg("bad", web())
    bad["metadata"]["annotations"] = {"k8s.aliyun.com/acr-instance-id": "not-an-instance"}
    cluster.apply(bad)
    cluster.apply(acg("good", web(), acrRegistryInfos=ACR))

    wait_for(lambda: cluster.condition("bad", "Synced").get("reason") == "InvalidSpec")
    synced = cluster.condition("bad", "Synced")
    assert "metadata.annotations[k8s.aliyun.com/acr-instance-id]" in synced["message"]
    wait_for(phase_is(cluster, "good", "Running"))
    names = [
        r["parameters"]["ContainerGroupName"] for r in eci_emulator.admin.requests("CreateContainerGroup")
    ]
    assert names == ["good"]


def test_a_terminal_eci_error_is_reported_with_its_code_and_not_retried(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_fault(
        "CreateContainerGroup",
        error_code="InvalidParameter.VSwitchId",
        http_status=400,
        times=1,
        message="bad vsw",
    )
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "InvalidParameter.VSwitchId")
    assert "bad vsw" in cluster.condition("web", "Synced")["message"]
    # Terminal: no retry until the spec changes.
    assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 1

    cluster.patch("web", {"spec": {"memory": 2}})
    wait_for(phase_is(cluster, "web", "Running"))
    assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 2
