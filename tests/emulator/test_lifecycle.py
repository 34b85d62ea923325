"""Round trips and lifecycles: Scheduling -> Pending -> Running, exits, restart policies, retention."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkeci.request.v20180808.DeleteContainerGroupRequest import DeleteContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupEventsRequest import (
    DescribeContainerGroupEventsRequest,
)
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupStatusRequest import (
    DescribeContainerGroupStatusRequest,
)
from aliyunsdkeci.request.v20180808.RestartContainerGroupRequest import RestartContainerGroupRequest
from aliyunsdkeci.request.v20180808.UpdateContainerGroupRequest import UpdateContainerGroupRequest

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call, container_params


def _knobs(run_seconds: float, exit_code: int) -> dict[str, str]:
    return container_params(
        1, "main", "busybox", ECI_EMULATOR_RUN_SECONDS=str(run_seconds), ECI_EMULATOR_EXIT_CODE=str(exit_code)
    )


def test_create_describe_update_delete_round_trip(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(
        name="round-trip",
        SecurityGroupId="sg-1",
        VSwitchId="vsw-1,vsw-2",
        Cpu="1",
        Memory="2",
        RestartPolicy="OnFailure",
        **{
            "Tag.1.Key": "team",
            "Tag.1.Value": "a",
            "Container.1.Port.1.Port": "80",
            "Container.1.Port.1.Protocol": "TCP",
            "Container.1.Command.1": "nginx",
            "Container.1.Arg.1": "-g",
        },
    )
    assert len(group_id) == 24 and group_id.startswith("eci-") and group_id[4:].isalnum()
    group = describe(group_id)
    assert group["Status"] == "Scheduling"
    assert group["IntranetIp"] == ""
    eci_emulator.advance_clock(0.35)
    assert describe(group_id)["Status"] == "Pending"
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["IntranetIp"].startswith("192.168.")
    assert (group["ContainerGroupName"], group["Cpu"], group["Memory"]) == ("round-trip", 1.0, 2.0)
    # The vSwitch the group was placed in (VSwitchOrdered, the default: the first with stock).
    assert (group["SecurityGroupId"], group["VSwitchId"], group["RestartPolicy"]) == (
        "sg-1",
        "vsw-1",
        "OnFailure",
    )
    assert group["Tags"] == [{"Key": "team", "Value": "a"}]
    container = group["Containers"][0]
    assert container["Ports"] == [{"Port": 80, "Protocol": "TCP"}]
    assert (container["Commands"], container["Args"]) == (["nginx"], ["-g"])
    assert container["CurrentState"]["State"] == "Running" and container["Ready"] is True
    reasons = [event["Reason"] for event in group["Events"]]
    assert reasons[:1] == ["Scheduled"] and {"Pulling", "Pulled", "Created", "Started"} <= set(reasons)

    call(
        UpdateContainerGroupRequest,
        ContainerGroupId=group_id,
        **container_params(1, "main", "nginx:1.26"),
        **{"Tag.1.Key": "team", "Tag.1.Value": "b"},
    )
    group = describe(group_id)
    assert group["Status"] == "Updating"
    assert group["Containers"][0]["Image"] == "nginx:1.26"
    eci_emulator.advance_clock(0.35)
    assert describe(group_id)["Status"] == "Pending"
    eci_emulator.advance_clock(0.5)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["Tags"] == [{"Key": "team", "Value": "b"}]
    container = group["Containers"][0]
    assert container["RestartCount"] == 1
    assert container["PreviousState"]["State"] == "Terminated"
    assert any(event["Reason"] == "Killing" for event in group["Events"])

    call(DeleteContainerGroupRequest, ContainerGroupId=group_id)
    assert call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id]))["TotalCount"] == 0
    with pytest.raises(ServerException) as raised:
        call(DeleteContainerGroupRequest, ContainerGroupId=group_id)
    assert (raised.value.get_http_status(), raised.value.get_error_code()) == (
        404,
        "InvalidContainerGroupId.NotFound",
    )


def test_incremental_update_merges_containers_and_tags(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(**container_params(2, "side", "busybox"), **{"Tag.1.Key": "a", "Tag.1.Value": "1"})
    eci_emulator.advance_clock(1)
    call(
        UpdateContainerGroupRequest,
        ContainerGroupId=group_id,
        UpdateType="IncrementalUpdate",
        **{
            "Container.1.Name": "side",
            "Container.1.Image": "busybox:2",
            "Tag.1.Key": "b",
            "Tag.1.Value": "2",
        },
    )
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert [(c["Name"], c["Image"], c["RestartCount"]) for c in group["Containers"]] == [
        ("main", "nginx:1.25", 0),
        ("side", "busybox:2", 1),
    ]
    assert group["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]


def test_missing_groups_and_wrong_regions(call: Call, create: Callable[..., str]) -> None:
    for request_class in (
        UpdateContainerGroupRequest,
        RestartContainerGroupRequest,
        DeleteContainerGroupRequest,
    ):
        with pytest.raises(ServerException) as raised:
            call(request_class, ContainerGroupId="eci-doesnotexist000000")
        assert raised.value.get_error_code() == "InvalidContainerGroupId.NotFound"
    group_id = create()
    with pytest.raises(ServerException):
        call(DeleteContainerGroupRequest, ContainerGroupId=group_id, RegionId="cn-hangzhou")
    assert call(DescribeContainerGroupsRequest, RegionId="cn-hangzhou")["TotalCount"] == 0


def test_always_restarts_with_restart_count(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(RestartPolicy="Always", **_knobs(1, 0))
    eci_emulator.advance_clock(0.7)
    assert describe(group_id)["Containers"][0]["RestartCount"] == 0
    eci_emulator.advance_clock(1.2)  # ran 1 s, now in back-off
    container = describe(group_id)["Containers"][0]
    assert container["CurrentState"]["Reason"] == "CrashLoopBackOff"
    assert container["PreviousState"]["ExitCode"] == 0
    eci_emulator.advance_clock(1.5 * 10)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["Containers"][0]["RestartCount"] >= 10
    assert any(event["Reason"] == "BackOff" for event in group["Events"])


@pytest.mark.parametrize(
    ("policy", "exit_code", "final_status"),
    [("OnFailure", 0, "Succeeded"), ("Never", 0, "Succeeded"), ("Never", 1, "Failed")],
)
def test_terminal_states(
    call: Call,
    eci_emulator: EmulatorFixture,
    policy: str,
    exit_code: int,
    final_status: str,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(RestartPolicy=policy, **_knobs(1, exit_code))
    eci_emulator.advance_clock(1)
    assert describe(group_id)["Status"] == "Running"
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert group["Status"] == final_status
    state = group["Containers"][0]["CurrentState"]
    assert (state["State"], state["ExitCode"]) == ("Terminated", exit_code)
    assert state["Reason"] == ("Completed" if exit_code == 0 else "Error")
    time_field = "SucceededTime" if final_status == "Succeeded" else "FailedTime"
    assert group[time_field] != ""
    with pytest.raises(ServerException) as raised:
        call(UpdateContainerGroupRequest, ContainerGroupId=group_id, RestartPolicy="Always")
    assert raised.value.get_error_code() == "IncorrectStatus"
    with pytest.raises(ServerException) as raised:
        call(RestartContainerGroupRequest, ContainerGroupId=group_id)
    assert raised.value.get_error_code() == "IncorrectStatus"


def test_on_failure_restarts_a_failing_container(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(RestartPolicy="OnFailure", **_knobs(1, 1))
    eci_emulator.advance_clock(0.6 + 1.5 * 4 + 0.2)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["Containers"][0]["RestartCount"] == 4
    assert group["Containers"][0]["PreviousState"]["ExitCode"] == 1


def test_terminal_groups_vanish_after_retention(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(RestartPolicy="Never", **_knobs(0.1, 0))
    eci_emulator.advance_clock(2)
    assert describe(group_id)["Status"] == "Succeeded"
    eci_emulator.advance_clock(3500)
    assert describe(group_id)["Status"] == "Succeeded"
    eci_emulator.advance_clock(200)
    assert call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id]))["TotalCount"] == 0
    assert eci_emulator.backend.group_count() == 0


def test_init_containers_run_before_containers(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(
        **{
            "InitContainer.1.Name": "init",
            "InitContainer.1.Image": "busybox",
            "InitContainer.1.EnvironmentVar.1.Key": "ECI_EMULATOR_RUN_SECONDS",
            "InitContainer.1.EnvironmentVar.1.Value": "2",
        },
    )
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert group["Status"] == "Pending"
    assert group["InitContainers"][0]["CurrentState"]["State"] == "Running"
    assert group["Containers"][0]["CurrentState"]["Reason"] == "PodInitializing"
    eci_emulator.advance_clock(2)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["InitContainers"][0]["CurrentState"]["Reason"] == "Completed"


def test_a_failing_init_container_fails_a_never_group(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(
        RestartPolicy="Never",
        **{
            "InitContainer.1.Name": "init",
            "InitContainer.1.Image": "busybox",
            "InitContainer.1.EnvironmentVar.1.Key": "ECI_EMULATOR_EXIT_CODE",
            "InitContainer.1.EnvironmentVar.1.Value": "3",
        },
    )
    eci_emulator.advance_clock(2)
    group = describe(group_id)
    assert group["Status"] == "Failed"
    assert group["InitContainers"][0]["CurrentState"]["ExitCode"] == 3


def test_restart_passes_through_restarting(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    call(RestartContainerGroupRequest, ContainerGroupId=group_id)
    assert describe(group_id)["Status"] == "Restarting"
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["Containers"][0]["RestartCount"] == 1


def test_describe_status_and_since_second(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    data = call(DescribeContainerGroupStatusRequest, ContainerGroupIds=json.dumps([group_id]))["Data"]
    pod = data[0]["PodStatus"]
    assert data[0]["Status"] == "Running" and pod["Phase"] == "Running"
    assert {condition["Type"] for condition in pod["Conditions"]} >= {"PodScheduled", "Ready"}
    assert pod["ContainerStatuses"][0]["State"]["Running"]["StartedAt"]
    assert len(call(DescribeContainerGroupStatusRequest, SinceSecond=60)["Data"]) == 1
    eci_emulator.advance_clock(120)
    assert call(DescribeContainerGroupStatusRequest, SinceSecond=60)["Data"] == []


def test_since_second_counts_a_new_event_as_an_update(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    """The reference says SinceSecond returns the instances "updated" in that time; a new event (here
    the advance SpotToBeReleased warning, with no status change) is an update too."""
    group_id = create(SpotStrategy="SpotAsPriceGo", SpotDuration="0")
    eci_emulator.advance_clock(120)
    assert call(DescribeContainerGroupStatusRequest, SinceSecond=60)["Data"] == []
    eci_emulator.reclaim_spot(group_id, after_seconds=180)
    (data,) = call(DescribeContainerGroupStatusRequest, SinceSecond=60)["Data"]
    assert (data["ContainerGroupId"], data["Status"]) == (group_id, "Running")


def test_describe_events(call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    data = call(DescribeContainerGroupEventsRequest, ContainerGroupIds=json.dumps([group_id]))["Data"]
    assert data[0]["ContainerGroupId"] == group_id
    assert {"Scheduled", "Started"} <= {event["Reason"] for event in data[0]["Events"]}
    eci_emulator.advance_clock(600)
    data = call(
        DescribeContainerGroupEventsRequest, ContainerGroupIds=json.dumps([group_id]), SinceSecond=60
    )["Data"]
    assert data[0]["Events"] == []


def test_spot_reclaim_expires_the_group(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(SpotStrategy="SpotAsPriceGo")
    eci_emulator.advance_clock(1)
    assert eci_emulator.backend.expire_group(group_id)
    group = describe(group_id)
    assert group["Status"] == "Expired" and group["ExpiredTime"]
    assert any(event["Reason"] == "SpotToBeReleased" for event in group["Events"])


def test_an_updating_group_cannot_be_updated_again(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    call(UpdateContainerGroupRequest, ContainerGroupId=group_id, RestartPolicy="Never")
    with pytest.raises(ServerException) as raised:
        call(UpdateContainerGroupRequest, ContainerGroupId=group_id, RestartPolicy="Always")
    assert raised.value.get_error_code() == "IncorrectStatus"
    assert "Updating" in raised.value.get_error_msg()


def test_renew_update_replaces_the_container_list(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(**container_params(2, "side", "busybox"))
    eci_emulator.advance_clock(1)
    call(
        UpdateContainerGroupRequest,
        ContainerGroupId=group_id,
        UpdateType="RenewUpdate",
        **container_params(1, "only", "nginx:1.27"),
    )
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert [(c["Name"], c["Image"], c["RestartCount"]) for c in group["Containers"]] == [
        ("only", "nginx:1.27", 0)
    ]
    assert group["Status"] == "Running"


def test_concurrent_clients_get_no_errors(call: Call, eci_emulator: EmulatorFixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest

    eci_emulator.rate_limiter.enabled = False
    eci_emulator.timings.update({"scheduling_seconds": 0})

    def work(index: int) -> str:
        group_id = call(
            CreateContainerGroupRequest,
            ContainerGroupName=f"c-{index}",
            **container_params(1, "main", "nginx"),
        )["ContainerGroupId"]
        call(UpdateContainerGroupRequest, ContainerGroupId=group_id, RestartPolicy="Never")
        assert (
            call(DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id]))["TotalCount"] == 1
        )
        call(DescribeContainerGroupsRequest, Limit=20)
        return str(group_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(work, range(40)))
    assert len(set(ids)) == 40
    assert all(entry["http_status"] == 200 for entry in eci_emulator.requests())


def test_an_update_moves_the_group_to_another_resource_group(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(ResourceGroupId="rg-a")
    eci_emulator.advance_clock(1)
    call(UpdateContainerGroupRequest, ContainerGroupId=group_id, ResourceGroupId="rg-b")
    assert describe(group_id)["ResourceGroupId"] == "rg-b"
