"""Image pulls: ACR EE instances need an AcrRegistryInfo entry (or credentials), private registries need
credentials, public images pull. Each rule both ways, including the seed document's three examples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.UpdateContainerGroupRequest import UpdateContainerGroupRequest

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.registries import InvalidReference, parse_image
from eci_emulator.testing import (
    DEMOABCD_ID,
    DEMOABCD_IMAGE,
    TESTABCD_ID,
    TESTABCD_IMAGE,
    TESTABCD_VPC_IMAGE,
    Call,
    container_params,
)

SEED_CONTAINERS = {
    **container_params(1, "c1", TESTABCD_IMAGE),
    **container_params(2, "c2", TESTABCD_VPC_IMAGE),
}

SEED_EXAMPLES = {
    "example-1-region-id-and-domains": {
        "AcrRegistryInfo.1.RegionId": "cn-beijing",
        "AcrRegistryInfo.1.InstanceId": TESTABCD_ID,
        "AcrRegistryInfo.1.Domain.1": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com",
        "AcrRegistryInfo.1.Domain.2": "testabcd-registry.cn-beijing.cr.aliyuncs.com",
    },
    "example-2-id-and-name": {
        "AcrRegistryInfo.1.InstanceId": TESTABCD_ID,
        "AcrRegistryInfo.1.InstanceName": "testabcd",
    },
    "example-3-id-only": {"AcrRegistryInfo.1.InstanceId": TESTABCD_ID},
}


Run = Callable[..., dict[str, Any]]


@pytest.fixture
def run(call: Call, eci_emulator: EmulatorFixture, describe: Callable[[str], dict[str, Any]]) -> Run:
    """run(containers, **params): create a group, let a second pass, describe it."""

    def _run(containers: dict[str, str], **params: str) -> dict[str, Any]:
        answer = call(CreateContainerGroupRequest, ContainerGroupName="pull-test", **containers, **params)
        eci_emulator.advance_clock(1)
        return describe(answer["ContainerGroupId"])

    return _run


def _states(group: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        container["Name"]: (container["CurrentState"]["State"], container["CurrentState"]["Reason"])
        for container in group["Containers"]
    }


def _failed_messages(group: dict[str, Any]) -> list[str]:
    return [
        event["Message"]
        for event in group["Events"]
        if event["Reason"] == "Failed" and event["Type"] == "Warning"
    ]


@pytest.mark.parametrize("example", sorted(SEED_EXAMPLES))
def test_the_seed_examples_pull(call: Call, eci_emulator: EmulatorFixture, example: str, run: Run) -> None:
    group = run(SEED_CONTAINERS, **SEED_EXAMPLES[example])
    assert group["Status"] == "Running", group["Events"]
    assert _states(group) == {"c1": ("Running", ""), "c2": ("Running", "")}


def test_a_missing_entry_fails_with_the_reason_visible(
    call: Call, eci_emulator: EmulatorFixture, describe: Callable[[str], dict[str, Any]], run: Run
) -> None:
    group = run(SEED_CONTAINERS)
    assert group["Status"] == "Pending"
    container = group["Containers"][0]
    assert (container["CurrentState"]["State"], container["CurrentState"]["Reason"]) == (
        "Waiting",
        "ErrImagePull",
    )
    assert container["Ready"] is False
    messages = _failed_messages(group)
    assert any(
        f'Failed to pull image "{TESTABCD_IMAGE}"' in message
        and "pull access denied" in message
        and TESTABCD_ID in message
        for message in messages
    ), messages
    assert "Error: ErrImagePull" in messages
    eci_emulator.advance_clock(1.5)
    group = describe(group["ContainerGroupId"])
    assert group["Status"] == "Pending"
    assert _states(group)["c1"] == ("Waiting", "ImagePullBackOff")
    assert "Error: ImagePullBackOff" in _failed_messages(group)
    assert any(event["Reason"] == "BackOff" for event in group["Events"])


def test_an_entry_for_another_instance_does_not_help(
    call: Call, eci_emulator: EmulatorFixture, run: Run
) -> None:
    group = run(SEED_CONTAINERS, **{"AcrRegistryInfo.1.InstanceId": DEMOABCD_ID})
    assert group["Status"] == "Pending"
    assert _states(group)["c1"] == ("Waiting", "ErrImagePull")


def test_two_entries_for_two_instances(call: Call, eci_emulator: EmulatorFixture, run: Run) -> None:
    containers = {**container_params(1, "c1", TESTABCD_IMAGE), **container_params(2, "c2", DEMOABCD_IMAGE)}
    params = {"AcrRegistryInfo.1.InstanceId": TESTABCD_ID, "AcrRegistryInfo.2.InstanceId": DEMOABCD_ID}
    assert run(containers, **params)["Status"] == "Running"
    group = run(containers, **{"AcrRegistryInfo.1.InstanceId": TESTABCD_ID})
    assert _states(group) == {"c1": ("Running", ""), "c2": ("Waiting", "ErrImagePull")}


def test_domains_when_given_must_include_the_image_domain(
    call: Call, eci_emulator: EmulatorFixture, run: Run
) -> None:
    params = {
        "AcrRegistryInfo.1.InstanceId": TESTABCD_ID,
        "AcrRegistryInfo.1.Domain.1": "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com",
    }
    group = run(SEED_CONTAINERS, **params)
    assert group["Status"] == "Pending"
    assert _states(group) == {"c1": ("Waiting", "ErrImagePull"), "c2": ("Running", "")}
    assert any("lists Domain" in message for message in _failed_messages(group))


def test_region_id_when_given_must_match(call: Call, eci_emulator: EmulatorFixture, run: Run) -> None:
    params = {"AcrRegistryInfo.1.InstanceId": TESTABCD_ID, "AcrRegistryInfo.1.RegionId": "cn-hangzhou"}
    group = run(SEED_CONTAINERS, **params)
    assert group["Status"] == "Pending"
    assert any("RegionId cn-hangzhou" in message for message in _failed_messages(group))


def test_instance_name_when_given_must_match(call: Call, eci_emulator: EmulatorFixture, run: Run) -> None:
    params = {"AcrRegistryInfo.1.InstanceId": TESTABCD_ID, "AcrRegistryInfo.1.InstanceName": "demoabcd"}
    group = run(SEED_CONTAINERS, **params)
    assert group["Status"] == "Pending"
    assert any("InstanceName demoabcd" in message for message in _failed_messages(group))


@pytest.mark.parametrize(("password", "status"), [("Acr-Pull-Passw0rd", "Running"), ("wrong", "Pending")])
def test_acr_images_pull_with_a_registry_credential(
    call: Call, eci_emulator: EmulatorFixture, password: str, status: str, run: Run
) -> None:
    params = {
        "ImageRegistryCredential.1.Server": "testabcd-registry.cn-beijing.cr.aliyuncs.com",
        "ImageRegistryCredential.1.UserName": "testabcd-puller",
        "ImageRegistryCredential.1.Password": password,
    }
    group = run(container_params(1, "c1", TESTABCD_IMAGE), **params)
    assert group["Status"] == status


@pytest.mark.parametrize(
    ("credential", "status"),
    [(None, "Pending"), (("bob", "s3cr3t-Passw0rd"), "Running"), (("bob", "nope"), "Pending")],
)
def test_private_registries_need_a_credential(
    call: Call, eci_emulator: EmulatorFixture, credential: tuple[str, str] | None, status: str, run: Run
) -> None:
    params: dict[str, str] = {}
    if credential is not None:
        params = {
            "ImageRegistryCredential.1.Server": "registry.example.com",
            "ImageRegistryCredential.1.UserName": credential[0],
            "ImageRegistryCredential.1.Password": credential[1],
        }
    group = run(container_params(1, "app", "registry.example.com/team/app:1"), **params)
    assert group["Status"] == status
    if status == "Pending":
        assert any("registry.example.com" in message for message in _failed_messages(group))
    logged = eci_emulator.request_log.entries("CreateContainerGroup")[-1]["parameters"]
    assert "s3cr3t-Passw0rd" not in str(logged)


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.25",
        "docker.io/library/nginx",
        f"quay.io/org/tool@{DIGEST}",
        f"nginx:1.25@{DIGEST}",
        "localhost:5000/team/app:v1.2_rc-3",
        "ghcr.io/org/a__b/c-d.e:1",
    ],
)
def test_public_images_pull(call: Call, eci_emulator: EmulatorFixture, image: str, run: Run) -> None:
    assert run(container_params(1, "c", image))["Status"] == "Running"


@pytest.mark.parametrize(
    "image",
    [
        "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/unknown:1.0",
        "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:2.0",
    ],
)
def test_an_authorised_pull_of_a_missing_repository_fails(run: Run, image: str) -> None:
    group = run(container_params(1, "c", image), **{"AcrRegistryInfo.1.InstanceId": TESTABCD_ID})
    assert group["Status"] == "Pending"
    assert any("not found" in message for message in _failed_messages(group))


def test_busybox_takes_any_tag(run: Run) -> None:
    image = "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/busybox:1.36"
    group = run(container_params(1, "c", image), **{"AcrRegistryInfo.1.InstanceId": TESTABCD_ID})
    assert group["Status"] == "Running"


def test_an_update_adding_the_entry_lets_the_pull_succeed(
    call: Call, eci_emulator: EmulatorFixture, describe: Callable[[str], dict[str, Any]], run: Run
) -> None:
    group = run(SEED_CONTAINERS)
    assert group["Status"] == "Pending"
    call(
        UpdateContainerGroupRequest,
        ContainerGroupId=group["ContainerGroupId"],
        **{"AcrRegistryInfo.1.InstanceId": TESTABCD_ID},
    )
    eci_emulator.advance_clock(1)
    assert describe(group["ContainerGroupId"])["Status"] == "Running"


def test_an_init_container_that_cannot_pull_blocks_the_group(
    call: Call, eci_emulator: EmulatorFixture, run: Run
) -> None:
    params = {"InitContainer.1.Name": "init", "InitContainer.1.Image": TESTABCD_IMAGE}
    group = run(container_params(1, "c", "nginx"), **params)
    assert group["Status"] == "Pending"
    assert group["InitContainers"][0]["CurrentState"]["Reason"] == "ErrImagePull"
    assert group["Containers"][0]["CurrentState"]["Reason"] == "PodInitializing"


def test_instances_added_at_run_time(call: Call, eci_emulator: EmulatorFixture, run: Run) -> None:
    eci_emulator.admin.add_acr_instances(
        [
            {
                "instanceId": "cri-newinstance0001",
                "instanceName": "newone",
                "regionId": "cn-hangzhou",
                "domains": ["newone-registry.cn-hangzhou.cr.aliyuncs.com"],
                "repositories": {"ns/app": []},
            }
        ]
    )
    containers = container_params(1, "c", "newone-registry.cn-hangzhou.cr.aliyuncs.com/ns/app:v1")
    assert run(containers)["Status"] == "Pending"
    group = run(containers, **{"AcrRegistryInfo.1.InstanceId": "cri-newinstance0001"})
    assert group["Status"] == "Running"


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag"),
    [
        ("nginx", "docker.io", "library/nginx", "latest"),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25"),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7"),
        ("localhost:5000/app:1", "localhost:5000", "app", "1"),
        (TESTABCD_IMAGE, "testabcd-registry.cn-beijing.cr.aliyuncs.com", "eci_test/nginx", "1.0"),
        (f"quay.io/a/b@{DIGEST}", "quay.io", "a/b", ""),
        (f"quay.io/a/b:1@{DIGEST}", "quay.io", "a/b", "1"),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest"),
        ("Registry/app", "Registry", "app", "latest"),
        ("[::1]:5000/app:2", "[::1]:5000", "app", "2"),
    ],
)
def test_parse_image(image: str, registry: str, repository: str, tag: str) -> None:
    reference = parse_image(image)
    assert (reference.registry, reference.repository, reference.tag) == (registry, repository, tag)
    assert reference.digest == (DIGEST if "@" in image else "")


INVALID_IMAGES = {
    "NGINX:Latest": "invalid reference format: repository name must be lowercase",
    "team/App:1": "invalid reference format: repository name must be lowercase",
    "nginx@sha256:xyz": "invalid reference format",
    f"nginx@{DIGEST[:-1]}": "invalid checksum digest length",
    f"nginx@{DIGEST.upper().replace('SHA256', 'sha256')}": "invalid checksum digest format",
    f"nginx@md5:{'0' * 32}": "unsupported digest algorithm",
    "nginx:.1": "invalid reference format",
    "nginx:" + "a" * 129: "invalid reference format",
    "team//app": "invalid reference format",
    "team/app/": "invalid reference format",
    "nginx :1": "invalid reference format",
    "a___b": "invalid reference format",
    "0123456789abcdef" * 4: "cannot specify 64-byte hexadecimal strings",
    "a/" + "b" * 254: "repository name must not be more than 255 characters",
}


@pytest.mark.parametrize("image", sorted(INVALID_IMAGES))
def test_parse_image_refuses_what_the_kubelet_refuses(image: str) -> None:
    with pytest.raises(InvalidReference) as raised:
        parse_image(image)
    assert INVALID_IMAGES[image] in str(raised.value)


def _invalid_image_checks(group: dict[str, Any], container: dict[str, Any], image: str) -> None:
    state = container["CurrentState"]
    assert (state["State"], state["Reason"]) == ("Waiting", "InvalidImageName"), state
    message = (
        f'Failed to apply default image tag "{image}": couldn\'t parse image reference "{image}": '
        f"{INVALID_IMAGES[image]}"
    )
    assert state["Message"] == message, state
    assert container["Ready"] is False
    involved = [event for event in group["Events"] if f'"{image}"' in event["Message"]]
    assert involved, group["Events"]
    assert not any(event["Reason"] in ("Pulling", "Pulled", "BackOff") for event in involved)
    warnings = {
        (event["Reason"], event["Message"]) for event in group["Events"] if event["Type"] == "Warning"
    }
    assert ("InspectFailed", state["Message"]) in warnings
    assert ("Failed", "Error: InvalidImageName") in warnings


@pytest.mark.parametrize("image", ["NGINX:Latest", "nginx@sha256:xyz", f"nginx@{DIGEST[:-1]}"])
def test_an_invalid_image_name_is_never_pulled(
    eci_emulator: EmulatorFixture, describe: Callable[[str], dict[str, Any]], run: Run, image: str
) -> None:
    group = run({**container_params(1, "bad", image), **container_params(2, "good", "nginx:1.25")})
    assert group["Status"] == "Pending"
    assert _states(group)["good"] == ("Running", "")
    _invalid_image_checks(group, group["Containers"][0], image)
    eci_emulator.advance_clock(5)
    group = describe(group["ContainerGroupId"])
    assert group["Status"] == "Pending"
    _invalid_image_checks(group, group["Containers"][0], image)
    assert _states(group)["bad"] == ("Waiting", "InvalidImageName")


def test_an_init_container_with_an_invalid_image_name_blocks_the_group(run: Run) -> None:
    params = {"InitContainer.1.Name": "init", "InitContainer.1.Image": "team/App:1"}
    group = run(container_params(1, "c", "nginx"), **params)
    assert group["Status"] == "Pending"
    _invalid_image_checks(group, group["InitContainers"][0], "team/App:1")
    assert group["Containers"][0]["CurrentState"]["Reason"] == "PodInitializing"


def test_an_update_fixing_the_image_name_lets_the_container_start(
    call: Call, eci_emulator: EmulatorFixture, describe: Callable[[str], dict[str, Any]], run: Run
) -> None:
    group = run(container_params(1, "c", "NGINX:Latest"))
    assert _states(group)["c"] == ("Waiting", "InvalidImageName")
    call(
        UpdateContainerGroupRequest,
        ContainerGroupId=group["ContainerGroupId"],
        **container_params(1, "c", "nginx:latest"),
    )
    eci_emulator.advance_clock(2)
    group = describe(group["ContainerGroupId"])
    assert group["Status"] == "Running"
    assert _states(group)["c"] == ("Running", "")


def test_an_acr_image_by_digest_pulls_when_authorised(run: Run) -> None:
    image = f"testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx@{DIGEST}"
    group = run(container_params(1, "c", image), **{"AcrRegistryInfo.1.InstanceId": TESTABCD_ID})
    assert group["Status"] == "Running", group["Events"]
    assert any(event["Reason"] == "Pulled" and image in event["Message"] for event in group["Events"])
    assert run(container_params(1, "c", image))["Status"] == "Pending"
