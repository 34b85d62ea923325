"""ClientToken: a replay returns the first result; other parameters get IdempotentParameterMismatch."""

from __future__ import annotations

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DeleteContainerGroupRequest import DeleteContainerGroupRequest

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call, container_params

PARAMS = {"ContainerGroupName": "idem", **container_params(1, "main", "nginx"), "ClientToken": "token-1"}


def test_a_replay_returns_the_same_group(call: Call, eci_emulator: EmulatorFixture) -> None:
    first = call(CreateContainerGroupRequest, **PARAMS)
    second = call(CreateContainerGroupRequest, **PARAMS)
    assert first["ContainerGroupId"] == second["ContainerGroupId"]
    assert first["RequestId"] != second["RequestId"]
    assert eci_emulator.backend.group_count() == 1


def test_the_same_token_with_other_parameters_is_a_mismatch(
    call: Call, eci_emulator: EmulatorFixture
) -> None:
    call(CreateContainerGroupRequest, **PARAMS)
    with pytest.raises(ServerException) as raised:
        call(CreateContainerGroupRequest, **{**PARAMS, "Container.1.Image": "nginx:2"})
    assert (raised.value.get_http_status(), raised.value.get_error_code()) == (
        400,
        "IdempotentParameterMismatch",
    )
    assert eci_emulator.backend.group_count() == 1


def test_a_delete_replay_succeeds(call: Call) -> None:
    group_id = call(CreateContainerGroupRequest, **PARAMS)["ContainerGroupId"]
    call(DeleteContainerGroupRequest, ContainerGroupId=group_id, ClientToken="delete-1")
    call(DeleteContainerGroupRequest, ContainerGroupId=group_id, ClientToken="delete-1")
    with pytest.raises(ServerException):
        call(DeleteContainerGroupRequest, ContainerGroupId=group_id, ClientToken="delete-2")
