"""The admin HTTP API, the request log, the CLI process and the bundled sample data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupStatusRequest import (
    DescribeContainerGroupStatusRequest,
)

from eci_emulator.admin import AdminClient, AdminError
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import REGION_ID, Call, prepare

REPOSITORY = Path(__file__).resolve().parents[2]


def test_groups_over_http(call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]) -> None:
    admin = AdminClient(eci_emulator.url)
    assert admin.health()["ok"] is True
    group_id = create()
    assert [group["ContainerGroupId"] for group in admin.groups()] == [group_id]
    group = admin.group(group_id)
    assert group is not None and group["Status"] == "Scheduling"
    assert admin.group("eci-unknown") is None


def test_advance_the_clock_over_http(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    admin = eci_emulator.admin
    group_id = create()
    assert admin.advance_clock(5) == pytest.approx(5)
    assert admin.clock()["offset"] == pytest.approx(5)
    assert describe(group_id)["Status"] == "Running"
    with pytest.raises(AdminError):
        admin.advance_clock(-1)


def test_drift_delete_and_expire(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    admin = eci_emulator.admin
    first, second = create(name="one"), create(name="two")
    admin.delete_group(first)
    assert call(DescribeContainerGroupsRequest)["TotalCount"] == 1
    admin.expire_group(second)
    assert describe(second)["Status"] == "Expired"
    with pytest.raises(AdminError) as raised:
        admin.expire_group(first)
    assert raised.value.status == 404


def test_a_hidden_group_is_left_out_of_describe_answers(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    admin = eci_emulator.admin
    group_id, other_id = create(name="one"), create(name="two")
    by_id = {"ContainerGroupIds": json.dumps([group_id])}
    admin.hide_group(group_id, times=2)
    for _ in range(2):
        answer = call(DescribeContainerGroupsRequest, **by_id)
        assert (answer["TotalCount"], answer["ContainerGroups"]) == (0, [])
        assert admin.group(group_id) is not None  # it goes on existing
    shown = call(DescribeContainerGroupsRequest, **by_id)
    assert [group["ContainerGroupId"] for group in shown["ContainerGroups"]] == [group_id]
    assert shown["TotalCount"] == 1
    # DescribeContainerGroupStatus too; an answer that lists only other groups spends nothing.
    admin.hide_group(group_id)
    others = call(DescribeContainerGroupStatusRequest, ContainerGroupIds=json.dumps([other_id]))
    assert [group["ContainerGroupId"] for group in others["Data"]] == [other_id]
    listed = call(DescribeContainerGroupStatusRequest)
    assert [group["ContainerGroupId"] for group in listed["Data"]] == [other_id]
    listed = call(DescribeContainerGroupStatusRequest)
    assert [group["ContainerGroupId"] for group in listed["Data"]] == [group_id, other_id]


def test_hiding_an_unknown_group_or_a_bad_count_is_refused(
    eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    admin = eci_emulator.admin
    with pytest.raises(AdminError) as raised:
        admin.hide_group("eci-unknown")
    assert raised.value.status == 404
    group_id = create()
    for times in (0, -1, 1.5, True, "2"):
        with pytest.raises(AdminError) as raised:
            admin.hide_group(group_id, times=times)  # type: ignore[arg-type]
        assert raised.value.status == 400


def test_the_request_log_redacts_secrets(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    admin = eci_emulator.admin
    create(
        **{
            "ImageRegistryCredential.1.Server": "registry.example.com",
            "ImageRegistryCredential.1.UserName": "bob",
            "ImageRegistryCredential.1.Password": "s3cr3t-Passw0rd",
        },
    )
    entry = admin.requests("CreateContainerGroup")[-1]
    assert entry["http_status"] == 200 and entry["error_code"] == ""
    assert entry["parameters"]["ImageRegistryCredential.1.Password"] == "******"
    assert entry["parameters"]["ImageRegistryCredential.1.UserName"] == "bob"
    wrong = AcsClient("nobody", "x", REGION_ID)
    with pytest.raises(ServerException):
        wrong.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), eci_emulator, {}))
    assert admin.requests()[-1]["error_code"] == "InvalidAccessKeyId.NotFound"
    admin.clear_requests()
    assert admin.requests() == []


def test_timings_faults_limits_and_reset_over_http(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    admin = eci_emulator.admin
    assert admin.set_timings(scheduling_seconds=5)["scheduling_seconds"] == 5
    group_id = create()
    eci_emulator.advance_clock(1)
    assert describe(group_id)["Status"] == "Scheduling"
    with pytest.raises(AdminError):
        admin.set_timings(warp_seconds=1)
    admin.set_fault("*", error_code="ServiceUnavailable")
    assert "*" in admin.faults()
    admin.clear_faults()
    admin.set_rate_limit("CreateContainerGroup", 5, 10)
    assert admin.rate_limits()["limits"]["CreateContainerGroup"] == {"rate": 5.0, "burst": 10.0}
    admin.remove_rate_limit("CreateContainerGroup")
    assert "CreateContainerGroup" not in admin.rate_limits()["limits"]
    admin.reset()
    assert admin.groups() == [] and admin.clock()["offset"] == 0


def test_access_keys_added_at_run_time(eci_emulator: EmulatorFixture) -> None:
    eci_emulator.admin.add_access_key("LTAI-second", "second-secret")
    client = AcsClient("LTAI-second", "second-secret", REGION_ID)
    answer = json.loads(
        client.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), eci_emulator, {}))
    )
    assert answer["TotalCount"] == 0


def test_the_bundled_sample_is_the_example_file() -> None:
    bundled = REPOSITORY / "emulator" / "eci_emulator" / "sample_acr_instances.yaml"
    example = REPOSITORY / "examples" / "emulator" / "acr-instances.yaml"
    assert bundled.read_text() == example.read_text()


def test_the_cli_serves_until_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "cli-key",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "cli-secret",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eci_emulator.cli",
            "--port",
            "0",
            "--acr-instances",
            str(REPOSITORY / "examples" / "emulator" / "acr-instances.yaml"),
            "--scheduling-seconds",
            "0",
            "--rate-limit",
            "DescribeContainerGroups=1/2",
            "--fault",
            "CreateContainerGroup=error_code=ServiceUnavailable,http_status=503,rate=0.25,latency_seconds=0.1",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        admin = AdminClient(url)
        assert admin.timings()["scheduling_seconds"] == 0
        assert admin.rate_limits()["limits"]["DescribeContainerGroups"] == {"rate": 1.0, "burst": 2.0}
        fault = admin.faults()["CreateContainerGroup"]
        assert (fault["error_code"], fault["http_status"], fault["rate"], fault["latency_seconds"]) == (
            "ServiceUnavailable",
            503,
            0.25,
            0.1,
        )
        assert {item["instanceId"] for item in admin.acr_instances()["acrInstances"]} == {
            "cri-nwj395hgf6f3abcd",
            "cri-j36zhodptmyqabcd",
        }
        client = AcsClient("cli-key", "cli-secret", REGION_ID)
        request = DescribeContainerGroupsRequest()
        request.set_endpoint(url.removeprefix("http://"))
        request.set_protocol_type("http")
        assert json.loads(client.do_action_with_exception(request))["TotalCount"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
