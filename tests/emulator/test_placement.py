"""Placement and create-only settings: strict parameters, EIPs, stock per instance type and zone, vSwitch
order, spot reclaim, the active deadline, GPUs and image caches; the real SDK over HTTP, time by the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DeleteContainerGroupRequest import DeleteContainerGroupRequest
from aliyunsdkeci.request.v20180808.UpdateContainerGroupRequest import UpdateContainerGroupRequest

from eci_emulator.admin import AdminError
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call, container_params

from .conftest import refused, refused_by_name

BASE = {"ContainerGroupName": "web", **container_params(1, "main", "nginx:1.25")}
Describe = Callable[[str], dict[str, Any]]


def _reasons(group: dict[str, Any]) -> list[str]:
    return [event["Reason"] for event in group["Events"]]


def _event(group: dict[str, Any], reason: str) -> dict[str, Any]:
    return next(event for event in group["Events"] if event["Reason"] == reason)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"AutoCreateEip": "true", "EipInstanceId": "eip-1"}, "AutoCreateEip and EipInstanceId"),
        ({"EipInstanceId": "lb-1"}, "EipInstanceId"),
        ({"AutoCreateEip": "true", "EipBandwidth": "0"}, "EipBandwidth"),
        ({"AutoCreateEip": "true", "EipBandwidth": "201"}, "EipBandwidth"),
        ({"AutoCreateEip": "true", "EipBandwidth": "5.5"}, "EipBandwidth"),
        ({"AutoCreateEip": "true", "EipISP": "CMCC"}, "EipISP"),
        ({"EipBandwidth": "5"}, "EipBandwidth"),
        ({"AutoCreateEip": "true", "EipCommonBandwidthPackage": "pkg-1"}, "EipCommonBandwidthPackage"),
        ({"DnsPolicy": "ClusterFirst"}, "DnsPolicy"),
        ({"DnsPolicy": "None"}, "DnsConfig.NameServer"),
        ({"DnsConfig.NameServer.1": "dns.example.com"}, "DnsConfig.NameServer.1"),
        ({"HostAliase.1.Ip": "10.0.0.300", "HostAliase.1.Hostname.1": "a"}, "HostAliase.1.Ip"),
        ({"HostAliases.1.Ip": "10.0.0.3"}, "HostAliases.1.Ip"),
        ({"HostName": "Web_1"}, "HostName"),
        ({"InstanceType": "c6.large"}, "InstanceType"),
        ({"InstanceType": "ecs.c6.large,ecs.c6.large"}, "twice"),
        ({"InstanceType": ",".join(f"ecs.c6.{n}xlarge" for n in range(2, 8))}, "at most 5"),
        ({"ComputeCategory.1": "premium"}, "ComputeCategory.1"),
        ({"CpuArchitecture": "X86"}, "CpuArchitecture"),
        ({"ScheduleStrategy": "Ordered"}, "ScheduleStrategy"),
        ({"SpotStrategy": "SpotAsPriceGo", "SpotPriceLimit": "0.5"}, "SpotPriceLimit"),
        ({"SpotPriceLimit": "0.5"}, "SpotPriceLimit"),
        ({"SpotStrategy": "SpotAsPriceGo", "SpotDuration": "2"}, "SpotDuration"),
        ({"SpotDuration": "1"}, "SpotDuration"),
        ({"GpuDriverVersion": "tesla=418"}, "GpuDriverVersion"),
        ({"AutoMatchImageCache": "yes"}, "AutoMatchImageCache"),
        ({"ImageSnapshotId": "snap-1"}, "ImageSnapshotId"),
        ({"ActiveDeadlineSeconds": "0"}, "ActiveDeadlineSeconds"),
        ({"Container.1.Gpu": "1", "InstanceType": "ecs.c6.large"}, "InstanceType"),
        ({"Container.1.Gpu": "1", "InstanceType": "ecs.gn6i-c4g1.xlarge,ecs.c6.large"}, "Gpu"),
    ],
)
def test_create_only_settings_are_checked(call: Call, params: dict[str, str], fragment: str) -> None:
    refused_by_name(call, CreateContainerGroupRequest, fragment, **BASE, **params)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"SpotStrategy": "SpotWithPriceLimit"}, "SpotPriceLimit"),
        ({"DnsConfig.Option.1.Value": "2"}, "DnsConfig.Option.1.Name"),
        ({"HostAliase.1.Ip": "10.0.0.3"}, "HostAliase.1.Hostname.1"),
    ],
)
def test_missing_settings(call: Call, params: dict[str, str], fragment: str) -> None:
    refused_by_name(call, CreateContainerGroupRequest, fragment, "MissingParameter", **BASE, **params)


def test_compute_category_conflicts(call: Call) -> None:
    for extra in ({"SpotStrategy": "SpotAsPriceGo"}, {"CpuArchitecture": "ARM64"}):
        error = refused(
            call, CreateContainerGroupRequest, **BASE, **{"ComputeCategory.1": "economy"}, **extra
        )
        assert error.get_error_code() == "FeatureBasedConstraintConflict"


def test_valid_settings_are_taken_and_shown(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    group_id = create(
        DnsPolicy="None",
        HostName="web-1",
        RamRoleName="app-role",
        ResourceGroupId="rg-1",
        CpuArchitecture="AMD64",
        GpuDriverVersion="tesla=525.85.12",
        **{
            "DnsConfig.NameServer.1": "10.0.0.10",
            "DnsConfig.Search.1": "svc.local",
            "DnsConfig.Option.1.Name": "ndots",
            "DnsConfig.Option.1.Value": "2",
            "HostAliase.1.Ip": "10.0.0.3",
            "HostAliase.1.Hostname.1": "db",
            "HostAliase.1.Hostname.2": "db.local",
            "NtpServer.1": "ntp.cloud.aliyuncs.com",
            "ComputeCategory.1": "economy",
        },
    )
    group = describe(group_id)
    assert group["DnsPolicy"] == "None" and group["DnsConfig"]["NameServers"] == ["10.0.0.10"]
    assert group["HostAliases"] == [{"Ip": "10.0.0.3", "Hostnames": ["db", "db.local"]}]
    assert (group["ComputeCategory"], group["RamRoleName"], group["ResourceGroupId"]) == (
        "economy",
        "app-role",
        "rg-1",
    )
    settings = eci_emulator.admin.group_spec(group_id)
    assert settings is not None
    held = settings["Settings"]
    assert (held["host_name"], held["ntp_servers"], held["gpu_driver_version"]) == (
        "web-1",
        ["ntp.cloud.aliyuncs.com"],
        "tesla=525.85.12",
    )


@pytest.mark.parametrize(
    "params",
    [
        {"AutoCreateEip": "true"},
        {"EipInstanceId": "eip-1"},
        {"SpotStrategy": "SpotAsPriceGo"},
        {"InstanceType": "ecs.c6.large"},
        {"HostAliase.1.Ip": "10.0.0.3", "HostAliase.1.Hostname.1": "db"},
        {"NtpServer.1": "ntp.cloud.aliyuncs.com"},
        {"DnsPolicy": "Default"},
        {"ImageSnapshotId": "imc-1"},
        {"AutoMatchImageCache": "true"},
        {"ActiveDeadlineSeconds": "60"},
        {"RamRoleName": "role"},
        {"GpuDriverVersion": "tesla=470.82.01"},
        {"ComputeCategory.1": "economy"},
        {"CpuArchitecture": "ARM64"},
        {"ScheduleStrategy": "VSwitchRandom"},
        {"HostName": "web"},
    ],
)
def test_update_refuses_create_only_settings(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], params: dict[str, str]
) -> None:
    group_id = create()
    eci_emulator.advance_clock(2)
    refused_by_name(
        call,
        UpdateContainerGroupRequest,
        "cannot be changed by UpdateContainerGroup",
        ContainerGroupId=group_id,
        **params,
    )


def test_gpu_needs_a_gpu_instance_type(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    gpu = {"Container.1.Gpu": "1"}
    assert describe(create(name="chosen", **gpu))["InstanceType"] == ""
    group_id = create(name="gpu", InstanceType="ecs.gn6i-c4g1.xlarge", **gpu)
    assert describe(group_id)["InstanceType"] == "ecs.gn6i-c4g1.xlarge"
    plain_id = create(name="plain", InstanceType="ecs.c6.large")
    eci_emulator.advance_clock(2)
    main = container_params(1, "main", "nginx:1.25")
    refused_by_name(
        call, UpdateContainerGroupRequest, "InstanceType", ContainerGroupId=plain_id, **main, **gpu
    )
    call(UpdateContainerGroupRequest, ContainerGroupId=group_id, **main, **{"Container.1.Gpu": "2"})


def test_an_eip_gives_an_internet_ip_and_an_auto_created_one_is_released_with_the_group(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    auto_id = create(name="auto", AutoCreateEip="true", EipBandwidth="10", EipISP="BGP_PRO")
    bound_id = create(name="bound", EipInstanceId="eip-existing1")
    none_id = create(name="none")
    eci_emulator.advance_clock(2)
    auto, bound = describe(auto_id), describe(bound_id)
    assert auto["InternetIp"] and bound["InternetIp"] and auto["InternetIp"] != bound["InternetIp"]
    assert describe(none_id)["InternetIp"] == ""
    eips = {eip["ContainerGroupId"]: eip for eip in admin.eips()}
    assert set(eips) == {auto_id, bound_id}
    assert eips[auto_id]["AutoCreated"] is True and eips[auto_id]["IpAddress"] == auto["InternetIp"]
    assert (eips[auto_id]["Bandwidth"], eips[auto_id]["ISP"], eips[auto_id]["Status"]) == (
        10,
        "BGP_PRO",
        "InUse",
    )
    assert (eips[bound_id]["AllocationId"], eips[bound_id]["AutoCreated"]) == ("eip-existing1", False)
    call(DeleteContainerGroupRequest, ContainerGroupId=auto_id)
    call(DeleteContainerGroupRequest, ContainerGroupId=bound_id)
    statuses = {eip["ContainerGroupId"]: eip["Status"] for eip in admin.eips()}
    assert statuses == {auto_id: "Released", bound_id: "Available"}


def test_an_auto_created_eip_is_released_when_the_group_ends(
    eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create(AutoCreateEip="true", RestartPolicy="Never", ActiveDeadlineSeconds="10")
    eci_emulator.advance_clock(2)
    assert [eip["Status"] for eip in eci_emulator.admin.eips()] == ["InUse"]
    eci_emulator.advance_clock(10)
    assert [(eip["ContainerGroupId"], eip["Status"]) for eip in eci_emulator.admin.eips()] == [
        (group_id, "Released")
    ]


def test_the_first_instance_type_with_stock_is_chosen(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    types = "ecs.c6.large,ecs.g6.large"
    group = describe(create(name="first", InstanceType=types))
    assert (group["InstanceType"], group["ZoneId"]) == ("ecs.c6.large", "cn-beijing-a")
    admin.set_stock(instance_type="ecs.c6.large", zone_id="cn-beijing-a")
    assert describe(create(name="second", InstanceType=types))["InstanceType"] == "ecs.g6.large"
    # Elsewhere ecs.c6.large is in stock.
    assert describe(create(name="third", InstanceType=types, ZoneId="cn-beijing-b"))["InstanceType"] == (
        "ecs.c6.large"
    )
    admin.set_stock(instance_type="ecs.g6.large", zone_id=None)
    error = refused(call, CreateContainerGroupRequest, **BASE, InstanceType=types)
    assert (error.get_error_code(), error.get_http_status()) == ("OperationDenied.NoStock", 400)
    assert "out of stock" in error.get_error_msg()
    assert admin.stock()[0] == {
        "instance_type": "ecs.c6.large",
        "zone_id": "cn-beijing-a",
        "spot": None,
        "available": False,
    }
    admin.set_stock(instance_type="ecs.g6.large", zone_id="cn-beijing-a", available=True)
    assert describe(create(name="fourth", InstanceType=types))["InstanceType"] == "ecs.g6.large"
    admin.clear_stock()
    assert admin.stock() == []


def test_vswitches_are_tried_in_order_and_each_maps_to_a_zone(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    admin.set_vswitch_zone("vsw-a", "cn-beijing-a")
    admin.set_vswitch_zone("vsw-h", "cn-beijing-h")
    assert admin.vswitch_zones() == {"vsw-a": "cn-beijing-a", "vsw-h": "cn-beijing-h"}
    admin.set_stock(zone_id="cn-beijing-a")
    group_id = create(name="ordered", VSwitchId="vsw-a,vsw-h", ScheduleStrategy="VSwitchOrdered")
    eci_emulator.advance_clock(1)
    group = describe(group_id)
    assert (group["VSwitchId"], group["ZoneId"]) == ("vsw-h", "cn-beijing-h")
    assert _event(group, "Scheduled")["Message"] == f"Successfully assigned {group_id} to cn-beijing-h"
    # Without stock anywhere, every vSwitch was tried.
    admin.set_stock(zone_id="cn-beijing-h")
    error = refused(call, CreateContainerGroupRequest, **BASE, VSwitchId="vsw-a,vsw-h")
    assert error.get_error_code() == "OperationDenied.NoStock"
    # A vSwitch not in the table is in ZoneId (else <region>-a).
    group = describe(create(name="unknown", VSwitchId="vsw-x", ZoneId="cn-beijing-k"))
    assert (group["VSwitchId"], group["ZoneId"]) == ("vsw-x", "cn-beijing-k")


def test_vswitch_random_tries_them_in_random_order(
    eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    for letter in "abcd":
        admin.set_vswitch_zone(f"vsw-{letter}", f"cn-beijing-{letter}")
    chosen = {
        describe(
            create(name=f"r-{n}", VSwitchId="vsw-a,vsw-b,vsw-c,vsw-d", ScheduleStrategy="VSwitchRandom")
        )["VSwitchId"]
        for n in range(40)
    }
    assert len(chosen) > 1
    admin.set_stock(zone_id="cn-beijing-a")
    admin.set_stock(zone_id="cn-beijing-b")
    admin.set_stock(zone_id="cn-beijing-c")
    group = describe(
        create(name="left", VSwitchId="vsw-a,vsw-b,vsw-c,vsw-d", ScheduleStrategy="VSwitchRandom")
    )
    assert (group["VSwitchId"], group["ZoneId"]) == ("vsw-d", "cn-beijing-d")


def test_spot_stock_is_separate(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    eci_emulator.admin.set_stock(spot=True)
    error = refused(call, CreateContainerGroupRequest, **BASE, SpotStrategy="SpotAsPriceGo")
    assert error.get_error_code() == "OperationDenied.NoStock"
    error = refused(
        call, CreateContainerGroupRequest, **BASE, SpotStrategy="SpotWithPriceLimit", SpotPriceLimit="0.5"
    )
    assert error.get_error_code() == "OperationDenied.NoStock"
    assert describe(create())["SpotStrategy"] == "NoSpot"
    eci_emulator.admin.set_stock(spot=True, instance_type="ecs.c6.large", available=True)
    group = describe(
        create(name="spot", SpotStrategy="SpotAsPriceGo", InstanceType="ecs.g6.large,ecs.c6.large")
    )
    assert (group["SpotStrategy"], group["InstanceType"]) == ("SpotAsPriceGo", "ecs.c6.large")


def test_a_spot_group_is_warned_then_reclaimed_after_its_protection_hour(
    eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    group_id = create(SpotStrategy="SpotWithPriceLimit", SpotPriceLimit="0.25")
    eci_emulator.advance_clock(2)
    assert describe(group_id)["SpotPriceLimit"] == 0.25
    # SpotDuration defaults to 1: no reclaim within the first hour after creation.
    reclaim_at = admin.reclaim_spot(group_id, after_seconds=60)
    assert reclaim_at >= admin.clock()["now"] + 3500
    eci_emulator.advance_clock(3000)
    group = describe(group_id)
    assert group["Status"] == "Running" and "SpotToBeReleased" not in _reasons(group)
    eci_emulator.advance_clock(reclaim_at - admin.clock()["now"] - 100)
    group = describe(group_id)
    warning = _event(group, "SpotToBeReleased")
    assert (group["Status"], warning["Type"], warning["Message"]) == (
        "Running",
        "Warning",
        "Spot ECI will be released in 3 minutes.",
    )
    eci_emulator.advance_clock(101)
    group = describe(group_id)
    assert group["Status"] == "Expired" and group["ExpiredTime"]
    assert group["Containers"][0]["CurrentState"]["Reason"] == "Expired"


def test_spot_duration_zero_has_no_protection(
    eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    group_id = create(SpotStrategy="SpotAsPriceGo", SpotDuration="0")
    eci_emulator.advance_clock(2)
    reclaim_at = admin.reclaim_spot(group_id, after_seconds=600)
    assert reclaim_at == pytest.approx(admin.clock()["now"] + 600, abs=1)
    eci_emulator.advance_clock(420)
    group = describe(group_id)
    assert group["Status"] == "Running" and "SpotToBeReleased" in _reasons(group)
    eci_emulator.advance_clock(181)
    assert describe(group_id)["Status"] == "Expired"
    with pytest.raises(AdminError) as raised:
        admin.reclaim_spot(group_id)
    assert raised.value.status == 400


def test_only_spot_groups_are_reclaimed(eci_emulator: EmulatorFixture, create: Callable[..., str]) -> None:
    with pytest.raises(AdminError) as raised:
        eci_emulator.admin.reclaim_spot(create())
    assert raised.value.status == 400
    with pytest.raises(AdminError) as raised:
        eci_emulator.admin.reclaim_spot("eci-unknown")
    assert raised.value.status == 404


def test_the_active_deadline_fails_the_group(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    group_id = create(ActiveDeadlineSeconds="30")
    quick_id = create(
        name="quick",
        ActiveDeadlineSeconds="30",
        RestartPolicy="Never",
        **container_params(1, "main", "nginx:1.25", ECI_EMULATOR_RUN_SECONDS="5"),
    )
    eci_emulator.advance_clock(29)
    assert describe(group_id)["Status"] == "Running"
    eci_emulator.advance_clock(2)
    group = describe(group_id)
    assert (group["Status"], group["FailedTime"] != "") == ("Failed", True)
    event = _event(group, "DeadlineExceeded")
    assert (event["Type"], event["Message"]) == (
        "Warning",
        "Pod was active on the node longer than the specified deadline",
    )
    assert group["Containers"][0]["CurrentState"]["Reason"] == "DeadlineExceeded"
    # A group that ended before its deadline keeps its end.
    assert describe(quick_id)["Status"] == "Succeeded"
    error = refused(call, UpdateContainerGroupRequest, ContainerGroupId=group_id, Cpu="2")
    assert error.get_error_code() == "IncorrectStatus"


def test_image_caches(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Describe
) -> None:
    admin = eci_emulator.admin
    admin.add_image_cache("imc-web", ["nginx:1.25", "busybox:1"])
    assert admin.image_caches() == [{"snapshot_id": "imc-web", "images": ["nginx:1.25", "busybox:1"]}]
    hit = describe(create(name="hit", AutoMatchImageCache="true"))
    event = _event(hit, "SuccessfulHitImageCache")
    assert (event["Type"], event["Message"]) == ("Normal", "Successfully hit image cache imc-web.")
    missed = describe(create(name="missed", image="redis:7", AutoMatchImageCache="true"))
    assert _event(missed, "ImageCacheMissed")["Type"] == "Warning"
    assert "SuccessfulHitImageCache" not in _reasons(missed)
    named = describe(create(name="named", image="redis:7", ImageSnapshotId="imc-web"))
    assert _event(named, "SuccessfulHitImageCache")["Message"] == "Successfully hit image cache imc-web."
    assert "SuccessfulHitImageCache" not in _reasons(describe(create(name="plain")))
    error = refused(call, CreateContainerGroupRequest, **BASE, ImageSnapshotId="imc-unknown")
    assert (error.get_error_code(), error.get_error_msg()) == (
        "ImageCacheNotFound",
        "The specified image cache imc-unknown does not exist.",
    )


def test_reset_forgets_stock_zones_caches_and_eips(
    eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    admin = eci_emulator.admin
    admin.set_stock(zone_id="cn-beijing-z")
    admin.set_vswitch_zone("vsw-a", "cn-beijing-z")
    admin.add_image_cache("imc-1", ["nginx:1.25"])
    create(AutoCreateEip="true")
    admin.reset()
    assert (admin.stock(), admin.vswitch_zones(), admin.image_caches(), admin.eips()) == ([], {}, [], [])
