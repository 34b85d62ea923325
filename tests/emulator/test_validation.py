"""Strictness: unknown names, indexes, types, ranges, enums and limits are refused with a clear message."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupStatusRequest import (
    DescribeContainerGroupStatusRequest,
)
from aliyunsdkeci.request.v20180808.UpdateContainerGroupRequest import UpdateContainerGroupRequest

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call, container_params, prepare
from tests.emulator.conftest import refused, refused_by_name

BASE = {"ContainerGroupName": "web", **container_params(1, "main", "nginx:1.25")}


def test_an_unknown_parameter_is_refused_by_name(call: Call) -> None:
    error = refused(call, CreateContainerGroupRequest, **BASE, **{"Container.1.Imagee": "x"})
    assert error.get_error_code() == "InvalidParameter"
    assert "Container.1.Imagee" in error.get_error_msg()


def test_the_sdk_acr_registry_info_domain_bug_is_caught(
    eci_emulator: EmulatorFixture, client: AcsClient
) -> None:
    request = prepare(CreateContainerGroupRequest(), eci_emulator, BASE)
    request.set_AcrRegistryInfos([{"InstanceId": "cri-nwj395hgf6f3abcd", "Domains": ["a.example.com"]}])
    with pytest.raises(ServerException) as raised:
        client.do_action_with_exception(request)
    assert "AcrRegistryInfo.1Domain.1" in raised.value.get_error_msg()


def test_lenient_mode_accepts_unknown_names(call: Call, eci_emulator: EmulatorFixture) -> None:
    eci_emulator.backend.strict = False
    answer = call(CreateContainerGroupRequest, **BASE, NotAParameter="1")
    assert answer["ContainerGroupId"].startswith("eci-")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({**BASE, **container_params(3, "second", "nginx")}, "without gaps"),
        ({**BASE, "Container.0.Name": "zero", "Container.0.Image": "nginx"}, "indexes start at 1"),
        ({**BASE, "Container.1.Port.1.Port": "70000"}, "between 1 and 65535"),
        ({**BASE, "Container.1.Port.1.Port": "80a"}, "integer"),
        ({**BASE, "Container.1.Cpu": "two"}, "number"),
        ({**BASE, "RestartPolicy": "Sometimes"}, "RestartPolicy"),
        ({**BASE, "Container.1.ImagePullPolicy": "always"}, "ImagePullPolicy"),
        ({**BASE, "AutoCreateEip": "True"}, "true or false"),
        ({**BASE, "ContainerGroupName": "Web_1"}, "ContainerGroupName"),
        ({**BASE, "Container.1.Name": "Main"}, "Container.1.Name"),
        ({**BASE, **container_params(2, "main", "nginx")}, "used twice"),
        ({**BASE, "Tag.1.Key": "a", "Tag.1.Value": "1", "Tag.2.Key": "a", "Tag.2.Value": "2"}, "twice"),
        ({**BASE, "Tag.1.Key": "aliyun-x", "Tag.1.Value": "1"}, "aliyun"),
        (
            {**BASE, "Container.1.VolumeMount.1.Name": "data", "Container.1.VolumeMount.1.MountPath": "/d"},
            "data",
        ),
        ({**BASE, "ClientToken": "x" * 65}, "ClientToken"),
    ],
)
def test_bad_create_parameters_are_refused(call: Call, params: dict[str, str], fragment: str) -> None:
    refused_by_name(call, CreateContainerGroupRequest, fragment, **params)


def test_twenty_one_tags_are_refused(call: Call) -> None:
    tags = {f"Tag.{n}.Key": f"k{n}" for n in range(1, 22)}
    error = refused(call, CreateContainerGroupRequest, **BASE, **tags)
    assert "At most 20 tags" in error.get_error_msg()


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({"Container.1.Name": "main", "Container.1.Image": "nginx"}, "ContainerGroupName"),
        ({"ContainerGroupName": "web"}, "Container.1.Name"),
        ({"ContainerGroupName": "web", "Container.1.Name": "main"}, "Container.1.Image"),
        ({**BASE, "AcrRegistryInfo.1.RegionId": "cn-beijing"}, "AcrRegistryInfo.1.InstanceId"),
        ({**BASE, "ImageRegistryCredential.1.Server": "r.example.com"}, "ImageRegistryCredential.1.UserName"),
    ],
)
def test_missing_required_parameters(call: Call, params: dict[str, str], missing: str) -> None:
    error = refused(call, CreateContainerGroupRequest, **params)
    assert error.get_error_code() == "MissingParameter"
    assert f'"{missing}"' in error.get_error_msg()


def test_twenty_one_ids_are_refused_twenty_are_fine(call: Call) -> None:
    ids = [f"eci-{n:020d}" for n in range(21)]
    error = refused(call, DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps(ids))
    assert error.get_error_code() == "InvalidParameter"
    assert "at most 20" in error.get_error_msg()
    assert call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps(ids[:20]))["TotalCount"] == 0


def test_limit_above_twenty_is_refused(call: Call) -> None:
    error = refused(call, DescribeContainerGroupsRequest, Limit=21)
    assert "between 1 and 20" in error.get_error_msg()
    assert call(DescribeContainerGroupsRequest, Limit=20)["ContainerGroups"] == []


def test_container_group_ids_must_be_a_json_array(call: Call) -> None:
    error = refused(call, DescribeContainerGroupsRequest, ContainerGroupIds="eci-a,eci-b")
    assert "JSON array" in error.get_error_msg()


def test_status_filter_must_be_a_known_status(call: Call) -> None:
    error = refused(call, DescribeContainerGroupsRequest, Status="Sleeping")
    assert "Status" in error.get_error_msg()


def test_status_limit_allows_two_hundred(call: Call) -> None:
    assert call(DescribeContainerGroupStatusRequest, Limit=200)["Data"] == []
    error = refused(call, DescribeContainerGroupStatusRequest, Limit=201)
    assert error.get_error_code() == "InvalidParameter"


def test_python_booleans_are_refused(call: Call, create: Callable[..., str]) -> None:
    error = refused(call, DescribeContainerGroupsRequest, WithEvent=True)
    assert "true or false" in error.get_error_msg()
    create()
    assert call(DescribeContainerGroupsRequest, WithEvent="false")["ContainerGroups"][0]["Events"] == []


def test_test_knobs_must_be_numbers(call: Call) -> None:
    params = {**BASE, **container_params(1, "main", "nginx", ECI_EMULATOR_EXIT_CODE="one")}
    error = refused(call, CreateContainerGroupRequest, **params)
    assert "ECI_EMULATOR_EXIT_CODE" in error.get_error_msg()


def test_dry_run_validates_without_creating(call: Call, eci_emulator: EmulatorFixture) -> None:
    error = refused(call, CreateContainerGroupRequest, **BASE, DryRun="true")
    assert error.get_error_code() == "DryRunOperation"
    assert eci_emulator.backend.group_count() == 0


def test_an_empty_id_list_is_refused(call: Call) -> None:
    error = refused(call, DescribeContainerGroupsRequest, ContainerGroupIds="[]")
    assert "no id" in error.get_error_msg()


def _acr_infos(count: int) -> dict[str, str]:
    return {f"AcrRegistryInfo.{n}.InstanceId": f"cri-instance{n:04d}" for n in range(1, count + 1)}


def _args(count: int) -> dict[str, str]:
    return {f"Container.1.Arg.{n}": f"arg{n}" for n in range(1, count + 1)}


def _containers(count: int) -> dict[str, str]:
    params: dict[str, str] = {}
    for n in range(1, count + 1):
        params.update(container_params(n, f"c{n}", "nginx:1.25"))
    return params


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (_acr_infos(11), "AcrRegistryInfo.N takes at most 10"),
        (
            {**BASE, **container_params(1, "main", "nginx", LONG="v" * 257)},
            "Container.1.EnvironmentVar.1.Value",
        ),
        (_args(11), "Container.1.Arg.N takes at most 10"),
        (
            {"InitContainer.1.Name": "init", "InitContainer.1.Image": "busybox"}
            | {f"InitContainer.1.Arg.{n}": "x" for n in range(1, 12)},
            "InitContainer.1.Arg.N takes at most 10",
        ),
        (_containers(21), "Container.N takes at most 20"),
    ],
    ids=["acr-registry-infos", "env-value", "args", "init-args", "containers"],
)
def test_list_and_length_limits_are_refused_by_name(
    call: Call, eci_emulator: EmulatorFixture, params: dict[str, str], fragment: str
) -> None:
    refused_by_name(call, CreateContainerGroupRequest, fragment, **{**BASE, **params})
    assert eci_emulator.backend.group_count() == 0


def test_the_limits_themselves_are_accepted(call: Call) -> None:
    params = {
        **_containers(20),
        **container_params(1, "c1", "nginx", LONG="v" * 256),
        **_args(10),
        **_acr_infos(10),
    }
    answer = call(CreateContainerGroupRequest, ContainerGroupName="web", **params)
    assert answer["ContainerGroupId"].startswith("eci-")


@pytest.mark.parametrize(
    ("update_type", "params", "fragment"),
    [
        ("RenewUpdate", _acr_infos(11), "AcrRegistryInfo.N takes at most 10"),
        ("IncrementalUpdate", _acr_infos(6), "AcrRegistryInfo.N takes at most 10 entries; got 12"),
        ("RenewUpdate", {**container_params(1, "main", "nginx", K="v" * 257)}, "EnvironmentVar.1.Value"),
        ("RenewUpdate", {**container_params(1, "main", "nginx"), **_args(11)}, "Container.1.Arg.N"),
        ("RenewUpdate", _containers(21), "Container.N takes at most 20"),
        ("IncrementalUpdate", _containers(20), "Container.N takes at most 20 containers; got 21"),
    ],
)
def test_update_limits_are_refused_by_name(
    call: Call,
    create: Callable[..., str],
    eci_emulator: EmulatorFixture,
    update_type: str,
    params: dict[str, str],
    fragment: str,
) -> None:
    group_id = create(**_acr_infos(6))
    eci_emulator.advance_clock(1)
    error = refused(
        call, UpdateContainerGroupRequest, ContainerGroupId=group_id, UpdateType=update_type, **params
    )
    assert error.get_error_code() == "InvalidParameter", error.get_error_msg()
    assert fragment in error.get_error_msg()
