"""Wire mapping: each example gives exactly the seed document's parameters; names are ECI's own."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from acr_eci_operator.mapping import (
    Defaults,
    UncoveredImage,
    changed_immutable_fields,
    create_only_fields,
    create_parameters,
    effective_registries,
    format_float,
    image_domain,
    immutable_changes,
    on_demand,
    redact,
    uncovered_acr_images,
    update_parameters,
)
from acr_eci_operator.models import AcrContainerGroupSpec, AcrRegistryInfo, ReferenceMissing, SpecError
from tests.api.acg_testlib import DATA_DIR, example_names, example_objects, example_resource, secret_objects

DEFAULTS = Defaults(
    region_id="cn-beijing", security_group_id="sg-2zeh4cev9y7ulbrabcd", v_switch_ids=("vsw-a", "vsw-b")
)
OWNER_TAGS = {
    "acr-eci-operator/uid": "0b5c2d4e-uid",
    "acr-eci-operator/namespace": "default",
    "acr-eci-operator/name": "x",
}
REGISTRY_SECRET = {("registry-example-com", "password"): "s3cr3t-Passw0rd"}
TESTABCD = "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"


def wire_names(action: str) -> set[str]:
    lines = (DATA_DIR / f"{action}.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def template(name: str) -> str:
    """`Container.2.EnvironmentVar.1.Key` -> `Container.N.EnvironmentVar.N.Key`."""
    return re.sub(r"\.\d+(?=\.|$)", ".N", name)


def seed_examples() -> list[dict[str, str]]:
    """The seed document's three parameter sets, its masked values filled in as the team agreed."""
    text = (DATA_DIR / "seed_acr_registry_info_examples.txt").read_text()
    examples = []
    for block in re.split(r"• Example \d+:", text)[1:]:
        pairs = dict(re.findall(r"'([^']+)':\s*'([^']*)'", block))
        examples.append(
            {
                key: value.replace("cri-nwj395hg********", "cri-nwj395hgf6f3abcd").replace(
                    "test****", "testabcd"
                )
                for key, value in pairs.items()
            }
        )
    assert len(examples) == 3
    return examples


def parameters_for(example: str, **overrides: Any) -> dict[str, str]:
    resource = example_resource(example)
    spec = AcrContainerGroupSpec.from_dict(resource["spec"])
    arguments: dict[str, Any] = {
        "name": resource["metadata"]["name"],
        "annotations": resource["metadata"].get("annotations", {}),
        "defaults": DEFAULTS,
        "objects": example_objects(example),
        "client_token": "token-1",
        "owner_tags": OWNER_TAGS,
        **overrides,
    }
    return create_parameters(spec, **arguments)


def operational(name: str, restart_policy: str = "Always") -> dict[str, str]:
    return {
        "RegionId": "cn-beijing",
        "ClientToken": "token-1",
        "ContainerGroupName": name,
        "SecurityGroupId": "sg-2zeh4cev9y7ulbrabcd",
        "VSwitchId": "vsw-a,vsw-b",
        "RestartPolicy": restart_policy,
        "Tag.1.Key": "acr-eci-operator/uid",
        "Tag.1.Value": "0b5c2d4e-uid",
        "Tag.2.Key": "acr-eci-operator/namespace",
        "Tag.2.Value": "default",
        "Tag.3.Key": "acr-eci-operator/name",
        "Tag.3.Value": "x",
    }


@pytest.mark.parametrize(
    ("example", "seed_index"),
    [
        ("acr-registry-info-domains.yaml", 0),
        ("acr-registry-info-name.yaml", 1),
        ("acr-registry-info-id.yaml", 2),
    ],
)
def test_seed_examples_map_to_the_seed_parameters(example: str, seed_index: int) -> None:
    seed = seed_examples()[seed_index]
    name = example_resource(example)["metadata"]["name"]
    assert parameters_for(example) == {**seed, **operational(name)}


def test_seed_example_1_exactly() -> None:
    params = parameters_for("acr-registry-info-domains.yaml")
    assert {
        key: value for key, value in params.items() if key.startswith(("Container.", "AcrRegistryInfo."))
    } == {
        "Container.1.Image": TESTABCD,
        "Container.1.Name": "c1",
        "Container.2.Image": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
        "Container.2.Name": "c2",
        "AcrRegistryInfo.1.RegionId": "cn-beijing",
        "AcrRegistryInfo.1.InstanceId": "cri-nwj395hgf6f3abcd",
        "AcrRegistryInfo.1.Domain.1": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com",
        "AcrRegistryInfo.1.Domain.2": "testabcd-registry.cn-beijing.cr.aliyuncs.com",
    }


def test_kubernetes_annotation_example() -> None:
    assert parameters_for("acr-instance-annotation.yaml") == {
        **operational("cri-test", restart_policy="Never"),
        "Container.1.Image": "demoabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
        "Container.1.Name": "nginx",
        "Container.1.ImagePullPolicy": "Always",
        "AcrRegistryInfo.1.InstanceId": "cri-j36zhodptmyqabcd",
    }


def test_image_registry_credentials_example() -> None:
    assert parameters_for("image-registry-credentials.yaml") == {
        **operational("private-registry"),
        "Container.1.Image": "registry.example.com/team/app:1.0",
        "Container.1.Name": "app",
        "ImageRegistryCredential.1.Server": "registry.example.com",
        "ImageRegistryCredential.1.UserName": "bob",
        "ImageRegistryCredential.1.Password": "s3cr3t-Passw0rd",
    }


def test_missing_registry_info_example_sends_no_registry_info() -> None:
    params = parameters_for("missing-registry-info.yaml")
    assert not [key for key in params if key.startswith(("AcrRegistryInfo.", "ImageRegistryCredential."))]


FULL_SPEC: dict[str, Any] = {
    "containerGroupName": "full-group",
    "regionId": "cn-hangzhou",
    "zoneId": "cn-hangzhou-b",
    "securityGroupId": "sg-own",
    "vSwitchIds": ["vsw-own"],
    "instanceType": "ecs.c6.large",
    "cpu": 2,
    "memory": 0.5,
    "restartPolicy": "OnFailure",
    "containers": [
        {
            "name": "app",
            "image": TESTABCD,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c"],
            "args": ["run", ""],
            "workingDir": "/app",
            "cpu": 1.25,
            "memory": 2,
            "env": [
                {"name": "MODE", "value": "prod"},
                {"name": "EMPTY", "value": ""},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            ],
            "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53}],
        },
        {"name": "sidecar", "image": "busybox"},
    ],
    "initContainers": [{"name": "init", "image": "busybox", "command": ["true"], "cpu": 0.25}],
    "acrRegistryInfos": [
        {"instanceId": "cri-nwj395hgf6f3abcd", "instanceName": "testabcd", "regionId": "cn-beijing"}
    ],
    "imageRegistryCredentials": [
        {
            "server": "registry.example.com",
            "userName": "bob",
            "passwordSecretRef": {"name": "reg", "key": "pw"},
        }
    ],
    "tags": {"zeta": "1", "alpha": "2"},
}
FULL_SECRETS = {("db", "password"): "db-s3cret", ("reg", "pw"): "reg-s3cret"}
ANNOTATIONS = {"k8s.aliyun.com/acr-instance-ids": "cri-nwj395hgf6f3abcd,cri-j36zhodptmyqabcd"}


def full_create() -> dict[str, str]:
    return create_parameters(
        AcrContainerGroupSpec.from_dict(FULL_SPEC),
        name="ignored",
        annotations=ANNOTATIONS,
        defaults=DEFAULTS,
        objects=secret_objects(FULL_SECRETS),
        client_token="token-2",
        owner_tags=OWNER_TAGS,
    )


def full_update() -> dict[str, str]:
    return update_parameters(
        AcrContainerGroupSpec.from_dict(FULL_SPEC),
        container_group_id="eci-123",
        annotations=ANNOTATIONS,
        objects=secret_objects(FULL_SECRETS),
        client_token="token-3",
        owner_tags=OWNER_TAGS,
        defaults=DEFAULTS,
    )


def test_full_spec_create_parameters() -> None:
    shared = {
        "Cpu": "2.0",
        "Memory": "0.5",
        "RestartPolicy": "OnFailure",
        "Container.1.Image": TESTABCD,
        "Container.1.Name": "app",
        "Container.1.ImagePullPolicy": "IfNotPresent",
        "Container.1.Command.1": "sh",
        "Container.1.Command.2": "-c",
        "Container.1.Arg.1": "run",
        "Container.1.Arg.2": "",
        "Container.1.WorkingDir": "/app",
        "Container.1.Cpu": "1.25",
        "Container.1.Memory": "2.0",
        "Container.1.EnvironmentVar.1.Key": "MODE",
        "Container.1.EnvironmentVar.1.Value": "prod",
        "Container.1.EnvironmentVar.2.Key": "EMPTY",
        "Container.1.EnvironmentVar.3.Key": "DB_PASSWORD",
        "Container.1.EnvironmentVar.3.Value": "db-s3cret",
        "Container.1.Port.1.Port": "80",
        "Container.1.Port.1.Protocol": "TCP",
        "Container.1.Port.2.Port": "53",
        "Container.2.Image": "busybox",
        "Container.2.Name": "sidecar",
        "InitContainer.1.Image": "busybox",
        "InitContainer.1.Name": "init",
        "InitContainer.1.Command.1": "true",
        "InitContainer.1.Cpu": "0.25",
        "AcrRegistryInfo.1.RegionId": "cn-beijing",
        "AcrRegistryInfo.1.InstanceId": "cri-nwj395hgf6f3abcd",
        "AcrRegistryInfo.1.InstanceName": "testabcd",
        "AcrRegistryInfo.2.InstanceId": "cri-j36zhodptmyqabcd",
        "ImageRegistryCredential.1.Server": "registry.example.com",
        "ImageRegistryCredential.1.UserName": "bob",
        "ImageRegistryCredential.1.Password": "reg-s3cret",
        "Tag.1.Key": "acr-eci-operator/uid",
        "Tag.1.Value": "0b5c2d4e-uid",
        "Tag.2.Key": "acr-eci-operator/namespace",
        "Tag.2.Value": "default",
        "Tag.3.Key": "acr-eci-operator/name",
        "Tag.3.Value": "x",
        "Tag.4.Key": "alpha",
        "Tag.4.Value": "2",
        "Tag.5.Key": "zeta",
        "Tag.5.Value": "1",
    }
    assert full_create() == {
        "RegionId": "cn-hangzhou",
        "ClientToken": "token-2",
        "ContainerGroupName": "full-group",
        "SecurityGroupId": "sg-own",
        "VSwitchId": "vsw-own",
        "ZoneId": "cn-hangzhou-b",
        "InstanceType": "ecs.c6.large",
        **shared,
    }
    assert full_update() == {
        "RegionId": "cn-hangzhou",
        "ContainerGroupId": "eci-123",
        "UpdateType": "RenewUpdate",
        "ClientToken": "token-3",
        **shared,
    }


def test_update_region_falls_back_to_defaults_or_is_left_to_the_caller() -> None:
    spec = AcrContainerGroupSpec.from_dict(example_resource("acr-registry-info-id.yaml")["spec"])
    common: dict[str, Any] = {
        "container_group_id": "eci-1",
        "annotations": {},
        "objects": {},
        "client_token": "t",
        "owner_tags": {},
    }
    assert update_parameters(spec, defaults=DEFAULTS, **common)["RegionId"] == "cn-beijing"
    assert "RegionId" not in update_parameters(spec, **common)


@pytest.mark.parametrize("example", example_names())
def test_every_example_uses_only_create_names(example: str) -> None:
    allowed = wire_names("CreateContainerGroup")
    assert {template(name) for name in parameters_for(example)} <= allowed


def test_full_spec_uses_only_api_names() -> None:
    create_names = {template(name) for name in full_create()}
    update_names = {template(name) for name in full_update()}
    assert create_names - wire_names("CreateContainerGroup") == set()
    assert update_names - wire_names("UpdateContainerGroup") == set()
    assert "Container.N.EnvironmentVar.N.Key" in create_names
    assert "AcrRegistryInfo.N.InstanceName" in update_names


def test_all_values_are_strings() -> None:
    assert all(isinstance(value, str) for value in full_create().values())
    assert all(isinstance(value, str) for value in full_update().values())


def test_no_empty_values_except_positional_args() -> None:
    empty = [name for name, value in full_create().items() if value == ""]
    assert empty == ["Container.1.Arg.2"]


@pytest.mark.parametrize(
    ("value", "wire"), [(2, "2.0"), (2.0, "2.0"), (0.5, "0.5"), (1.25, "1.25"), (64, "64.0")]
)
def test_format_float(value: float, wire: str) -> None:
    assert format_float(value) == wire


@pytest.mark.parametrize(
    ("defaults", "field"),
    [
        (Defaults(region_id="cn-beijing", v_switch_ids=("vsw-a",)), "spec.securityGroupId"),
        (Defaults(region_id="cn-beijing", security_group_id="sg-a"), "spec.vSwitchIds"),
    ],
)
def test_missing_network_defaults_name_the_field(defaults: Defaults, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parameters_for("acr-registry-info-id.yaml", defaults=defaults)
    assert caught.value.field == field


def test_spec_network_overrides_defaults() -> None:
    spec = AcrContainerGroupSpec.from_dict(
        {
            "containers": [{"name": "c", "image": "nginx"}],
            "securityGroupId": "sg-x",
            "vSwitchIds": ["vsw-x", "vsw-y"],
        }
    )
    params = create_parameters(
        spec,
        name="n1",
        annotations={},
        defaults=Defaults(region_id="cn-beijing"),
        objects={},
        client_token="t",
        owner_tags={},
    )
    assert (params["SecurityGroupId"], params["VSwitchId"]) == ("sg-x", "vsw-x,vsw-y")


def test_invalid_metadata_name_needs_a_group_name() -> None:
    with pytest.raises(SpecError) as caught:
        parameters_for("acr-registry-info-id.yaml", name="my.app")
    assert caught.value.field == "spec.containerGroupName"
    assert "my.app" in caught.value.message


def test_missing_secret_value_names_the_field_and_secret() -> None:
    with pytest.raises(SpecError) as caught:
        parameters_for("image-registry-credentials.yaml", objects={})
    assert caught.value.field == "spec.imageRegistryCredentials[0].passwordSecretRef"
    assert "registry-example-com" in caught.value.message


def test_bad_annotation_is_a_spec_error() -> None:
    resource = example_resource("acr-instance-annotation.yaml")
    with pytest.raises(SpecError) as caught:
        parameters_for(
            "acr-instance-annotation.yaml", annotations={"k8s.aliyun.com/acr-instance-id": "j36zhodptmyq"}
        )
    assert caught.value.field == "metadata.annotations[k8s.aliyun.com/acr-instance-id]"
    assert resource


def test_effective_registries_merge_the_annotation() -> None:
    spec = AcrContainerGroupSpec.from_dict(FULL_SPEC)
    assert effective_registries(spec, {}) == list(spec.acr_registry_infos)
    assert effective_registries(spec, ANNOTATIONS) == [
        *spec.acr_registry_infos,
        AcrRegistryInfo(instance_id="cri-j36zhodptmyqabcd"),
    ]


def test_redact() -> None:
    params = full_create()
    redacted = redact(params, FULL_SECRETS.values())
    assert redacted["ImageRegistryCredential.1.Password"] == "***"
    assert redacted["Container.1.EnvironmentVar.3.Value"] == "***"
    assert redacted["Container.1.EnvironmentVar.1.Value"] == "prod"
    assert {key for key in params if params[key] != redacted[key]} == {
        "ImageRegistryCredential.1.Password",
        "Container.1.EnvironmentVar.3.Value",
    }
    assert redact(params)["ImageRegistryCredential.1.Password"] == "***"
    assert params["ImageRegistryCredential.1.Password"] == "reg-s3cret"


def test_immutable_changes() -> None:
    old = {"containers": [], "zoneId": "cn-beijing-a", "vSwitchIds": ["vsw-a", "vsw-b"], "cpu": 1}
    assert immutable_changes(old, dict(old)) == []
    assert (
        immutable_changes(old, {**old, "cpu": 2, "restartPolicy": "Never", "updateStrategy": "Recreate"})
        == []
    )
    assert immutable_changes(old, {**old, "zoneId": "cn-beijing-b"}) == ["spec.zoneId"]
    assert immutable_changes(old, {**old, "vSwitchIds": ["vsw-b", "vsw-a"]}) == ["spec.vSwitchIds"]
    assert immutable_changes(old, {"containers": [], "cpu": 1}) == ["spec.zoneId", "spec.vSwitchIds"]
    assert immutable_changes({}, {"regionId": "cn-beijing", "securityGroupId": "sg-a"}) == [
        "spec.regionId",
        "spec.securityGroupId",
    ]
    assert immutable_changes({"zoneId": None, "vSwitchIds": []}, {"zoneId": "", "instanceType": None}) == []
    assert immutable_changes({"containerGroupName": "a"}, {"containerGroupName": "b"}) == [
        "spec.containerGroupName"
    ]


@pytest.mark.parametrize(
    ("image", "domain"),
    [
        ("nginx", None),
        ("nginx:1.25", None),
        ("library/nginx", None),
        ("docker.io/library/nginx", "docker.io"),
        ("localhost/app", "localhost"),
        ("registry.example.com:5000/team/app:1", "registry.example.com:5000"),
        (
            "TestAbcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx",
            "testabcd-registry.cn-beijing.cr.aliyuncs.com",
        ),
    ],
)
def test_image_domain(image: str, domain: str | None) -> None:
    assert image_domain(image) == domain


def uncovered(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[UncoveredImage]:
    return uncovered_acr_images(AcrContainerGroupSpec.from_dict(spec), annotations or {})


VPC = "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"


def with_images(*images: str, **fields: Any) -> dict[str, Any]:
    containers = [{"name": f"c{index}", "image": image} for index, image in enumerate(images, start=1)]
    return {"containers": containers, **fields}


def test_uncovered_images_of_the_examples() -> None:
    for example in example_names():
        resource = example_resource(example)
        found = uncovered(resource["spec"], resource["metadata"].get("annotations"))
        if example == "missing-registry-info.yaml":
            assert found == [
                UncoveredImage(
                    "spec.containers[0].image", TESTABCD, "testabcd-registry.cn-beijing.cr.aliyuncs.com"
                )
            ]
        else:
            assert found == [], example


def test_an_entry_of_another_region_does_not_cover_the_image() -> None:
    shanghai = {"instanceId": "cri-a", "instanceName": "testabcd", "regionId": "cn-shanghai"}
    (found,) = uncovered(with_images(TESTABCD, acrRegistryInfos=[shanghai]))
    assert found.why == "entry 0: regionId cn-shanghai is not the image's region cn-beijing"
    beijing = {**shanghai, "regionId": "cn-beijing"}
    assert uncovered(with_images(TESTABCD, acrRegistryInfos=[beijing])) == []


def test_uncovered_image_rules() -> None:
    domains_entry = {"instanceId": "cri-a", "domains": ["testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com"]}
    assert uncovered(with_images(TESTABCD, VPC, acrRegistryInfos=[domains_entry])) == [
        UncoveredImage(
            "spec.containers[0].image",
            TESTABCD,
            "testabcd-registry.cn-beijing.cr.aliyuncs.com",
            "entry 0: domains do not list testabcd-registry.cn-beijing.cr.aliyuncs.com",
        )
    ]
    other_name = {"instanceId": "cri-a", "instanceName": "demoabcd"}
    assert [item.field for item in uncovered(with_images("nginx", VPC, acrRegistryInfos=[other_name]))] == [
        "spec.containers[1].image"
    ]
    assert (
        uncovered(with_images(VPC, acrRegistryInfos=[{"instanceId": "cri-a", "instanceName": "testabcd"}]))
        == []
    )
    assert uncovered(with_images(VPC, acrRegistryInfos=[{"instanceId": "cri-a"}])) == []
    assert uncovered(with_images(VPC), {"k8s.aliyun.com/acr-instance-id": "cri-a"}) == []
    credential = {
        "server": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com",
        "userName": "u",
        "passwordSecretRef": {"name": "s", "key": "k"},
    }
    assert uncovered(with_images(VPC, imageRegistryCredentials=[credential])) == []
    assert uncovered(with_images("registry.cn-beijing.aliyuncs.com/ns/app", "docker.io/library/nginx")) == []
    init = {"containers": [{"name": "c", "image": "nginx"}], "initContainers": [{"name": "i", "image": VPC}]}
    assert [item.field for item in uncovered(init)] == ["spec.initContainers[0].image"]


@pytest.mark.parametrize(
    ("value", "wire"), [(0.0000001, "0.0000001"), (0.00025, "0.00025"), (123456.5, "123456.5")]
)
def test_floats_are_plain_decimals(value: float, wire: str) -> None:
    assert format_float(value) == wire
    assert "e" not in format_float(value).lower()


def test_more_than_ten_acr_instances_in_all_name_the_annotation() -> None:
    ids = ",".join(f"cri-{index:020d}" for index in range(50))
    with pytest.raises(SpecError) as caught:
        parameters_for("acr-registry-info-id.yaml", annotations={"k8s.aliyun.com/acr-instance-ids": ids})
    assert caught.value.field == "metadata.annotations[k8s.aliyun.com/acr-instance-ids]"
    assert "at most 10" in str(caught.value)
    spec = {
        "containers": [{"name": "web", "image": "nginx"}],
        "acrRegistryInfos": [{"instanceId": f"cri-{index}"} for index in range(10)],
    }
    with pytest.raises(SpecError) as caught:
        effective_registries(
            AcrContainerGroupSpec.from_dict(spec), {"k8s.aliyun.com/acr-instance-id": "cri-x"}
        )
    assert caught.value.field == "metadata.annotations[k8s.aliyun.com/acr-instance-id]"


def test_another_region_needs_its_own_network() -> None:
    def create(spec: dict[str, Any]) -> dict[str, str]:
        return create_parameters(
            AcrContainerGroupSpec.from_dict(spec),
            name="web",
            annotations={},
            defaults=DEFAULTS,
            objects={},
            client_token="t",
            owner_tags=OWNER_TAGS,
        )

    spec = {"containers": [{"name": "c", "image": "nginx"}], "regionId": "cn-nowhere-9"}
    with pytest.raises(SpecError) as caught:
        create(spec)
    assert caught.value.field == "spec.regionId"
    assert "set spec.securityGroupId and spec.vSwitchIds" in str(caught.value)
    params = create({**spec, "securityGroupId": "sg-a", "vSwitchIds": ["vsw-a"]})
    assert params["RegionId"] == "cn-nowhere-9"


def test_applied_fields_of_an_adopted_group_come_from_what_eci_reports() -> None:
    from acr_eci_operator.mapping import applied_from_group

    immutable = {"zoneId": "cn-beijing-b", "vSwitchIds": "vsw-a,vsw-b", "instanceType": "ecs.c6.large"}
    group = {"ZoneId": "cn-beijing-a", "VSwitchId": "vsw-b", "InstanceType": ""}
    assert applied_from_group(immutable, group) == {
        "zoneId": "cn-beijing-a",  # differs: shows as a change
        "vSwitchIds": "vsw-a,vsw-b",  # ECI chose one of the listed ones
        "instanceType": "ecs.c6.large",  # not reported: taken as agreeing
    }


@pytest.mark.parametrize(
    ("spec_fields", "group", "expected"),
    [
        ({"ramRoleName": "b"}, {"RamRoleName": "a"}, {"ramRoleName": "a"}),
        ({"ramRoleName": "b"}, {"RamRoleName": "b"}, {"ramRoleName": "b"}),
        (
            {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.2"]}},
            {"DnsPolicy": "Default"},
            {"dnsPolicy": "Default"},
        ),
        ({"computeCategory": ["economy", "general"]}, {"ComputeCategory": "general"}, None),
        ({"computeCategory": ["economy"]}, {"ComputeCategory": "general"}, {"computeCategory": "general"}),
        ({"spot": {"strategy": "SpotAsPriceGo"}}, {"SpotStrategy": "SpotAsPriceGo"}, None),
        (
            {"spot": {"strategy": "SpotAsPriceGo"}},
            {"SpotStrategy": "NoSpot"},
            {"spot": '{"strategy":"NoSpot"}'},
        ),
        # An on-demand group is what the fallback makes: it agrees.
        (
            {"spot": {"strategy": "SpotAsPriceGo", "fallbackToOnDemand": True}},
            {"SpotStrategy": "NoSpot"},
            None,
        ),
        ({"spot": {"strategy": "SpotAsPriceGo"}}, {}, None),  # not reported: agreeing
        (
            {"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a", "b"]}]},
            {"HostAliases": [{"Ip": "10.0.0.1", "Hostnames": ["a", "b"]}]},
            None,
        ),
        (
            {"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}]},
            {"HostAliases": [{"Ip": "10.0.0.2", "Hostnames": ["a"]}]},
            {"hostAliases": '[{"hostnames":["a"],"ip":"10.0.0.2"}]'},
        ),
    ],
)
def test_an_adopted_groups_create_only_settings_are_compared(
    spec_fields: dict[str, Any], group: dict[str, Any], expected: dict[str, str] | None
) -> None:
    """Settings DescribeContainerGroups reports are read from the answer, so a group made before a crash
    from an older spec shows the difference (None: agrees with the spec)."""
    from acr_eci_operator.mapping import applied_from_group, immutable_fields

    raw = {"containers": [{"name": "c", "image": "nginx"}], **spec_fields}
    immutable = immutable_fields(raw)
    applied = applied_from_group(immutable, group, AcrContainerGroupSpec.from_dict(raw))
    assert applied == (immutable if expected is None else {**immutable, **expected})


# -- workloads: volumes, files, env sources, probes, lifecycle, security ----------------------------

NETWORK_AND_TAGS = ("Tag.", "RegionId", "ClientToken", "SecurityGroupId", "VSwitchId", "AcrRegistryInfo.")


def workload_part(params: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in params.items() if not key.startswith(NETWORK_AND_TAGS)}


def test_config_files_example_wire_parameters() -> None:
    assert workload_part(parameters_for("config-files.yaml")) == {
        "ContainerGroupName": "config-files",
        "RestartPolicy": "Always",
        "Container.1.Image": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
        "Container.1.Name": "app",
        # envFrom first (app.yaml is no variable name: skipped), then env.
        "Container.1.EnvironmentVar.1.Key": "APP_LOG_LEVEL",
        "Container.1.EnvironmentVar.1.Value": "info",
        "Container.1.EnvironmentVar.2.Key": "LOG_LEVEL",
        "Container.1.EnvironmentVar.2.Value": "info",
        "Container.1.EnvironmentVar.3.Key": "POD_IP",
        "Container.1.EnvironmentVar.3.FieldRef.FieldPath": "status.podIP",
        "Container.1.VolumeMount.1.Name": "config",
        "Container.1.VolumeMount.1.MountPath": "/etc/app",
        "Container.1.VolumeMount.1.ReadOnly": "true",
        "Container.1.VolumeMount.2.Name": "tls",
        "Container.1.VolumeMount.2.MountPath": "/etc/tls",
        "Container.1.VolumeMount.2.ReadOnly": "true",
        "Container.1.VolumeMount.3.Name": "cache",
        "Container.1.VolumeMount.3.MountPath": "/var/cache/app",
        "Volume.1.Name": "config",
        "Volume.1.Type": "ConfigFileVolume",
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Path": "app.yaml",
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content": base64.b64encode(
            b"listen: 0.0.0.0:8080\ncache: /var/cache/app\n"
        ).decode(),
        "Volume.2.Name": "tls",
        "Volume.2.Type": "ConfigFileVolume",
        "Volume.2.ConfigFileVolume.DefaultMode": "0400",
        "Volume.2.ConfigFileVolume.ConfigFileToPath.1.Path": "tls.key",
        "Volume.2.ConfigFileVolume.ConfigFileToPath.1.Content": base64.b64encode(
            b"example-key-material"
        ).decode(),
        "Volume.3.Name": "cache",
        "Volume.3.Type": "EmptyDirVolume",
        "Volume.3.EmptyDirVolume.Medium": "Memory",
        "Volume.3.EmptyDirVolume.SizeLimit": "256Mi",
    }


def test_probes_and_lifecycle_example_wire_parameters() -> None:
    assert workload_part(parameters_for("probes-and-lifecycle.yaml")) == {
        "ContainerGroupName": "probes-and-lifecycle",
        "TerminationGracePeriodSeconds": "45",
        "EphemeralStorage": "20",
        "SecurityContext.Sysctl.1.Name": "net.ipv4.ping_group_range",
        "SecurityContext.Sysctl.1.Value": "0 2147483647",
        "RestartPolicy": "Always",
        "Container.1.Image": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
        "Container.1.Name": "web",
        "Container.1.Port.1.Port": "80",
        "Container.1.Port.1.Protocol": "TCP",
        "Container.1.VolumeMount.1.Name": "shared",
        "Container.1.VolumeMount.1.MountPath": "/usr/share/nginx/html",
        "Container.1.VolumeMount.1.ReadOnly": "true",
        "Container.1.VolumeMount.1.SubPath": "site",
        "Container.1.LivenessProbe.TcpSocket.Port": "80",
        "Container.1.LivenessProbe.InitialDelaySeconds": "10",
        "Container.1.LivenessProbe.FailureThreshold": "3",
        "Container.1.ReadinessProbe.HttpGet.Path": "/",
        "Container.1.ReadinessProbe.HttpGet.Port": "80",
        "Container.1.ReadinessProbe.InitialDelaySeconds": "2",
        "Container.1.ReadinessProbe.PeriodSeconds": "5",
        "Container.1.LifecyclePreStopHandlerExec.1": "/bin/sh",
        "Container.1.LifecyclePreStopHandlerExec.2": "-c",
        "Container.1.LifecyclePreStopHandlerExec.3": "nginx -s quit; sleep 5",
        "Container.1.SecurityContext.Capability.Add.1": "NET_ADMIN",
        "Container.1.SecurityContext.RunAsUser": "101",
        "Container.1.SecurityContextRunAsGroup": "101",
        "Volume.1.Name": "shared",
        "Volume.1.Type": "NFSVolume",
        "Volume.1.NFSVolume.Server": "0a1b2c3d4e-abc12.cn-beijing.nas.aliyuncs.com",
        "Volume.1.NFSVolume.Path": "/share",
        "Volume.1.NFSVolume.ReadOnly": "true",
    }


WORKLOAD_SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "app",
            "image": "nginx",
            "securityContext": {"privileged": True, "runAsNonRoot": True, "readOnlyRootFilesystem": True},
            "lifecycle": {
                "postStart": {
                    "httpGet": {"port": 80, "path": "/ready", "httpHeaders": [{"name": "X", "value": "1"}]}
                },
                "preStop": {"tcpSocket": {"port": 81, "host": "127.0.0.1"}},
            },
            "volumeMounts": [{"name": "disk", "mountPath": "/data", "mountPropagation": "HostToContainer"}],
        }
    ],
    "volumes": [
        {"name": "disk", "disk": {"diskId": "d-123", "fsType": "ext4", "diskSize": 40}},
        {
            "name": "flex",
            "flexVolume": {"driver": "alicloud/nas", "options": {"server": "a.b", "path": "/x"}},
        },
        {
            "name": "files",
            "configMap": {"name": "cfg", "items": [{"key": "a", "path": "dir/a.conf", "mode": 0o600}]},
        },
    ],
    "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]},
}
WORKLOAD_OBJECTS: Any = {("ConfigMap", "cfg"): {"a": b"alpha"}}


def workload_parameters(action: str) -> dict[str, str]:
    spec = AcrContainerGroupSpec.from_dict(WORKLOAD_SPEC)
    common: dict[str, Any] = {
        "annotations": {},
        "objects": WORKLOAD_OBJECTS,
        "client_token": "t",
        "owner_tags": {},
    }
    if action == "CreateContainerGroup":
        return create_parameters(spec, name="web", defaults=DEFAULTS, **common)
    return update_parameters(spec, container_group_id="eci-1", defaults=DEFAULTS, **common)


def test_disk_flex_modes_hooks_and_host_sysctls_on_create() -> None:
    params = workload_parameters("CreateContainerGroup")
    assert {key: params[key] for key in params if key.startswith(("Volume.", "HostSecurityContext."))} == {
        "Volume.1.Name": "disk",
        "Volume.1.Type": "DiskVolume",
        "Volume.1.DiskVolume.DiskId": "d-123",
        "Volume.1.DiskVolume.FsType": "ext4",
        "Volume.1.DiskVolume.DiskSize": "40",
        "Volume.2.Name": "flex",
        "Volume.2.Type": "FlexVolume",
        "Volume.2.FlexVolume.Driver": "alicloud/nas",
        "Volume.2.FlexVolume.Options": '{"path":"/x","server":"a.b"}',
        "Volume.3.Name": "files",
        "Volume.3.Type": "ConfigFileVolume",
        "Volume.3.ConfigFileVolume.ConfigFileToPath.1.Path": "dir/a.conf",
        "Volume.3.ConfigFileVolume.ConfigFileToPath.1.Content": "YWxwaGE=",
        "Volume.3.ConfigFileVolume.ConfigFileToPath.1.Mode": "0600",
        "HostSecurityContext.Sysctl.1.Name": "kernel.msgmax",
        "HostSecurityContext.Sysctl.1.Value": "65536",
    }
    assert params["Container.1.SecurityContextPrivileged"] == "true"
    assert params["Container.1.SecurityContextRunAsNonRoot"] == "true"
    assert params["Container.1.SecurityContext.ReadOnlyRootFilesystem"] == "true"
    assert params["Container.1.LifecyclePostStartHandlerHttpGetHttpHeader.1.Name"] == "X"
    assert params["Container.1.LifecyclePreStopHandlerTcpSocketHost"] == "127.0.0.1"
    assert params["Container.1.VolumeMount.1.MountPropagation"] == "HostToContainer"
    assert {template(name) for name in params} - wire_names("CreateContainerGroup") == set()


def test_update_leaves_out_what_only_create_takes() -> None:
    params = workload_parameters("UpdateContainerGroup")
    assert {template(name) for name in params} - wire_names("UpdateContainerGroup") == set()
    # A disk volume cannot be sent: no Volume.N at all (ECI keeps the volumes; a change of them replaces).
    assert not [key for key in params if key.startswith("Volume.")]
    for create_only in (
        "Container.1.SecurityContextPrivileged",
        "Container.1.SecurityContextRunAsNonRoot",
        "TerminationGracePeriodSeconds",
        "HostSecurityContext.Sysctl.1.Name",
    ):
        assert create_only not in params
    # UpdateContainerGroup spells the post-start header list in the plural.
    assert params["Container.1.LifecyclePostStartHandlerHttpGetHttpHeaders.1.Name"] == "X"
    assert params["Container.1.VolumeMount.1.Name"] == "disk"


def test_create_only_fields_name_what_cannot_change_in_place() -> None:
    spec = AcrContainerGroupSpec.from_dict(WORKLOAD_SPEC)
    fields = create_only_fields(spec, workload_parameters("CreateContainerGroup"))
    assert set(fields) == {
        "containers[app].securityContext.privileged",
        "containers[app].securityContext.runAsNonRoot",
        "volumes[files].configMap.items[dir/a.conf].mode",
        "volumes",
    }
    assert changed_immutable_fields(
        fields, {**fields, "containers[app].securityContext.privileged": "false"}
    ) == ["spec.containers[app].securityContext.privileged"]


@pytest.mark.parametrize(
    ("objects", "field", "reason"),
    [
        ({}, "spec.volumes[2].configMap", "ConfigMap 'cfg' does not exist"),
        (
            {("ConfigMap", "cfg"): {}},
            "spec.volumes[2].configMap.items[0].key",
            "ConfigMap 'cfg' has no key 'a'",
        ),
    ],
)
def test_a_missing_config_map_or_key_names_the_field(objects: Any, field: str, reason: str) -> None:
    spec = AcrContainerGroupSpec.from_dict(WORKLOAD_SPEC)
    with pytest.raises(ReferenceMissing) as caught:
        create_parameters(
            spec,
            name="web",
            annotations={},
            defaults=DEFAULTS,
            objects=objects,
            client_token="t",
            owner_tags={},
        )
    assert (caught.value.field, caught.value.message, caught.value.kind) == (field, reason, "ConfigMap")


def test_optional_sources_may_be_missing_and_large_files_are_refused() -> None:
    spec = AcrContainerGroupSpec.from_dict(
        {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx",
                    "env": [
                        {
                            "name": "A",
                            "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
                        }
                    ],
                    "envFrom": [{"configMapRef": {"name": "absent", "optional": True}}],
                }
            ],
            "volumes": [{"name": "v", "secret": {"secretName": "absent", "optional": True}}],
        }
    )
    common: dict[str, Any] = {
        "name": "web",
        "annotations": {},
        "defaults": DEFAULTS,
        "client_token": "t",
        "owner_tags": {},
    }
    params = create_parameters(spec, objects={}, **common)
    assert params["Volume.1.Type"] == "EmptyDirVolume"  # as Kubernetes: an empty directory
    assert not [key for key in params if ".EnvironmentVar." in key]
    with pytest.raises(SpecError) as caught:
        create_parameters(spec, objects={("Secret", "absent"): {"big": b"x" * (32 * 1024 + 1)}}, **common)
    assert caught.value.field == "spec.volumes[0].secret" and "at most 32768" in caught.value.message


def test_config_file_contents_are_redacted_in_logs() -> None:
    params = workload_parameters("CreateContainerGroup")
    assert redact(params)["Volume.3.ConfigFileVolume.ConfigFileToPath.1.Content"] == "***"


def test_a_mode_counts_only_when_it_was_sent() -> None:
    """An optional Secret volume sent as an empty directory carries no mode: when the Secret appears, the
    files' mode is a change an update cannot carry (it would silently become ECI's default)."""
    spec = AcrContainerGroupSpec.from_dict(
        {
            "containers": [{"name": "app", "image": "nginx"}],
            "volumes": [
                {"name": "tls", "secret": {"secretName": "tls", "defaultMode": 0o400, "optional": True}}
            ],
        }
    )
    common: dict[str, Any] = {
        "name": "web",
        "annotations": {},
        "defaults": DEFAULTS,
        "client_token": "t",
        "owner_tags": {},
    }
    absent = create_parameters(spec, objects={}, **common)
    present = create_parameters(spec, objects={("Secret", "tls"): {"k": b"v"}}, **common)
    assert create_only_fields(spec, absent) == {}
    assert create_only_fields(spec, present) == {"volumes[tls].secret.defaultMode": "0400"}


def test_reordering_a_keyed_list_is_no_change() -> None:
    sysctls = [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.ping_group_range", "value": "0 1"}]
    old = {"containers": [], "securityContext": {"sysctls": sysctls}}
    new = {"containers": [], "securityContext": {"sysctls": sysctls[::-1]}}
    assert immutable_changes(old, new) == []
    volumes = WORKLOAD_SPEC["volumes"]
    forward = AcrContainerGroupSpec.from_dict(WORKLOAD_SPEC)
    backward = AcrContainerGroupSpec.from_dict({**WORKLOAD_SPEC, "volumes": volumes[::-1]})
    common: dict[str, Any] = {
        "name": "web",
        "annotations": {},
        "defaults": DEFAULTS,
        "client_token": "t",
        "owner_tags": {},
    }
    params = [create_parameters(spec, objects=WORKLOAD_OBJECTS, **common) for spec in (forward, backward)]
    assert create_only_fields(forward, params[0]) == create_only_fields(backward, params[1])


def test_an_optional_key_that_is_missing_keeps_the_env_from_value() -> None:
    spec = AcrContainerGroupSpec.from_dict(
        {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx",
                    "envFrom": [{"configMapRef": {"name": "base"}}],
                    "env": [
                        {
                            "name": "FOO",
                            "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k", "optional": True}},
                        }
                    ],
                }
            ]
        }
    )
    params = create_parameters(
        spec,
        name="web",
        annotations={},
        defaults=DEFAULTS,
        objects={("ConfigMap", "base"): {"FOO": b"1"}},
        client_token="t",
        owner_tags={},
    )
    assert (params["Container.1.EnvironmentVar.1.Key"], params["Container.1.EnvironmentVar.1.Value"]) == (
        "FOO",
        "1",
    )


# -- workloads II: public access, DNS, placement, spot, GPUs, image caches ---------------------------

PLACEMENT_SPEC: dict[str, Any] = {
    "containers": [{"name": "app", "image": "nginx", "gpu": 1}],
    "instanceTypes": ["ecs.gn6i-c4g1.xlarge", "ecs.gn6v-c8g1.2xlarge"],
    "cpuArchitecture": "AMD64",
    "scheduleStrategy": "VSwitchOrdered",
    "eip": {"autoCreate": True, "bandwidth": 10, "isp": "BGP_PRO", "commonBandwidthPackageId": "cbwp-1"},
    "dnsPolicy": "None",
    "dnsConfig": {
        "nameservers": ["10.0.0.2"],
        "searches": ["svc.local"],
        "options": [{"name": "ndots", "value": "2"}],
    },
    "hostAliases": [{"ip": "10.0.0.9", "hostnames": ["db.local", "cache.local"]}],
    "ntpServers": ["ntp.aliyun.com"],
    "hostName": "web-1",
    "spot": {
        "strategy": "SpotWithPriceLimit",
        "priceLimit": 0.25,
        "durationHours": 1,
        "fallbackToOnDemand": True,
    },
    "gpuDriverVersion": "tesla=525.85.12",
    "imageCache": {"snapshotId": "imc-abc"},
    "ramRoleName": "app-role",
    "activeDeadlineSeconds": 3600,
    "resourceGroupId": "rg-abc",
}


def placement_parameters(action: str) -> dict[str, str]:
    spec = AcrContainerGroupSpec.from_dict(PLACEMENT_SPEC)
    common: dict[str, Any] = {"annotations": {}, "objects": {}, "client_token": "t", "owner_tags": {}}
    if action == "CreateContainerGroup":
        return create_parameters(spec, name="web", defaults=DEFAULTS, **common)
    return update_parameters(spec, container_group_id="eci-1", defaults=DEFAULTS, **common)


def test_placement_spot_eip_dns_and_identity_wire_parameters() -> None:
    params = placement_parameters("CreateContainerGroup")
    assert {key: value for key, value in params.items() if not key.startswith(NETWORK_AND_TAGS)} == {
        "ContainerGroupName": "web",
        "InstanceType": "ecs.gn6i-c4g1.xlarge,ecs.gn6v-c8g1.2xlarge",
        "CpuArchitecture": "AMD64",
        "ScheduleStrategy": "VSwitchOrdered",
        "AutoCreateEip": "true",
        "EipBandwidth": "10",
        "EipISP": "BGP_PRO",
        "EipCommonBandwidthPackage": "cbwp-1",
        "DnsPolicy": "None",
        "HostAliase.1.Ip": "10.0.0.9",
        "HostAliase.1.Hostname.1": "db.local",
        "HostAliase.1.Hostname.2": "cache.local",
        "NtpServer.1": "ntp.aliyun.com",
        "HostName": "web-1",
        "SpotStrategy": "SpotWithPriceLimit",
        "SpotPriceLimit": "0.25",
        "SpotDuration": "1",
        "GpuDriverVersion": "tesla=525.85.12",
        "ImageSnapshotId": "imc-abc",
        "RamRoleName": "app-role",
        "ActiveDeadlineSeconds": "3600",
        "RestartPolicy": "Always",
        "ResourceGroupId": "rg-abc",
        "DnsConfig.NameServer.1": "10.0.0.2",
        "DnsConfig.Search.1": "svc.local",
        "DnsConfig.Option.1.Name": "ndots",
        "DnsConfig.Option.1.Value": "2",
        "Container.1.Image": "nginx",
        "Container.1.Name": "app",
        "Container.1.Gpu": "1",
    }
    assert {template(name) for name in params} - wire_names("CreateContainerGroup") == set()
    on_demand_spec = {**PLACEMENT_SPEC, "spot": None, "computeCategory": ["economy", "general"]}
    categories = create_parameters(
        AcrContainerGroupSpec.from_dict({k: v for k, v in on_demand_spec.items() if v is not None}),
        name="web",
        annotations={},
        defaults=DEFAULTS,
        objects={},
        client_token="t",
        owner_tags={},
    )
    assert (categories["ComputeCategory.1"], categories["ComputeCategory.2"]) == ("economy", "general")
    on_demand_params = on_demand(params)
    assert on_demand_params["SpotStrategy"] == "NoSpot"
    assert "SpotPriceLimit" not in on_demand_params and "SpotDuration" not in on_demand_params


def test_update_carries_dns_config_resource_group_and_gpus_only() -> None:
    params = placement_parameters("UpdateContainerGroup")
    assert {template(name) for name in params} - wire_names("UpdateContainerGroup") == set()
    assert params["DnsConfig.NameServer.1"] == "10.0.0.2" and params["ResourceGroupId"] == "rg-abc"
    assert params["Container.1.Gpu"] == "1"
    for create_only in ("InstanceType", "SpotStrategy", "AutoCreateEip", "HostAliase.1.Ip", "RamRoleName"):
        assert create_only not in params


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"instanceTypes": ["ecs.c6.large"]}, "spec.instanceTypes", "needs GPU instance types only"),
        ({"computeCategory": ["economy"]}, "spec.computeCategory", "cannot be combined with spot"),
        (
            {"dnsPolicy": "None", "dnsConfig": {"searches": ["a.b"]}},
            "spec.dnsConfig.nameservers",
            "name server",
        ),
        ({"eip": {"autoCreate": True, "instanceId": "eip-1"}}, "spec.eip", "not both"),
        (
            {"spot": {"strategy": "SpotAsPriceGo", "priceLimit": 1}},
            "spec.spot.priceLimit",
            "SpotWithPriceLimit",
        ),
        ({"instanceType": "ecs.gn6i-c4g1.xlarge"}, "spec.instanceTypes", "not both"),
        ({"instanceTypes": [f"ecs.gn6i-c{n}g1.xlarge" for n in range(6)]}, "spec.instanceTypes", "at most 5"),
    ],
)
def test_bad_placement_is_named(change: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        AcrContainerGroupSpec.from_dict({**PLACEMENT_SPEC, **change})
    assert caught.value.field == field and message in caught.value.message
