"""ClientToken: a replay returns the first result; other parameters get IdempotentParameterMismatch."""

from __future__ import annotations

import json

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DeleteContainerGroupRequest import DeleteContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest
from aliyunsdkeci.request.v20180808.RestartContainerGroupRequest import RestartContainerGroupRequest

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


def test_a_restart_replay_restarts_once(call: Call, eci_emulator: EmulatorFixture) -> None:
    """What the operator's exactly-once restart rests on (RestartContainerGroup's reference: only Pending
    or Running groups restart, passing through Restarting; ClientToken makes the call idempotent)."""
    group_id = call(CreateContainerGroupRequest, **PARAMS)["ContainerGroupId"]
    pending_id = call(CreateContainerGroupRequest, **{**PARAMS, "ClientToken": "token-2"})["ContainerGroupId"]
    with pytest.raises(ServerException) as raised:  # Scheduling: not restartable yet
        call(RestartContainerGroupRequest, ContainerGroupId=group_id, ClientToken="restart-0")
    assert raised.value.get_error_code() == "IncorrectStatus"
    eci_emulator.advance_clock(0.35)
    assert status_of(call, pending_id) == "Pending"
    call(RestartContainerGroupRequest, ContainerGroupId=pending_id)
    assert status_of(call, pending_id) == "Restarting"
    eci_emulator.advance_clock(2)
    assert status_of(call, group_id) == "Running"
    call(RestartContainerGroupRequest, ContainerGroupId=group_id, ClientToken="restart-1")
    assert status_of(call, group_id) == "Restarting"
    # Sent again while Restarting (a crash before the answer was recorded): answered, not refused.
    call(RestartContainerGroupRequest, ContainerGroupId=group_id, ClientToken="restart-1")
    with pytest.raises(ServerException) as raised:  # another token: a new restart, refused while Restarting
        call(RestartContainerGroupRequest, ContainerGroupId=group_id, ClientToken="restart-2")
    assert raised.value.get_error_code() == "IncorrectStatus"
    eci_emulator.advance_clock(2)
    # Sent again once Running: the first answer again, no second restart.
    call(RestartContainerGroupRequest, ContainerGroupId=group_id, ClientToken="restart-1")
    eci_emulator.advance_clock(2)
    (group,) = call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id]))[
        "ContainerGroups"
    ]
    assert group["Status"] == "Running"
    assert group["Containers"][0]["RestartCount"] == 1


def status_of(call: Call, group_id: str) -> str:
    (group,) = call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id]))[
        "ContainerGroups"
    ]
    return str(group["Status"])
