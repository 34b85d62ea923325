"""Response shapes of the Describe actions, as the ECI API reference documents them.

DescribeContainerGroups' volumes, probes, security context, FieldRef variables, EphemeralStorage and
EciSecurityContext take the names of the reference's response model (alibabacloud-eci20180808 2.1.0,
DescribeContainerGroupsResponseBodyContainerGroups*). A setting that was not sent is left out (the reference
does not say what ECI answers for it); a ConfigFileVolume's contents are shown as sent (Base64).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eci_emulator.clock import iso8601
from eci_emulator.container_settings import Probe
from eci_emulator.lifecycle import ContainerView, Event, Group, GroupView
from eci_emulator.model import ContainerSpec

MAX_EVENTS = 50

# Kubernetes pod phase for each ECI group status.
POD_PHASES = {
    "Scheduling": "Pending",
    "Pending": "Pending",
    "Restarting": "Pending",
    "Updating": "Pending",
    "Running": "Running",
    "Terminating": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Expired": "Failed",
    "ScheduleFailed": "Failed",
}


def _bool(value: Any) -> bool:
    return value == "true" or value is True


def render_event(event: Event) -> dict[str, Any]:
    return {
        "Count": event.count,
        "Type": event.type,
        "Name": event.involved,
        "Message": event.message,
        "FirstTimestamp": iso8601(event.first),
        "LastTimestamp": iso8601(event.last),
        "Reason": event.reason,
    }


def recent_events(view: GroupView, limit: int = MAX_EVENTS) -> list[Event]:
    return sorted(view.events, key=lambda event: (event.last, event.first))[-limit:]


def render_container(spec: ContainerSpec, view: ContainerView) -> dict[str, Any]:
    raw = spec.raw
    return {
        "Name": spec.name,
        "Image": spec.image,
        "Cpu": float(raw.get("Cpu", 0) or 0),
        "Memory": float(raw.get("Memory", 0) or 0),
        "Gpu": int(raw.get("Gpu", 0) or 0),
        "WorkingDir": raw.get("WorkingDir", ""),
        "ImagePullPolicy": raw.get("ImagePullPolicy", "IfNotPresent"),
        "Commands": list(raw.get("Command", [])),
        "Args": list(raw.get("Arg", [])),
        "EnvironmentVars": [_variable(item) for item in raw.get("EnvironmentVar", [])],
        "Ports": [
            {"Port": int(item.get("Port", 0)), "Protocol": item.get("Protocol", "TCP")}
            for item in raw.get("Port", [])
        ],
        "VolumeMounts": [
            {
                "Name": item.get("Name", ""),
                "MountPath": item.get("MountPath", ""),
                "SubPath": item.get("SubPath", ""),
                "ReadOnly": _bool(item.get("ReadOnly", "false")),
                "MountPropagation": item.get("MountPropagation", "None"),
            }
            for item in raw.get("VolumeMount", [])
        ],
        "LivenessProbe": _probe(spec.liveness_probe),
        "ReadinessProbe": _probe(spec.readiness_probe),
        "SecurityContext": _security_context(raw.get("SecurityContext", {})),
        "Ready": view.ready,
        "RestartCount": view.restart_count,
        "CurrentState": view.state,
        "PreviousState": view.previous or {"State": "", "Reason": "", "ExitCode": 0},
    }


def _variable(item: Mapping[str, Any]) -> dict[str, Any]:
    variable: dict[str, Any] = {"Key": item.get("Key", ""), "Value": item.get("Value", "")}
    if "FieldRef" in item:
        variable["ValueFrom"] = {"FieldRef": {"FieldPath": item["FieldRef"].get("FieldPath", "")}}
    return variable


def _probe(probe: Probe | None) -> dict[str, Any]:
    if probe is None:
        return {}
    handler = probe.handler
    rendered: dict[str, Any]
    if "Exec" in handler:
        rendered = {"Execs": list(handler["Exec"]["Command"])}
    elif "HttpGet" in handler:
        rendered = {"HttpGet": dict(handler["HttpGet"])}
    else:
        rendered = {"TcpSocket": {"Port": handler["TcpSocket"]["Port"]}}
    return {
        **rendered,
        "InitialDelaySeconds": probe.initial_delay_seconds,
        "PeriodSeconds": probe.period_seconds,
        "SuccessThreshold": probe.success_threshold,
        "FailureThreshold": probe.failure_threshold,
        "TimeoutSeconds": probe.timeout_seconds,
    }


def _security_context(context: Mapping[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = {"Capability": {"Adds": list(context.get("Capability", {}).get("Add", []))}}
    if "ReadOnlyRootFilesystem" in context:
        rendered["ReadOnlyRootFilesystem"] = _bool(context["ReadOnlyRootFilesystem"])
    if "RunAsUser" in context:
        rendered["RunAsUser"] = int(context["RunAsUser"])
    return rendered


# Describe's flat name of each volume setting: (Type, sub-parameter) -> response field.
_VOLUME_FIELDS = {
    ("EmptyDirVolume", "Medium"): "EmptyDirVolumeMedium",
    ("EmptyDirVolume", "SizeLimit"): "EmptyDirVolumeSizeLimit",
    ("NFSVolume", "Server"): "NFSVolumeServer",
    ("NFSVolume", "Path"): "NFSVolumePath",
    ("DiskVolume", "DiskId"): "DiskVolumeDiskId",
    ("DiskVolume", "FsType"): "DiskVolumeFsType",
    ("FlexVolume", "Driver"): "FlexVolumeDriver",
    ("FlexVolume", "FsType"): "FlexVolumeFsType",
    ("FlexVolume", "Options"): "FlexVolumeOptions",
}


def _volume(volume: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(volume["Type"])
    settings: Mapping[str, Any] = volume.get(kind, {})
    rendered: dict[str, Any] = {"Name": volume["Name"], "Type": kind}
    for key, value in settings.items():
        if (kind, key) in _VOLUME_FIELDS:
            rendered[_VOLUME_FIELDS[(kind, key)]] = value
    if kind == "NFSVolume":
        rendered["NFSVolumeReadOnly"] = _bool(settings.get("ReadOnly", "false"))
    if kind == "ConfigFileVolume":
        rendered["ConfigFileVolumeConfigFileToPaths"] = [
            {"Content": item.get("Content", ""), "Path": item.get("Path", "")}
            for item in settings.get("ConfigFileToPath", [])
        ]
    return rendered


def render_group(group: Group, view: GroupView, with_events: bool = True) -> dict[str, Any]:
    """One group as DescribeContainerGroups answers it. InstanceType, ZoneId and VSwitchId are where the
    group was placed (placement.Capacity.place); InternetIp is its EIP's address (AutoCreateEip or
    EipInstanceId), "" without one; an image cache shows as an event (SuccessfulHitImageCache), the
    reference's response having no field for it."""
    spec = group.spec
    settings = spec.settings
    status = view.status
    terminal = iso8601(view.terminal_at) if view.terminal_at is not None else ""
    allocated = status not in ("Scheduling", "ScheduleFailed")
    return {
        "ContainerGroupId": group.container_group_id,
        "ContainerGroupName": spec.name,
        "RegionId": spec.region_id,
        "ZoneId": spec.zone_id,
        "Status": status,
        "Cpu": spec.cpu,
        "Memory": spec.memory,
        "InstanceType": spec.instance_type or "",
        "SpotStrategy": spec.spot_strategy,
        "IntranetIp": group.intranet_ip if allocated else "",
        "InternetIp": group.internet_ip if allocated else "",
        "CreationTime": iso8601(group.created_at),
        "SucceededTime": terminal if status == "Succeeded" else "",
        "FailedTime": terminal if status in ("Failed", "ScheduleFailed") else "",
        "ExpiredTime": terminal if status == "Expired" else "",
        "RestartPolicy": spec.restart_policy,
        "SecurityGroupId": spec.security_group_id,
        "VSwitchId": spec.vswitch_id,
        "ResourceGroupId": spec.resource_group_id,
        "Tags": [{"Key": key, "Value": value} for key, value in spec.tags],
        "Events": [render_event(event) for event in recent_events(view)] if with_events else [],
        "Containers": [
            render_container(run.spec, container_view)
            for run, container_view in zip(group.containers, view.containers, strict=True)
        ],
        "InitContainers": [
            render_container(run.spec, container_view)
            for run, container_view in zip(group.init_containers, view.init_containers, strict=True)
        ],
        "Volumes": [_volume(volume) for volume in spec.volumes],
        "EphemeralStorage": spec.ephemeral_storage or 0,
        "EciSecurityContext": {"Sysctls": [{"Name": name, "Value": value} for name, value in spec.sysctls]},
        "DnsConfig": {
            "NameServers": list(spec.dns_config.get("NameServer", [])),
            "Searches": list(spec.dns_config.get("Search", [])),
            "Options": [dict(option) for option in spec.dns_config.get("Option", [])],
        },
        "DnsPolicy": settings.dns_policy,
        "HostAliases": [{"Ip": ip, "Hostnames": list(names)} for ip, names in settings.host_aliases],
        "ComputeCategory": settings.compute_categories[0] if settings.compute_categories else "",
        "SpotPriceLimit": settings.spot_price_limit or 0.0,
        "RamRoleName": settings.ram_role_name,
    }


def _k8s_state(state: dict[str, Any]) -> dict[str, Any]:
    kind = state.get("State")
    if kind == "Running":
        return {"Running": {"StartedAt": state.get("StartTime", "")}}
    if kind == "Terminated":
        return {
            "Terminated": {
                "ExitCode": state.get("ExitCode", 0),
                "Reason": state.get("Reason", ""),
                "StartedAt": state.get("StartTime", ""),
                "FinishedAt": state.get("FinishTime", ""),
            }
        }
    if kind == "Waiting":
        return {"Waiting": {"Reason": state.get("Reason", ""), "Message": state.get("Message", "")}}
    return {}


def render_status(group: Group, view: GroupView) -> dict[str, Any]:
    spec = group.spec
    all_ready = bool(view.containers) and all(container.ready for container in view.containers)
    scheduled = view.status not in ("Scheduling", "ScheduleFailed")
    initialized = scheduled and all(
        container.state.get("State") == "Terminated" and container.state.get("ExitCode") == 0
        for container in view.init_containers
    )
    since = iso8601(view.since)
    conditions = [
        {"Type": "PodScheduled", "Status": "True" if scheduled else "False", "LastTransitionTime": since},
        {"Type": "Initialized", "Status": "True" if initialized else "False", "LastTransitionTime": since},
        {"Type": "ContainersReady", "Status": "True" if all_ready else "False", "LastTransitionTime": since},
        {"Type": "Ready", "Status": "True" if all_ready else "False", "LastTransitionTime": since},
    ]
    statuses = [
        {
            "Name": run.spec.name,
            "Image": run.spec.image,
            "Ready": container.ready,
            "Started": container.state.get("State") == "Running",
            "RestartCount": container.restart_count,
            "State": _k8s_state(container.state),
            "LastState": _k8s_state(container.previous or {}),
        }
        for run, container in zip(group.containers, view.containers, strict=True)
    ]
    allocated = view.status not in ("Scheduling", "ScheduleFailed")
    return {
        "ContainerGroupId": group.container_group_id,
        "ContainerGroupName": spec.name,
        "Status": view.status,
        "RegionId": spec.region_id,
        "ZoneId": spec.zone_id,
        "SecurityGroupId": spec.security_group_id,
        "VSwitchId": spec.vswitch_id,
        "Tags": [{"Key": key, "Value": value} for key, value in spec.tags],
        "PodStatus": {
            "Phase": POD_PHASES.get(view.status, "Unknown"),
            "Conditions": conditions,
            "ContainerStatuses": statuses,
            "PodIp": group.intranet_ip if allocated else "",
            "StartTime": iso8601(group.scheduled_at) if scheduled else "",
        },
    }
