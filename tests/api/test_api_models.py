"""Typed models: parsing, validation that names the field, annotations, Secret references, status."""

from __future__ import annotations

from typing import Any

import pytest

from acr_eci_operator.models import (
    AcrContainerGroupSpec,
    AcrContainerGroupStatus,
    AcrRegistryInfo,
    Condition,
    Reference,
    SpecError,
    annotation_registries,
    merge_condition,
    references,
)
from tests.api.acg_testlib import example_names, example_resource

NGINX = "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"


def spec(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c1", "image": NGINX}], **fields}


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "c1", "image": NGINX, **fields}


def test_spec_error_shape() -> None:
    error = SpecError("spec.containers[1].env[0].valueFrom.secretKeyRef", "Secret 'x' not found")
    assert isinstance(error, ValueError)
    assert error.field == "spec.containers[1].env[0].valueFrom.secretKeyRef"
    assert error.message == "Secret 'x' not found"
    assert str(error) == "spec.containers[1].env[0].valueFrom.secretKeyRef: Secret 'x' not found"


@pytest.mark.parametrize("name", example_names())
def test_every_example_parses(name: str) -> None:
    parsed = AcrContainerGroupSpec.from_dict(example_resource(name)["spec"])
    assert parsed.containers


def test_defaults_and_full_parse() -> None:
    parsed = AcrContainerGroupSpec.from_dict(
        spec(
            cpu=2,
            memory=4.5,
            vSwitchIds=["vsw-a", "vsw-b"],
            tags={"team": "payments"},
            acrRegistryInfos=[
                {"instanceId": "cri-abc", "domains": ["a-registry.cn-beijing.cr.aliyuncs.com"]}
            ],
            containers=[
                container(
                    command=["sh", "-c"],
                    args=["echo hi"],
                    env=[
                        {"name": "A", "value": "1"},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    ],
                    ports=[{"containerPort": 80, "protocol": "TCP"}],
                )
            ],
        )
    )
    assert parsed.restart_policy == "Always"
    assert parsed.deletion_policy == "Delete"
    assert parsed.update_strategy == "InPlace"
    assert parsed.cpu == 2.0 and isinstance(parsed.cpu, float)
    assert parsed.v_switch_ids == ("vsw-a", "vsw-b")
    assert parsed.acr_registry_infos == (
        AcrRegistryInfo(instance_id="cri-abc", domains=("a-registry.cn-beijing.cr.aliyuncs.com",)),
    )
    assert parsed.containers[0].env[1].value_from is not None
    assert parsed.containers[0].ports[0].container_port == 80
    round_trip = AcrContainerGroupSpec.from_dict(parsed.to_dict())
    assert round_trip == parsed


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "spec.containers"),
        ({"containers": []}, "spec.containers"),
        ({"containers": "nginx"}, "spec.containers"),
        (spec(containers=[{"name": "c1"}]), "spec.containers[0].image"),
        (spec(containers=[container(), container()]), "spec.containers[1].name"),
        (spec(containers=[container(name="C1")]), "spec.containers[0].name"),
        (spec(containers=[container(image="a b")]), "spec.containers[0].image"),
        (spec(containers=[container(imagePullPolicy="Sometimes")]), "spec.containers[0].imagePullPolicy"),
        (spec(containers=[container(cpu=0)]), "spec.containers[0].cpu"),
        (spec(containers=[container(memory=True)]), "spec.containers[0].memory"),
        (
            spec(containers=[container(ports=[{"containerPort": 0}])]),
            "spec.containers[0].ports[0].containerPort",
        ),
        (
            spec(containers=[container(ports=[{"containerPort": 65536}])]),
            "spec.containers[0].ports[0].containerPort",
        ),
        (
            spec(containers=[container(ports=[{"containerPort": "80"}])]),
            "spec.containers[0].ports[0].containerPort",
        ),
        (
            spec(containers=[container(ports=[{"containerPort": 80, "protocol": "SCTP"}])]),
            "spec.containers[0].ports[0].protocol",
        ),
        (spec(containers=[container(env=[{"name": "A"}, {"name": "A"}])]), "spec.containers[0].env[1].name"),
        (spec(containers=[container(env=[{"name": "1=A"}])]), "spec.containers[0].env[0].name"),
        (
            spec(
                containers=[
                    container(
                        env=[
                            {
                                "name": "A",
                                "value": "x",
                                "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                            }
                        ]
                    )
                ]
            ),
            "spec.containers[0].env[0]",
        ),
        (
            spec(containers=[container(env=[{"name": "A", "valueFrom": {}}])]),
            "spec.containers[0].env[0].valueFrom",
        ),
        (
            spec(containers=[container(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}])]),
            "spec.containers[0].env[0].valueFrom.secretKeyRef.key",
        ),
        (spec(initContainers=[container(image="")]), "spec.initContainers[0].image"),
        (spec(restartPolicy="Sometimes"), "spec.restartPolicy"),
        (spec(deletionPolicy="Keep"), "spec.deletionPolicy"),
        (spec(updateStrategy="Replace"), "spec.updateStrategy"),
        (spec(containerGroupName="-bad"), "spec.containerGroupName"),
        (spec(containerGroupName="x"), "spec.containerGroupName"),
        (spec(containerGroupName="Upper"), "spec.containerGroupName"),
        (spec(containerGroupName="ok\n"), "spec.containerGroupName"),
        (spec(cpu=0), "spec.cpu"),
        (spec(memory=-1), "spec.memory"),
        (spec(cpu="2"), "spec.cpu"),
        (spec(securityGroupId="default"), "spec.securityGroupId"),
        (spec(vSwitchIds=[]), "spec.vSwitchIds"),
        (spec(vSwitchIds=[f"vsw-{i}" for i in range(11)]), "spec.vSwitchIds"),
        (spec(vSwitchIds=["vsw-a", "subnet-b"]), "spec.vSwitchIds[1]"),
        (spec(acrRegistryInfos=[{"instanceName": "testabcd"}]), "spec.acrRegistryInfos[0].instanceId"),
        (spec(acrRegistryInfos=[{"instanceId": "nwj395hgf6f3abcd"}]), "spec.acrRegistryInfos[0].instanceId"),
        (spec(acrRegistryInfos=[{"instanceId": "cri-ABC"}]), "spec.acrRegistryInfos[0].instanceId"),
        (
            spec(acrRegistryInfos=[{"instanceId": "cri-a", "domains": ["not a host"]}]),
            "spec.acrRegistryInfos[0].domains[0]",
        ),
        (
            spec(acrRegistryInfos=[{"instanceId": "cri-a", "regionId": "Beijing"}]),
            "spec.acrRegistryInfos[0].regionId",
        ),
        (
            spec(
                imageRegistryCredentials=[
                    {"server": "registry.example.com", "userName": "bob", "password": "x"}
                ]
            ),
            "spec.imageRegistryCredentials[0].passwordSecretRef",
        ),
        (
            spec(
                imageRegistryCredentials=[
                    {
                        "server": "registry.example.com",
                        "userName": "bob",
                        "passwordSecretRef": {"name": "s", "key": "k"},
                        "password": "x",
                    }
                ]
            ),
            "spec.imageRegistryCredentials[0].password",
        ),
        (spec(tags={f"k{i}": "v" for i in range(18)}), "spec.tags"),
        (spec(tags={"acr-eci-operator/uid": "x"}), "spec.tags[acr-eci-operator/uid]"),
        (spec(tags={"aliyun-x": "x"}), "spec.tags[aliyun-x]"),
        (spec(tags={"team": 7}), "spec.tags[team]"),
        (spec(unknownField=1), "spec.unknownField"),
        ("not a map", "spec"),
    ],
)
def test_invalid_specs_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        AcrContainerGroupSpec.from_dict(raw)
    assert caught.value.field == field, caught.value


def test_annotation_registries() -> None:
    assert annotation_registries({}) == ()
    assert annotation_registries({"k8s.aliyun.com/acr-instance-id": "cri-j36zhodptmyqabcd"}) == (
        AcrRegistryInfo(instance_id="cri-j36zhodptmyqabcd"),
    )
    both = annotation_registries(
        {
            "k8s.aliyun.com/acr-instance-id": "cri-a",
            "k8s.aliyun.com/acr-instance-ids": "cri-b, cri-a,,cri-c",
            "unrelated": "x",
        }
    )
    assert [registry.instance_id for registry in both] == ["cri-a", "cri-b", "cri-c"]


@pytest.mark.parametrize(
    ("annotations", "field"),
    [
        (
            {"k8s.aliyun.com/acr-instance-id": "j36zhodptmyqabcd"},
            "metadata.annotations[k8s.aliyun.com/acr-instance-id]",
        ),
        ({"k8s.aliyun.com/acr-instance-id": ""}, "metadata.annotations[k8s.aliyun.com/acr-instance-id]"),
        (
            {"k8s.aliyun.com/acr-instance-id": "cri-a,cri-b"},
            "metadata.annotations[k8s.aliyun.com/acr-instance-id]",
        ),
        (
            {"k8s.aliyun.com/acr-instance-ids": "cri-a,CRI-B"},
            "metadata.annotations[k8s.aliyun.com/acr-instance-ids]",
        ),
    ],
)
def test_bad_annotation_names_the_annotation(annotations: dict[str, str], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        annotation_registries(annotations)
    assert caught.value.field == field
    assert "instance id" in caught.value.message


def test_references() -> None:
    secret = {"secretKeyRef": {"name": "db", "key": "password"}}
    parsed = AcrContainerGroupSpec.from_dict(
        spec(
            containers=[
                container(name="c1", env=[{"name": "A", "value": "1"}]),
                container(name="c2", env=[{"name": "A", "value": "1"}, {"name": "DB", "valueFrom": secret}]),
            ],
            initContainers=[container(name="init", env=[{"name": "DB", "valueFrom": secret}])],
            imageRegistryCredentials=[
                {
                    "server": "registry.example.com",
                    "userName": "bob",
                    "passwordSecretRef": {"name": "reg", "key": "pw"},
                }
            ],
        )
    )
    assert references(parsed) == [
        Reference("Secret", "db", "spec.initContainers[0].env[0].valueFrom.secretKeyRef"),
        Reference("Secret", "db", "spec.containers[1].env[1].valueFrom.secretKeyRef"),
        Reference("Secret", "reg", "spec.imageRegistryCredentials[0].passwordSecretRef"),
    ]


def test_status_round_trip_and_unknown_fields() -> None:
    raw = {
        "containerGroupId": "eci-123",
        "regionId": "cn-beijing",
        "incarnation": 1,
        "applied": {"ZoneId": "cn-beijing-a"},
        "phase": "Running",
        "intranetIp": "192.168.0.7",
        "internetIp": "",
        "observedGeneration": 3,
        "registries": [{"instanceId": "cri-abc"}],
        "containers": [{"name": "c1", "ready": True, "restartCount": 0, "state": "Running"}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Running", "observedGeneration": 3}],
        "somethingNewer": {"x": 1},
    }
    status = AcrContainerGroupStatus.from_dict(raw)
    assert status.container_group_id == "eci-123"
    assert status.containers[0].ready is True
    assert status.conditions[0].status == "True"
    assert status.internet_ip == ""
    expected = {key: value for key, value in raw.items() if key not in ("somethingNewer", "internetIp")}
    assert status.to_dict() == expected


def test_merge_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    existing = [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Synced", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    ]
    same = merge_condition(
        existing, Condition(type="Ready", status="True", reason="Running", last_transition_time="now")
    )
    assert same[0] == {
        "type": "Ready",
        "status": "True",
        "reason": "Running",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    assert same[1] == existing[1]
    flipped = merge_condition(
        existing, Condition(type="Synced", status="False", reason="Throttling", last_transition_time="now")
    )
    assert flipped[1]["lastTransitionTime"] == "now"
    added = merge_condition([], Condition(type="Ready", status="Unknown"))
    assert added == [{"type": "Ready", "status": "Unknown"}]
