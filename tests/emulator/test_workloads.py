"""Volumes, mounts, probes, lifecycle hooks, security context, FieldRef, sysctls, grace period, ephemeral
storage: strict checks, what UpdateContainerGroup may change, what the group holds (admin API), how probes
drive containers, and what a deletion records."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DeleteContainerGroupRequest import DeleteContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupStatusRequest import (
    DescribeContainerGroupStatusRequest,
)
from aliyunsdkeci.request.v20180808.UpdateContainerGroupRequest import UpdateContainerGroupRequest

from eci_emulator.admin import AdminClient
from eci_emulator.model import GroupSpec
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call, container_params, prepare
from tests.emulator.conftest import refused_by_name

BASE = {"ContainerGroupName": "web", **container_params(1, "main", "nginx:1.25")}
RUNNING = 0.6
"""Seconds from create until the containers run, with the default timings."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config_volume(index: int, name: str, files: dict[str, str], **more: str) -> dict[str, str]:
    """Volume.N of Type ConfigFileVolume with files path -> text (sent in Base64), plus more sub-parameters."""
    params = {f"Volume.{index}.Name": name, f"Volume.{index}.Type": "ConfigFileVolume"}
    for position, (path, text) in enumerate(files.items(), start=1):
        params[f"Volume.{index}.ConfigFileVolume.ConfigFileToPath.{position}.Path"] = path
        params[f"Volume.{index}.ConfigFileVolume.ConfigFileToPath.{position}.Content"] = b64(text)
    params.update({f"Volume.{index}.{key}": value for key, value in more.items()})
    return params


def volume(index: int, name: str, kind: str, **settings: str) -> dict[str, str]:
    return {
        f"Volume.{index}.Name": name,
        f"Volume.{index}.Type": kind,
        **{f"Volume.{index}.{kind}.{key}": value for key, value in settings.items()},
    }


def mount(container: int, index: int, name: str, path: str, **more: str) -> dict[str, str]:
    prefix = f"Container.{container}.VolumeMount.{index}"
    return {
        f"{prefix}.Name": name,
        f"{prefix}.MountPath": path,
        **{f"{prefix}.{key}": value for key, value in more.items()},
    }


def probe(kind: str, **settings: str) -> dict[str, str]:
    """Container.1.<kind>.<setting> (dots in a setting written as __)."""
    return {f"Container.1.{kind}.{key.replace('__', '.')}": value for key, value in settings.items()}


NFS = volume(1, "share", "NFSVolume", Server="0a1b2c.cn-beijing.nas.aliyuncs.com", Path="/share")
CONFIG = config_volume(1, "config", {"config.yaml": "port: 8080\n"})
CONFIG_MOUNTED = {**CONFIG, **mount(1, 1, "config", "/etc/app")}


@pytest.fixture
def post(eci_emulator: EmulatorFixture, client: AcsClient) -> Call:
    """Like `call`, with the parameters in a signed form body: a request line holds at most 64 KiB, less than
    60 KB of configuration files take in Base64."""

    def _post(request_class: type[RpcRequest], **params: Any) -> dict[str, Any]:
        request = prepare(request_class(), eci_emulator, {})
        request.set_method("POST")
        for name, value in params.items():
            request.add_body_params(name, value)
        answer: dict[str, Any] = json.loads(client.do_action_with_exception(request))
        return answer

    return _post


# ---- strict names, types and rules on create -----------------------------------------------------------

INVALID = [
    ("volume-type", volume(1, "v", "SecretVolume"), "Volume.1.Type must be one of"),
    ("volume-name", volume(1, "Data_1", "EmptyDirVolume"), "Volume.1.Name ('Data_1')"),
    (
        "duplicate-volume-name",
        {**NFS, **volume(2, "share", "EmptyDirVolume")},
        "'share' is given twice: Volume.1.Name and Volume.2.Name",
    ),
    (
        "sub-parameters-of-another-type",
        {**config_volume(1, "c", {"a": "x"}), "Volume.1.NFSVolume.Server": "nas.example.com"},
        "Volume.1.NFSVolume.Server does not apply to a volume of Type ConfigFileVolume (Volume.1.Type)",
    ),
    (
        "too-many-volumes",
        {key: value for n in range(1, 22) for key, value in volume(n, f"v{n}", "EmptyDirVolume").items()},
        "Volume.N takes at most 20 volumes; got 21",
    ),
    ("medium", volume(1, "v", "EmptyDirVolume", Medium="memory"), "Volume.1.EmptyDirVolume.Medium"),
    ("size-limit", volume(1, "v", "EmptyDirVolume", SizeLimit="lots"), "Volume.1.EmptyDirVolume.SizeLimit"),
    (
        "nfs-path-relative",
        volume(1, "v", "NFSVolume", Server="nas", Path="share"),
        "Volume.1.NFSVolume.Path ('share') must be an absolute path",
    ),
    ("nfs-read-only", {**NFS, "Volume.1.NFSVolume.ReadOnly": "yes"}, "true or false"),
    (
        "content-not-base64",
        {**CONFIG, "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content": "port: 8080"},
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content must be the file's content encoded in Base64",
    ),
    (
        "content-over-32-kb",
        config_volume(1, "c", {"big": "x" * (32 * 1024 + 1)}),
        "ConfigFileToPath.1.Content holds 32769 bytes (decoded); a configuration file holds at most 32768",
    ),
    ("mode-above-0777", {**CONFIG, "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode": "1777"}, "'1777'"),
    ("mode-decimal", {**CONFIG, "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode": "493"}, "not '493'"),
    (
        "mode-not-octal",
        {**CONFIG, "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode": "0844"},
        "0000 to 0777",
    ),
    (
        "default-mode",
        {**CONFIG, "Volume.1.ConfigFileVolume.DefaultMode": "0888"},
        "DefaultMode must be a file mode in octal digits from 0000 to 0777, such as 0644, not '0888'",
    ),
    ("default-model", {**CONFIG, "Volume.1.ConfigFileVolume.DefaultModel": "0644"}, "is a misspelling"),
    ("file-path-absolute", config_volume(1, "c", {"/etc/a": "x"}), "ConfigFileToPath.1.Path ('/etc/a')"),
    ("file-path-dot-dot", config_volume(1, "c", {"a/../../b": "x"}), "without '..'"),
    (
        "file-path-twice",
        {
            **config_volume(1, "c", {"a": "x"}),
            "Volume.1.ConfigFileVolume.ConfigFileToPath.2.Path": "a",
            "Volume.1.ConfigFileVolume.ConfigFileToPath.2.Content": b64("y"),
        },
        "ConfigFileToPath.2.Path ('a') repeats Volume.1.ConfigFileVolume.ConfigFileToPath.1.Path",
    ),
    ("disk-id", volume(1, "d", "DiskVolume", DiskId="disk-1"), "Volume.1.DiskVolume.DiskId ('disk-1')"),
    ("disk-fs-type", volume(1, "d", "DiskVolume", DiskId="d-1", FsType="ntfs"), "DiskVolume.FsType"),
    ("disk-size", volume(1, "d", "DiskVolume", DiskId="d-1", DiskSize="0"), "DiskSize must be between 1"),
    ("flex-driver", volume(1, "f", "FlexVolume", Driver="alicloud/cpfs"), "Volume.1.FlexVolume.Driver"),
    ("flex-options", volume(1, "f", "FlexVolume", Driver="alicloud/disk", Options="a=b"), "JSON object"),
    ("host-path", volume(1, "h", "HostPathVolume", Path="data"), "HostPathVolume.Path ('data')"),
    ("host-path-type", volume(1, "h", "HostPathVolume", Path="/d", Type="Socket"), "HostPathVolume.Type"),
    (
        "mount-unknown-volume",
        mount(1, 1, "data", "/data"),
        "Container.1.VolumeMount.1.Name ('data', container main) names no volume",
    ),
    (
        "mount-path-relative",
        {**NFS, **mount(1, 1, "share", "data")},
        "MountPath ('data') must be an absolute",
    ),
    (
        "mount-path-twice",
        {
            **NFS,
            **config_volume(2, "config", {"a": "x"}),
            **mount(1, 1, "share", "/d"),
            **mount(1, 2, "config", "/d"),
        },
        "Container.1.VolumeMount.2.MountPath ('/d') repeats Container.1.VolumeMount.1.MountPath",
    ),
    ("sub-path-absolute", {**NFS, **mount(1, 1, "share", "/d", SubPath="/x")}, "SubPath ('/x') must be a"),
    ("sub-path-dot-dot", {**NFS, **mount(1, 1, "share", "/d", SubPath="a/../..")}, "without '..'"),
    ("propagation", {**NFS, **mount(1, 1, "share", "/d", MountPropagation="Private")}, "MountPropagation"),
    (
        "field-path",
        {"Container.1.EnvironmentVar.1.Key": "NAME", "Container.1.EnvironmentVar.1.FieldRef.FieldPath": "x"},
        "Container.1.EnvironmentVar.1.FieldRef.FieldPath must be one of status.podIP",
    ),
    (
        "field-ref-with-value",
        {
            "Container.1.EnvironmentVar.1.Key": "IP",
            "Container.1.EnvironmentVar.1.Value": "1.2.3.4",
            "Container.1.EnvironmentVar.1.FieldRef.FieldPath": "status.podIP",
        },
        "Container.1.EnvironmentVar.1.Value must be empty when",
    ),
    (
        "capability",
        {"Container.1.SecurityContext.Capability.Add.1": "SYS_ADMIN"},
        "Capability.Add.1 must be one of NET_ADMIN, NET_RAW, not 'SYS_ADMIN'",
    ),
    (
        "read-only-root-false",
        {"Container.1.SecurityContext.ReadOnlyRootFilesystem": "false"},
        "ReadOnlyRootFilesystem can only be true",
    ),
    ("run-as-user", {"Container.1.SecurityContext.RunAsUser": "-1"}, "RunAsUser must be between 0"),
    ("run-as-group", {"Container.1.SecurityContextRunAsGroup": "2147483648"}, "RunAsGroup must be between"),
    ("privileged", {"Container.1.SecurityContextPrivileged": "True"}, "true or false"),
    (
        "sysctl-name",
        {"SecurityContext.Sysctl.1.Name": "kernel.shmmax", "SecurityContext.Sysctl.1.Value": "1"},
        "SecurityContext.Sysctl.1.Name must be one of net.ipv4.ip_unprivileged_port_start",
    ),
    (
        "sysctl-twice",
        {
            "SecurityContext.Sysctl.1.Name": "net.ipv4.ping_group_range",
            "SecurityContext.Sysctl.1.Value": "0 1",
            "SecurityContext.Sysctl.2.Name": "net.ipv4.ping_group_range",
            "SecurityContext.Sysctl.2.Value": "0 2",
        },
        "given twice",
    ),
    ("probe-without-handler", probe("LivenessProbe", PeriodSeconds="5"), "exactly one handler"),
    (
        "probe-two-handlers",
        probe("ReadinessProbe", HttpGet__Port="80", TcpSocket__Port="80"),
        "Container.1.ReadinessProbe takes exactly one handler (Exec, HttpGet or TcpSocket); got HttpGet and "
        "TcpSocket",
    ),
    ("probe-scheme", probe("LivenessProbe", HttpGet__Port="80", HttpGet__Scheme="http"), "HttpGet.Scheme"),
    ("probe-http-path", probe("LivenessProbe", HttpGet__Port="80", HttpGet__Path="health"), "must start"),
    ("probe-port", probe("LivenessProbe", TcpSocket__Port="0"), "TcpSocket.Port must be between 1 and 65535"),
    ("probe-period", probe("LivenessProbe", TcpSocket__Port="80", PeriodSeconds="0"), "at least 1, not 0"),
    ("probe-timeout", probe("LivenessProbe", TcpSocket__Port="80", TimeoutSeconds="0"), "TimeoutSeconds"),
    (
        "probe-failures",
        probe("LivenessProbe", TcpSocket__Port="80", FailureThreshold="0"),
        "FailureThreshold",
    ),
    ("probe-delay", probe("LivenessProbe", TcpSocket__Port="80", InitialDelaySeconds="-1"), "InitialDelay"),
    (
        "probe-success",
        probe("ReadinessProbe", TcpSocket__Port="80", SuccessThreshold="2"),
        "ReadinessProbe.SuccessThreshold must be 1",
    ),
    (
        "hook-two-handlers",
        {
            "Container.1.LifecyclePreStopHandlerExec.1": "sleep",
            "Container.1.LifecyclePreStopHandlerTcpSocketPort": "80",
        },
        "The PreStop hook of Container.1 (LifecyclePreStopHandler*) takes exactly one handler",
    ),
    ("hook-scheme", {"Container.1.LifecyclePostStartHandlerHttpGetScheme": "FTP"}, "HttpGetScheme"),
    (
        "grace-period",
        {"TerminationGracePeriodSeconds": "-1"},
        "TerminationGracePeriodSeconds must be at least",
    ),
    ("ephemeral-storage-zero", {"EphemeralStorage": "0"}, "EphemeralStorage must be between 1 and 32768"),
    ("ephemeral-storage-large", {"EphemeralStorage": "32769"}, "EphemeralStorage must be between 1 and"),
    (
        "readiness-knob",
        container_params(1, "main", "nginx", ECI_EMULATOR_READINESS_FAILS="yes"),
        "ECI_EMULATOR_READINESS_FAILS must be true or false",
    ),
]


@pytest.mark.parametrize(
    ("params", "fragment"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_bad_workload_parameters_are_refused_by_name(
    call: Call, eci_emulator: EmulatorFixture, params: dict[str, str], fragment: str
) -> None:
    refused_by_name(call, CreateContainerGroupRequest, fragment, **{**BASE, **params})
    assert eci_emulator.backend.group_count() == 0


MISSING = [
    (volume(1, "v", "NFSVolume", Path="/share"), "Volume.1.NFSVolume.Server"),
    (volume(1, "v", "NFSVolume", Server="nas"), "Volume.1.NFSVolume.Path"),
    (volume(1, "v", "DiskVolume", FsType="ext4"), "Volume.1.DiskVolume.DiskId"),
    (volume(1, "v", "FlexVolume", FsType="ext4"), "Volume.1.FlexVolume.Driver"),
    (volume(1, "v", "HostPathVolume", Type="Directory"), "Volume.1.HostPathVolume.Path"),
    (
        {"Volume.1.Name": "c", "Volume.1.Type": "ConfigFileVolume"}
        | {"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content": b64("x")},
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Path",
    ),
    (
        {"Volume.1.Name": "c", "Volume.1.Type": "ConfigFileVolume"}
        | {"Volume.1.ConfigFileVolume.ConfigFileToPath.1.Path": "a"},
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content",
    ),
    ({"Volume.1.Name": "v"}, "Volume.1.Type"),
    (probe("LivenessProbe", HttpGet__Path="/healthz"), "Container.1.LivenessProbe.HttpGet.Port"),
    (
        {"Container.1.LifecyclePreStopHandlerHttpGetPath": "/stop"},
        "Container.1.LifecyclePreStopHandlerHttpGetPort",
    ),
    ({"SecurityContext.Sysctl.1.Name": "net.ipv4.ping_group_range"}, "SecurityContext.Sysctl.1.Value"),
]


@pytest.mark.parametrize(("params", "missing"), MISSING)
def test_missing_workload_parameters_are_named(call: Call, params: dict[str, str], missing: str) -> None:
    refused_by_name(
        call, CreateContainerGroupRequest, f'"{missing}"', "MissingParameter", **{**BASE, **params}
    )


def test_the_files_of_a_volume_hold_at_most_60_kb(post: Call) -> None:
    files = {"a": "x" * 30000, "b": "x" * 30000, "c": "x" * 2000}
    fragment = "The files of Volume.1.ConfigFileVolume hold 62000 bytes together (decoded)"
    refused_by_name(post, CreateContainerGroupRequest, fragment, **BASE, **config_volume(1, "c", files))


def test_the_limits_themselves_and_every_kind_are_accepted(post: Call) -> None:
    params = {
        **config_volume(
            1, "a", {"a": "x" * 30000, "b": "y" * 30000}, **{"ConfigFileVolume.DefaultMode": "0400"}
        ),
        **config_volume(2, "big", {"one": "z" * 32 * 1024}),
        **volume(3, "scratch", "EmptyDirVolume", Medium="Memory", SizeLimit="256Mi"),
        **volume(4, "share", "NFSVolume", Server="nas", Path="/share", ReadOnly="true"),
        **volume(5, "disk", "DiskVolume", DiskId="d-2ze0123", FsType="xfs", DiskSize="32768"),
        **volume(
            6, "flex", "FlexVolume", Driver="alicloud/disk", FsType="ext4", Options='{"volumeId":"d-1"}'
        ),
        **volume(7, "host", "HostPathVolume", Path="/var/log", Type="Directory"),
        **{key: value for n in range(8, 21) for key, value in volume(n, f"v{n}", "EmptyDirVolume").items()},
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode": "0777",
        "Volume.2.ConfigFileVolume.ConfigFileToPath.1.Mode": "0",
        "EphemeralStorage": "32768",
        "TerminationGracePeriodSeconds": "0",
    }
    assert post(CreateContainerGroupRequest, **BASE, **params)["ContainerGroupId"].startswith("eci-")


# ---- UpdateContainerGroup: its own parameters, and what it keeps -------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode",
        "Volume.1.ConfigFileVolume.DefaultMode",
        "Volume.1.DiskVolume.DiskId",
        "TerminationGracePeriodSeconds",
        "EphemeralStorage",
        "SecurityContext.Sysctl.1.Name",
        "Container.1.SecurityContextPrivileged",
        "Container.1.SecurityContextRunAsGroup",
        "Container.1.SecurityContextRunAsNonRoot",
    ],
)
def test_create_only_parameters_are_refused_on_update(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str], name: str
) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    value = "true" if name.endswith(("Privileged", "NonRoot")) else "1"
    fragment = (
        f"The parameter {name} cannot be changed by UpdateContainerGroup: only CreateContainerGroup sets it"
    )
    refused_by_name(call, UpdateContainerGroupRequest, fragment, ContainerGroupId=group_id, **{name: value})


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (volume(1, "d", "DiskVolume"), "Volume.1.Type (DiskVolume) cannot be sent to UpdateContainerGroup"),
        (volume(1, "h", "HostPathVolume", Path="/d"), "only CreateContainerGroup sets a HostPathVolume"),
        (
            {**CONFIG, "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content": "not base64!"},
            "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content must be the file's content encoded in Base64",
        ),
        (
            {**container_params(1, "main", "nginx"), **probe("LivenessProbe", PeriodSeconds="3")},
            "Container.1.LivenessProbe takes exactly one handler",
        ),
        (
            {
                **container_params(1, "main", "nginx"),
                "Container.1.LifecyclePostStartHandlerHttpGetHttpHeader.1.Name": "X-A",
            },
            "is spelt Container.N.LifecyclePostStartHandlerHttpGetHttpHeaders.N.Name in UpdateContainerGroup",
        ),
    ],
    ids=["disk-volume", "host-path-volume", "content", "probe", "post-start-header-spelling"],
)
def test_update_checks_its_own_parameters(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    params: dict[str, str],
    fragment: str,
) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    refused_by_name(call, UpdateContainerGroupRequest, fragment, ContainerGroupId=group_id, **params)


def test_create_spells_the_post_start_headers_in_the_singular(call: Call) -> None:
    params = {**BASE, "Container.1.LifecyclePostStartHandlerHttpGetHttpHeaders.1.Name": "X-A"}
    fragment = (
        "is spelt Container.N.LifecyclePostStartHandlerHttpGetHttpHeader.N.Name in CreateContainerGroup"
    )
    refused_by_name(call, CreateContainerGroupRequest, fragment, **params)


CREATE_ONLY = {
    **config_volume(1, "config", {"app.yaml": "a: 1\n"}, **{"ConfigFileVolume.DefaultMode": "0400"}),
    "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode": "0600",
    **volume(2, "data", "DiskVolume", DiskId="d-2ze0123", FsType="ext4", DiskSize="40"),
    **volume(3, "scratch", "EmptyDirVolume"),
    **mount(1, 1, "config", "/etc/app"),
    **mount(1, 2, "data", "/data"),
    "Container.1.SecurityContextPrivileged": "true",
    "Container.1.SecurityContextRunAsGroup": "3000",
    "Container.1.SecurityContextRunAsNonRoot": "true",
    "TerminationGracePeriodSeconds": "60",
    "EphemeralStorage": "20",
    "SecurityContext.Sysctl.1.Name": "net.ipv4.ip_unprivileged_port_start",
    "SecurityContext.Sysctl.1.Value": "80",
}


@pytest.fixture
def running(eci_emulator: EmulatorFixture, create: Callable[..., str]) -> str:
    """A running group created with CREATE_ONLY."""
    group_id = create(**CREATE_ONLY)
    eci_emulator.advance_clock(1)
    return group_id


def _update(call: Call, eci_emulator: EmulatorFixture, group_id: str, **params: str) -> GroupSpec:
    """UpdateContainerGroup, then what the group holds."""
    call(UpdateContainerGroupRequest, ContainerGroupId=group_id, **params)
    spec = eci_emulator.group_spec(group_id)
    assert spec is not None
    return spec


def test_renew_update_replaces_the_volumes_and_keeps_what_only_create_sets(
    call: Call, eci_emulator: EmulatorFixture, running: str
) -> None:
    spec = _update(
        call,
        eci_emulator,
        running,
        UpdateType="RenewUpdate",
        **container_params(1, "main", "nginx:1.26"),
        **config_volume(1, "config", {"app.yaml": "a: 2\n", "extra.yaml": "b: 1\n"}),
        **volume(2, "cache", "EmptyDirVolume", Medium="Memory"),
        **mount(1, 1, "config", "/etc/app"),
        **mount(1, 2, "data", "/data"),
    )
    volumes = {volume["Name"]: volume for volume in spec.volumes}
    assert list(volumes) == ["data", "config", "cache"]  # scratch was not sent: gone; the disk stays
    assert volumes["data"]["DiskVolume"] == {"DiskId": "d-2ze0123", "FsType": "ext4", "DiskSize": "40"}
    config = volumes["config"]["ConfigFileVolume"]
    assert config["DefaultMode"] == "0400"
    assert [(item["Path"], item.get("Mode")) for item in config["ConfigFileToPath"]] == [
        ("app.yaml", "0600"),
        ("extra.yaml", None),
    ]
    container = spec.containers[0].raw
    assert container["Image"] == "nginx:1.26"
    assert (
        container["SecurityContextPrivileged"],
        container["SecurityContextRunAsGroup"],
        container["SecurityContextRunAsNonRoot"],
    ) == ("true", "3000", "true")
    assert (spec.termination_grace_period_seconds, spec.ephemeral_storage) == (60, 20)
    assert spec.sysctls == (("net.ipv4.ip_unprivileged_port_start", "80"),)


def test_an_update_without_volumes_keeps_them_and_one_cannot_replace_a_disk(
    call: Call, eci_emulator: EmulatorFixture, running: str
) -> None:
    spec = _update(call, eci_emulator, running, **container_params(1, "main", "nginx:1.26"))
    assert [volume["Name"] for volume in spec.volumes] == ["config", "data", "scratch"]
    eci_emulator.advance_clock(1)
    fragment = "Volume.1.Name ('data') names a DiskVolume of the group"
    update = {"ContainerGroupId": running, **volume(1, "data", "EmptyDirVolume")}
    refused_by_name(call, UpdateContainerGroupRequest, fragment, **update)


def test_a_renew_update_may_not_drop_a_mounted_volume(call: Call, running: str) -> None:
    fragment = "Container.1.VolumeMount.1.Name ('config', container main) names no volume"
    update = {"ContainerGroupId": running, **volume(1, "cache", "EmptyDirVolume")}
    refused_by_name(call, UpdateContainerGroupRequest, fragment, **update)


def test_incremental_update_merges_volumes_by_name(
    call: Call, eci_emulator: EmulatorFixture, running: str
) -> None:
    spec = _update(
        call,
        eci_emulator,
        running,
        UpdateType="IncrementalUpdate",
        **volume(1, "scratch", "EmptyDirVolume", SizeLimit="1Gi"),
        **volume(2, "share", "NFSVolume", Server="nas", Path="/s"),
    )
    assert [(volume["Name"], volume["Type"]) for volume in spec.volumes] == [
        ("config", "ConfigFileVolume"),
        ("data", "DiskVolume"),
        ("scratch", "EmptyDirVolume"),
        ("share", "NFSVolume"),
    ]
    assert spec.volumes[2]["EmptyDirVolume"] == {"SizeLimit": "1Gi"}


# ---- what the group holds, through the admin API ----------------------------------------------------

WORKLOAD = {
    **config_volume(
        1,
        "config",
        {"config.yaml": "port: 8080\n", "conf.d/extra.conf": "debug = true\n"},
        **{"ConfigFileVolume.DefaultMode": "440"},
    ),
    "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Mode": "0600",
    **volume(2, "share", "NFSVolume", Server="nas.example.com", Path="/share", ReadOnly="true"),
    **mount(1, 1, "config", "/etc/app"),
    **mount(1, 2, "config", "/opt/app.yaml", SubPath="config.yaml", ReadOnly="true"),
    **mount(1, 3, "share", "/mnt/share", MountPropagation="HostToContainer"),
    "Container.1.EnvironmentVar.1.Key": "POD_IP",
    "Container.1.EnvironmentVar.1.FieldRef.FieldPath": "status.podIP",
    **probe("LivenessProbe", HttpGet__Path="/healthz", HttpGet__Port="8080", InitialDelaySeconds="5"),
    **probe("ReadinessProbe", TcpSocket__Port="8080", PeriodSeconds="2", FailureThreshold="1"),
    "Container.1.LifecyclePostStartHandlerExec.1": "/bin/sh",
    "Container.1.LifecyclePostStartHandlerExec.2": "-c",
    "Container.1.LifecyclePostStartHandlerExec.3": "echo started",
    "Container.1.LifecyclePreStopHandlerHttpGetPath": "/drain",
    "Container.1.LifecyclePreStopHandlerHttpGetPort": "8080",
    "Container.1.LifecyclePreStopHandlerHttpGetHttpHeader.1.Name": "X-Reason",
    "Container.1.LifecyclePreStopHandlerHttpGetHttpHeader.1.Value": "shutdown",
    "Container.1.SecurityContext.Capability.Add.1": "NET_ADMIN",
    "Container.1.SecurityContext.ReadOnlyRootFilesystem": "true",
    "Container.1.SecurityContext.RunAsUser": "1000",
    "Container.1.SecurityContextRunAsNonRoot": "true",
    "TerminationGracePeriodSeconds": "45",
    "EphemeralStorage": "20",
    "SecurityContext.Sysctl.1.Name": "net.ipv4.ping_group_range",
    "SecurityContext.Sysctl.1.Value": "0 2147483647",
}

WORKLOAD_LIVENESS_PROBE = {
    "HttpGet": {"Path": "/healthz", "Port": 8080, "Scheme": "HTTP"},
    "InitialDelaySeconds": 5,
    "PeriodSeconds": 10,  # the defaults, filled in
    "SuccessThreshold": 1,
    "FailureThreshold": 3,
    "TimeoutSeconds": 1,
}
"""WORKLOAD's liveness probe, as the admin API and DescribeContainerGroups show it."""


def test_the_admin_api_shows_what_the_group_holds(
    eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create(**WORKLOAD)
    admin = AdminClient(eci_emulator.url)
    spec = admin.group_spec(group_id)
    assert spec is not None
    assert spec["ContainerGroupId"] == group_id
    assert (spec["TerminationGracePeriodSeconds"], spec["EphemeralStorage"]) == (45, 20)
    assert spec["Sysctls"] == [{"Name": "net.ipv4.ping_group_range", "Value": "0 2147483647"}]
    config, share = spec["Volumes"]
    assert (config["Name"], config["Type"], config["ConfigFileVolume"]["DefaultMode"]) == (
        "config",
        "ConfigFileVolume",
        "0440",
    )
    assert config["ConfigFileVolume"]["Files"] == [
        {
            "Path": "config.yaml",
            "Content": "port: 8080\n",
            "ContentBase64": b64("port: 8080\n"),
            "Mode": "0600",
        },
        {
            "Path": "conf.d/extra.conf",
            "Content": "debug = true\n",
            "ContentBase64": b64("debug = true\n"),
            "Mode": "0440",
        },
    ]
    assert config["Parameters"]["ConfigFileVolume"]["ConfigFileToPath"][0]["Mode"] == "0600"
    assert share["NFSVolume"] == {"Server": "nas.example.com", "Path": "/share", "ReadOnly": True}
    container = spec["Containers"][0]
    files = container["Files"]
    assert files["/etc/app/config.yaml"]["Content"] == "port: 8080\n"
    assert files["/etc/app/config.yaml"]["Mode"] == "0600"
    assert files["/etc/app/conf.d/extra.conf"]["Content"] == "debug = true\n"
    assert files["/opt/app.yaml"] == {
        "Volume": "config",
        "Path": "config.yaml",
        "Content": "port: 8080\n",
        "ContentBase64": b64("port: 8080\n"),
        "Mode": "0600",
        "ReadOnly": True,
    }
    assert set(files) == {"/etc/app/config.yaml", "/etc/app/conf.d/extra.conf", "/opt/app.yaml"}
    assert container["VolumeMounts"][2] == {
        "Name": "share",
        "MountPath": "/mnt/share",
        "SubPath": "",
        "ReadOnly": False,
        "MountPropagation": "HostToContainer",
    }
    assert container["EnvironmentVars"] == [{"Key": "POD_IP", "Value": "", "FieldPath": "status.podIP"}]
    assert container["LivenessProbe"] == WORKLOAD_LIVENESS_PROBE
    assert container["ReadinessProbe"]["TcpSocket"] == {"Port": 8080}
    assert (
        container["ReadinessProbe"]["PeriodSeconds"],
        container["ReadinessProbe"]["FailureThreshold"],
    ) == (2, 1)
    assert container["PostStart"] == {"Exec": {"Command": ["/bin/sh", "-c", "echo started"]}}
    assert container["PreStop"] == {
        "HttpGet": {
            "Host": "",
            "Path": "/drain",
            "Port": 8080,
            "Scheme": "HTTP",
            "HttpHeaders": [{"Name": "X-Reason", "Value": "shutdown"}],
        }
    }
    assert container["SecurityContext"] == {
        "Capabilities": ["NET_ADMIN"],
        "ReadOnlyRootFilesystem": True,
        "RunAsUser": 1000,
        "RunAsGroup": None,
        "RunAsNonRoot": True,
        "Privileged": None,
    }
    assert container["Parameters"]["LifecyclePreStopHandlerHttpGetPort"] == "8080"
    held = eci_emulator.group_spec(group_id)
    assert held is not None and {"ContainerGroupId": group_id, **held.to_dict()} == spec
    assert admin.group_spec("eci-unknown") is None


def test_the_spec_view_defaults_and_content_that_is_not_text(
    eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    binary = base64.b64encode(b"\xff\xfe\x00").decode()
    params = {**config_volume(1, "bin", {"blob": "x"}), **mount(1, 1, "bin", "/bin-data/")}
    group_id = create(**{**params, "Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content": binary})
    spec = eci_emulator.admin.group_spec(group_id)
    assert spec is not None
    assert (spec["TerminationGracePeriodSeconds"], spec["EphemeralStorage"], spec["Sysctls"]) == (
        None,
        None,
        [],
    )
    container = spec["Containers"][0]
    assert container["Files"]["/bin-data/blob"] == {
        "Volume": "bin",
        "Path": "blob",
        "Content": None,
        "ContentBase64": binary,
        "Mode": "0644",
        "ReadOnly": False,
    }
    assert (
        container["LivenessProbe"],
        container["ReadinessProbe"],
        container["PostStart"],
        container["PreStop"],
    ) == (
        None,
        None,
        None,
        None,
    )
    assert container["SecurityContext"]["Capabilities"] == []


def test_post_start_headers_sent_by_update_read_as_those_sent_by_create(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create()
    eci_emulator.advance_clock(1)
    call(
        UpdateContainerGroupRequest,
        ContainerGroupId=group_id,
        **container_params(1, "main", "nginx:1.25"),
        **{
            "Container.1.LifecyclePostStartHandlerHttpGetPort": "80",
            "Container.1.LifecyclePostStartHandlerHttpGetHttpHeaders.1.Name": "X-A",
            "Container.1.LifecyclePostStartHandlerHttpGetHttpHeaders.1.Value": "1",
        },
    )
    spec = eci_emulator.admin.group_spec(group_id)
    assert spec is not None
    assert spec["Containers"][0]["PostStart"]["HttpGet"]["HttpHeaders"] == [{"Name": "X-A", "Value": "1"}]


# ---- probes, on the emulator's clock -----------------------------------------------------------------


def _pod_status(call: Call, group_id: str) -> dict[str, Any]:
    data = call(DescribeContainerGroupStatusRequest, ContainerGroupIds=json.dumps([group_id]))["Data"]
    pod: dict[str, Any] = data[0]["PodStatus"]
    return pod


def _conditions(pod: dict[str, Any]) -> dict[str, str]:
    return {condition["Type"]: condition["Status"] for condition in pod["Conditions"]}


def _events(group: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    return [event for event in group["Events"] if event["Reason"] == reason]


def test_a_readiness_probe_passes_at_its_initial_delay(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(**probe("ReadinessProbe", HttpGet__Port="80", InitialDelaySeconds="5"))
    eci_emulator.advance_clock(RUNNING + 1)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert (group["Containers"][0]["CurrentState"]["State"], group["Containers"][0]["Ready"]) == (
        "Running",
        False,
    )
    assert _conditions(_pod_status(call, group_id))["ContainersReady"] == "False"
    eci_emulator.advance_clock(5)
    group = describe(group_id)
    assert group["Containers"][0]["Ready"] is True
    pod = _pod_status(call, group_id)
    assert (_conditions(pod)["ContainersReady"], _conditions(pod)["Ready"]) == ("True", "True")
    assert pod["ContainerStatuses"][0]["Ready"] is True
    assert not _events(group, "Unhealthy")


def test_a_failing_readiness_probe_keeps_the_container_running_and_not_ready(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(
        **container_params(1, "main", "nginx", ECI_EMULATOR_READINESS_FAILS="true"),
        **probe(
            "ReadinessProbe",
            HttpGet__Path="/ready",
            HttpGet__Port="8080",
            InitialDelaySeconds="2",
            PeriodSeconds="3",
        ),
    )
    eci_emulator.advance_clock(RUNNING + 8.5)  # probes at 2, 5 and 8 s: all failed
    group = describe(group_id)
    container = group["Containers"][0]
    assert group["Status"] == "Running"
    assert (container["CurrentState"]["State"], container["Ready"], container["RestartCount"]) == (
        "Running",
        False,
        0,
    )
    pod = _pod_status(call, group_id)
    assert pod["Phase"] == "Running"
    assert (_conditions(pod)["ContainersReady"], _conditions(pod)["Ready"]) == ("False", "False")
    (unhealthy,) = _events(group, "Unhealthy")
    assert (unhealthy["Type"], unhealthy["Count"]) == ("Warning", 3)
    assert unhealthy["Message"] == "Readiness probe failed: HTTP probe failed with statuscode: 500"
    assert unhealthy["Name"] == f"{group_id}.main"
    eci_emulator.advance_clock(30)
    assert _events(describe(group_id), "Unhealthy")[0]["Count"] == 13
    assert describe(group_id)["Containers"][0]["Ready"] is False


def test_the_probe_knobs_do_nothing_without_a_probe(
    eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Callable[[str], dict[str, Any]]
) -> None:
    group_id = create(
        **container_params(
            1, "main", "nginx", ECI_EMULATOR_READINESS_FAILS="true", ECI_EMULATOR_LIVENESS_FAILS="true"
        )
    )
    eci_emulator.advance_clock(RUNNING + 100)
    container = describe(group_id)["Containers"][0]
    assert (container["Ready"], container["RestartCount"]) == (True, 0)


def test_a_failing_liveness_probe_kills_and_restarts_the_container(
    call: Call,
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
) -> None:
    group_id = create(
        RestartPolicy="Always",
        **container_params(1, "main", "nginx", ECI_EMULATOR_LIVENESS_FAILS="true"),
        **probe(
            "LivenessProbe",
            TcpSocket__Port="8080",
            InitialDelaySeconds="2",
            PeriodSeconds="3",
            FailureThreshold="2",
        ),
    )
    # Killed 2 + 3 x 2 = 8 s after each start; restarted 0.5 s (restart_backoff_seconds) later.
    eci_emulator.advance_clock(RUNNING + 5.5)
    group = describe(group_id)
    (unhealthy,) = _events(group, "Unhealthy")
    assert (unhealthy["Type"], unhealthy["Count"]) == ("Warning", 1)
    assert unhealthy["Message"] == (
        f"Liveness probe failed: dial tcp {group['IntranetIp']}:8080: connect: connection refused"
    )
    assert not _events(group, "Killing")
    assert (group["Containers"][0]["Ready"], group["Containers"][0]["RestartCount"]) == (True, 0)

    eci_emulator.advance_clock(2.7)
    group = describe(group_id)
    container = group["Containers"][0]
    assert group["Status"] == "Running"
    assert (container["CurrentState"]["State"], container["CurrentState"]["Reason"]) == (
        "Waiting",
        "CrashLoopBackOff",
    )
    previous = container["PreviousState"]
    assert (previous["State"], previous["ExitCode"], previous["Reason"]) == ("Terminated", 137, "Error")
    (killing,) = _events(group, "Killing")
    assert (killing["Type"], killing["Count"]) == ("Normal", 1)
    assert killing["Message"] == "Container main failed liveness probe, will be restarted"
    assert _events(group, "Unhealthy")[0]["Count"] == 2

    eci_emulator.advance_clock(0.8)
    container = describe(group_id)["Containers"][0]
    assert (container["CurrentState"]["State"], container["RestartCount"]) == ("Running", 1)

    eci_emulator.advance_clock(8.5 * 2)
    group = describe(group_id)
    assert group["Status"] == "Running"
    assert group["Containers"][0]["RestartCount"] == 3
    assert (_events(group, "Killing")[0]["Count"], _events(group, "Unhealthy")[0]["Count"]) == (3, 6)
    assert _events(group, "BackOff")[0]["Count"] == 3
    assert _pod_status(call, group_id)["ContainerStatuses"][0]["RestartCount"] == 3


def test_liveness_defaults_kill_after_thirty_seconds(
    eci_emulator: EmulatorFixture, create: Callable[..., str], describe: Callable[[str], dict[str, Any]]
) -> None:
    group_id = create(
        **container_params(1, "main", "nginx", ECI_EMULATOR_LIVENESS_FAILS="true"),
        **{
            "Container.1.LivenessProbe.Exec.Command.1": "cat",
            "Container.1.LivenessProbe.Exec.Command.2": "/tmp/ok",
        },
    )
    eci_emulator.advance_clock(RUNNING + 29.5)  # InitialDelaySeconds 0, PeriodSeconds 10, FailureThreshold 3
    group = describe(group_id)
    assert group["Containers"][0]["CurrentState"]["State"] == "Running"
    (unhealthy,) = _events(group, "Unhealthy")
    assert (unhealthy["Count"], unhealthy["Message"]) == (
        2,
        "Liveness probe failed: command 'cat /tmp/ok' exited with 1",
    )
    eci_emulator.advance_clock(0.6)
    assert describe(group_id)["Containers"][0]["CurrentState"]["Reason"] == "CrashLoopBackOff"


@pytest.mark.parametrize(("policy", "status"), [("Never", "Failed"), ("OnFailure", "Running")])
def test_a_liveness_kill_follows_the_restart_policy(
    eci_emulator: EmulatorFixture,
    create: Callable[..., str],
    describe: Callable[[str], dict[str, Any]],
    policy: str,
    status: str,
) -> None:
    group_id = create(
        RestartPolicy=policy,
        **container_params(1, "main", "nginx", ECI_EMULATOR_LIVENESS_FAILS="true"),
        **probe("LivenessProbe", TcpSocket__Port="80", PeriodSeconds="1", FailureThreshold="1"),
    )
    eci_emulator.advance_clock(RUNNING + 1.2)
    group = describe(group_id)
    assert group["Status"] == status
    container = group["Containers"][0]
    if policy == "Never":
        state = container["CurrentState"]
        assert (state["State"], state["ExitCode"], state["Reason"]) == ("Terminated", 137, "Error")
        assert group["FailedTime"]
    else:
        assert container["PreviousState"]["ExitCode"] == 137
    assert _events(group, "Killing")[0]["Count"] == 1


# ---- deletion as a graceful stop ---------------------------------------------------------------------


def test_a_deletion_records_the_grace_period_and_the_pre_stop_handlers(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create(
        **container_params(2, "side", "busybox"),
        **{
            "Container.1.LifecyclePreStopHandlerExec.1": "nginx",
            "Container.1.LifecyclePreStopHandlerExec.2": "-s",
            "Container.1.LifecyclePreStopHandlerExec.3": "quit",
            "Container.2.LifecyclePreStopHandlerTcpSocketPort": "9000",
        },
    )
    other_id = create(name="slow", TerminationGracePeriodSeconds="60")
    eci_emulator.advance_clock(RUNNING + 1)
    now = eci_emulator.clock.now()
    call(DeleteContainerGroupRequest, ContainerGroupId=group_id)
    call(DeleteContainerGroupRequest, ContainerGroupId=other_id)
    first, second = eci_emulator.admin.deletions()
    assert first["ContainerGroupId"] == group_id and first["ContainerGroupName"] == "web"
    assert (first["GracePeriodSeconds"], first["Status"]) == (30, "Running")
    assert first["Timestamp"] == pytest.approx(now, abs=1) and first["Time"].endswith("Z")
    assert first["Containers"] == [
        {"Name": "main", "State": "Running", "PreStop": {"Exec": {"Command": ["nginx", "-s", "quit"]}}},
        {"Name": "side", "State": "Running", "PreStop": {"TcpSocket": {"Host": "", "Port": 9000}}},
    ]
    assert (second["ContainerGroupId"], second["GracePeriodSeconds"]) == (other_id, 60)
    assert second["Containers"] == [{"Name": "main", "State": "Running", "PreStop": None}]
    assert eci_emulator.deletions() == [first, second]


def test_a_deletion_before_the_containers_run_and_reset(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    group_id = create(TerminationGracePeriodSeconds="0")
    eci_emulator.admin.delete_group(create(name="drift"))  # behind ECI's back: no DeleteContainerGroup
    call(DeleteContainerGroupRequest, ContainerGroupId=group_id)
    (deletion,) = eci_emulator.admin.deletions()
    assert (deletion["Status"], deletion["GracePeriodSeconds"]) == ("Scheduling", 0)
    assert deletion["Containers"] == [{"Name": "main", "State": "Waiting", "PreStop": None}]
    eci_emulator.admin.reset()
    assert eci_emulator.admin.deletions() == []


# ---- what DescribeContainerGroups shows --------------------------------------------------------------


def test_describe_shows_the_workload_as_the_reference_names_it(
    create: Callable[..., str], describe: Callable[[str], dict[str, Any]]
) -> None:
    group_id = create(
        **WORKLOAD,
        **volume(3, "data", "DiskVolume", DiskId="d-2ze0123", FsType="xfs"),
        **volume(4, "flex", "FlexVolume", Driver="alicloud/nas", Options='{"server":"nas"}'),
    )
    group = describe(group_id)
    assert group["EphemeralStorage"] == 20
    assert group["EciSecurityContext"] == {
        "Sysctls": [{"Name": "net.ipv4.ping_group_range", "Value": "0 2147483647"}]
    }
    assert group["Volumes"] == [
        {
            "Name": "config",
            "Type": "ConfigFileVolume",
            "ConfigFileVolumeConfigFileToPaths": [
                {"Content": b64("port: 8080\n"), "Path": "config.yaml"},
                {"Content": b64("debug = true\n"), "Path": "conf.d/extra.conf"},
            ],
        },
        {
            "Name": "share",
            "Type": "NFSVolume",
            "NFSVolumeServer": "nas.example.com",
            "NFSVolumePath": "/share",
            "NFSVolumeReadOnly": True,
        },
        {"Name": "data", "Type": "DiskVolume", "DiskVolumeDiskId": "d-2ze0123", "DiskVolumeFsType": "xfs"},
        {
            "Name": "flex",
            "Type": "FlexVolume",
            "FlexVolumeDriver": "alicloud/nas",
            "FlexVolumeOptions": '{"server":"nas"}',
        },
    ]
    container = group["Containers"][0]
    assert container["EnvironmentVars"] == [
        {"Key": "POD_IP", "Value": "", "ValueFrom": {"FieldRef": {"FieldPath": "status.podIP"}}}
    ]
    assert container["VolumeMounts"][2]["MountPropagation"] == "HostToContainer"
    assert container["LivenessProbe"] == WORKLOAD_LIVENESS_PROBE
    assert container["ReadinessProbe"]["TcpSocket"] == {"Port": 8080}
    assert container["SecurityContext"] == {
        "Capability": {"Adds": ["NET_ADMIN"]},
        "ReadOnlyRootFilesystem": True,
        "RunAsUser": 1000,
    }
    plain = describe(create(name="plain"))
    assert (plain["EphemeralStorage"], plain["Volumes"], plain["Containers"][0]["LivenessProbe"]) == (
        0,
        [],
        {},
    )
