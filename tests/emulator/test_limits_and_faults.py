"""Flow control (Throttling.User) and injected faults: error codes, latency, dropped connections."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest

from eci_emulator.faults import Fault
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call, container_params


def test_a_burst_is_throttled(call: Call, eci_emulator: EmulatorFixture) -> None:
    eci_emulator.admin.set_rate_limit("DescribeContainerGroups", rate=1, burst=5)
    codes = []
    for _ in range(10):
        try:
            call(DescribeContainerGroupsRequest)
            codes.append("ok")
        except ServerException as error:
            codes.append(error.get_error_code())
            assert error.get_http_status() == 400
    assert codes[:5] == ["ok"] * 5
    assert codes[5:] == ["Throttling.User"] * 5


def test_the_default_create_bucket_holds_one_hundred(call: Call, eci_emulator: EmulatorFixture) -> None:
    params = {"ContainerGroupName": "burst", **container_params(1, "main", "nginx")}
    outcomes = []
    started = time.monotonic()
    for _ in range(130):
        try:
            call(CreateContainerGroupRequest, **params)
            outcomes.append("ok")
        except ServerException as error:
            outcomes.append(error.get_error_code())
    elapsed = time.monotonic() - started
    assert outcomes[:100] == ["ok"] * 100
    refilled = int(elapsed * 20) + 1  # the bucket refills 20 tokens per second while the loop runs
    assert outcomes.count("Throttling.User") >= 30 - refilled
    assert set(outcomes) <= {"ok", "Throttling.User"}


def test_rate_limiting_can_be_switched_off(call: Call, eci_emulator: EmulatorFixture) -> None:
    eci_emulator.admin.set_rate_limit("DescribeContainerGroups", rate=1, burst=1)
    eci_emulator.admin.set_rate_limiting(False)
    for _ in range(5):
        call(DescribeContainerGroupsRequest)


def test_an_injected_error_code(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    eci_emulator.admin.set_fault(
        "CreateContainerGroup", error_code="ServiceUnavailable", http_status=503, times=2
    )
    for _ in range(2):
        with pytest.raises(ServerException) as raised:
            create()
        assert (raised.value.get_http_status(), raised.value.get_error_code()) == (503, "ServiceUnavailable")
    assert create().startswith("eci-")
    assert eci_emulator.admin.faults() == {}


def test_a_partial_fault_rate(call: Call, eci_emulator: EmulatorFixture) -> None:
    eci_emulator.faults._random.seed(7)
    eci_emulator.set_fault(
        "DescribeContainerGroups", Fault(error_code="InternalError", http_status=500, rate=0.5)
    )
    outcomes = []
    for _ in range(40):
        try:
            call(DescribeContainerGroupsRequest)
            outcomes.append(True)
        except ServerException:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35


def test_a_dropped_connection_is_a_client_exception(call: Call, eci_emulator: EmulatorFixture) -> None:
    eci_emulator.admin.set_fault("DescribeContainerGroups", drop_rate=1.0)
    with pytest.raises(ClientException) as raised:
        call(DescribeContainerGroupsRequest)
    assert raised.value.get_error_code() == "SDK.HttpError"
    assert eci_emulator.admin.requests("DescribeContainerGroups")[-1]["error_code"] == "ConnectionDropped"


def test_added_latency(call: Call, eci_emulator: EmulatorFixture) -> None:
    eci_emulator.admin.set_fault("DescribeContainerGroups", latency_seconds=0.3)
    started = time.monotonic()
    call(DescribeContainerGroupsRequest)
    assert time.monotonic() - started >= 0.3


def test_a_schedule_failure(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    eci_emulator.admin.set_fault("CreateContainerGroup", schedule_failure_rate=1.0)
    group_id = create()
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert group["Status"] == "ScheduleFailed"
    assert group["Events"][0]["Reason"] == "FailedScheduling"
    eci_emulator.advance_clock(3700)
    assert describe(group_id)["Status"] == "ScheduleFailed"
    eci_emulator.advance_clock(86400)
    assert eci_emulator.backend.group_count() == 0
