"""Flow control (Throttling.User) and injected faults: error codes, latency, dropped connections."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DeleteContainerGroupRequest import DeleteContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest

from eci_emulator.cli import _fault
from eci_emulator.faults import Fault
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.signature import API_VERSION, TIMESTAMP_FORMAT, sign, string_to_sign
from eci_emulator.testing import REGION_ID, Call, container_params


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


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_response_delay_delivers_the_state_from_when_the_request_arrived(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    admin = eci_emulator.admin
    group_id = create()
    admin.clear_requests()
    admin.set_fault("DescribeContainerGroups", response_delay_seconds=1.0, times=1)
    assert admin.faults()["DescribeContainerGroups"]["response_delay_seconds"] == 1.0
    ids = json.dumps([group_id])
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        late = pool.submit(call, DescribeContainerGroupsRequest, ContainerGroupIds=ids)
        # The answer is computed (and logged) before the delay: once logged, delete the group under it.
        _wait_for(lambda: bool(admin.requests("DescribeContainerGroups")))
        call(DeleteContainerGroupRequest, ContainerGroupId=group_id)
        assert admin.group(group_id) is None
        assert not late.done()
        answer = late.result(timeout=10)
    assert time.monotonic() - started >= 1.0
    # Delivered after the deletion, yet it shows the group as it was when the request arrived.
    assert [group["ContainerGroupId"] for group in answer["ContainerGroups"]] == [group_id]
    assert answer["TotalCount"] == 1
    # The fault was used up: a fresh Describe sees the deletion.
    assert call(DescribeContainerGroupsRequest, ContainerGroupIds=ids)["TotalCount"] == 0


def test_latency_answers_with_the_state_after_the_wait(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    admin = eci_emulator.admin
    group_id = create()
    admin.set_fault("DescribeContainerGroups", latency_seconds=1.0, times=1)
    ids = json.dumps([group_id])
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        late = pool.submit(call, DescribeContainerGroupsRequest, ContainerGroupIds=ids)
        # The fault removes itself when it is applied: from then on the request is waiting, not yet handled.
        _wait_for(lambda: admin.faults() == {})
        call(DeleteContainerGroupRequest, ContainerGroupId=group_id)
        assert not late.done()
        answer = late.result(timeout=10)
    assert time.monotonic() - started >= 1.0
    assert (answer["TotalCount"], answer["ContainerGroups"]) == (0, [])


def test_a_response_delay_from_the_command_line_and_its_bounds() -> None:
    action, fault = _fault("DescribeContainerGroups=response_delay_seconds=0.5,times=2")
    assert (action, fault.response_delay_seconds, fault.latency_seconds, fault.times) == (
        "DescribeContainerGroups",
        0.5,
        0.0,
        2,
    )
    with pytest.raises(ValueError, match="response_delay_seconds"):
        Fault(response_delay_seconds=-1)


def test_a_client_hang_up_is_one_log_line(
    eci_emulator: EmulatorFixture, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    eci_emulator.admin.set_fault("DescribeContainerGroups", latency_seconds=0.3)
    parameters = {
        "Action": "DescribeContainerGroups",
        "RegionId": REGION_ID,
        "Version": API_VERSION,
        "Format": "JSON",
        "AccessKeyId": eci_emulator.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": str(uuid.uuid4()),
        "Timestamp": time.strftime(TIMESTAMP_FORMAT, time.gmtime()),
    }
    parameters["Signature"] = sign(eci_emulator.access_key_secret, string_to_sign("GET", parameters))
    caplog.set_level(logging.INFO, logger="eci_emulator.server")
    with socket.create_connection((eci_emulator.host, eci_emulator.port)) as connection:
        query = urlencode(parameters)
        connection.sendall(f"GET /?{query} HTTP/1.1\r\nHost: {eci_emulator.endpoint}\r\n\r\n".encode())
        # Hang up with a reset while the emulator is still waiting out the latency.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("hung up" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    lines = [record.getMessage() for record in caplog.records if "hung up" in record.getMessage()]
    assert len(lines) == 1 and "DescribeContainerGroups" in lines[0], lines
    assert "Traceback" not in capsys.readouterr().err


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
