"""Fixtures for the emulator's tests: the emulator, a real SDK client pointed at it, and shortcuts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest

from eci_emulator.pytest_plugin import EmulatorFixture, eci_emulator  # noqa: F401
from eci_emulator.testing import REGION_ID, Call, container_params, prepare


@pytest.fixture
def client(eci_emulator: EmulatorFixture) -> AcsClient:  # noqa: F811
    return AcsClient(eci_emulator.access_key_id, eci_emulator.access_key_secret, REGION_ID)


@pytest.fixture
def call(eci_emulator: EmulatorFixture, client: AcsClient) -> Call:  # noqa: F811
    """call(RequestClass, **wire_parameters) -> parsed JSON answer (raises the SDK's exceptions)."""

    def _call(request_class: type[RpcRequest], **params: Any) -> dict[str, Any]:
        request = prepare(request_class(), eci_emulator, params)
        answer: dict[str, Any] = json.loads(client.do_action_with_exception(request))
        return answer

    return _call


def refused(call: Call, request_class: type[RpcRequest], **params: Any) -> ServerException:
    """The error ECI answers to call(request_class, **params) (the call must fail)."""
    with pytest.raises(ServerException) as raised:
        call(request_class, **params)
    return raised.value


def refused_by_name(
    call: Call, request_class: type[RpcRequest], fragment: str, code: str = "InvalidParameter", **params: Any
) -> ServerException:
    """refused(...), with ECI's error code `code` and a message that holds `fragment` (the parameter's name)."""
    error = refused(call, request_class, **params)
    assert error.get_error_code() == code, error.get_error_msg()
    assert fragment in error.get_error_msg()
    return error


@pytest.fixture
def create(call: Call) -> Callable[..., str]:
    """create(name="web", image="nginx:1.25", **more_wire_parameters) -> ContainerGroupId."""

    def _create(name: str = "web", image: str = "nginx:1.25", **params: Any) -> str:
        wire = {"ContainerGroupName": name, **container_params(1, "main", image), **params}
        return str(call(CreateContainerGroupRequest, **wire)["ContainerGroupId"])

    return _create


@pytest.fixture
def describe(call: Call) -> Callable[[str], dict[str, Any]]:
    """describe(group_id) -> the group as DescribeContainerGroups answers it (exactly one)."""

    def _describe(group_id: str) -> dict[str, Any]:
        answer = call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id]))
        assert answer["TotalCount"] == 1, answer
        group: dict[str, Any] = answer["ContainerGroups"][0]
        return group

    return _describe
