"""What a container group is made of, read from (and checked against) the request parameters."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from eci_emulator import errors
from eci_emulator.api_parameters import ACTION_PARAMETERS
from eci_emulator.container_settings import (
    UPDATE_SPELLINGS,
    Probe,
    check_container_settings,
    check_sysctls,
    held_spelling,
    hook,
    probe,
    security_context,
)
from eci_emulator.placement import CreateSettings, check_gpu, parse_create_settings
from eci_emulator.registries import AcrRegistryInfo, RegistryCredential
from eci_emulator.validation import DNS_LABEL, Reader, check_count
from eci_emulator.volumes import (
    check_mounts,
    check_volumes,
    mount_view,
    mounted_files,
    updated_volumes,
    volume_view,
)

# Test knobs: environment variables of a container that steer what the emulator makes it do.
EXIT_CODE_KNOB = "ECI_EMULATOR_EXIT_CODE"
RUN_SECONDS_KNOB = "ECI_EMULATOR_RUN_SECONDS"
READINESS_FAILS_KNOB = "ECI_EMULATOR_READINESS_FAILS"
"""true: the container's readiness probe fails at every period (the container runs, never Ready)."""
LIVENESS_FAILS_KNOB = "ECI_EMULATOR_LIVENESS_FAILS"
"""true: the container's liveness probe fails; the container is killed FailureThreshold periods after its
InitialDelaySeconds and restarted as the restart policy says."""

# ECI: 2-128 characters, lower-case letters, digits and hyphens, no hyphen at either end.
_GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,126}[a-z0-9]")
MAX_TAGS = 20
MAX_VSWITCHES = 10
# List and length limits of CreateContainerGroup / UpdateContainerGroup (help.aliyun.com/document_detail/
# 111670.html and the CreateContainerGroup reference; the same texts are in Alibaba's generated SDK models):
# - Arg.N of a container or init container: "You can specify up to 10 arguments."
# - EnvironmentVar.N.Value: "The value can be up to 256 characters in length."
# - Container.N: at most 20 containers in a group, the bound this project holds ECI to (the operator's
#   CRD has maxItems 20); the reference pages consulted do not spell the number out.
# - AcrRegistryInfo.N: the reference is silent; 10 is the emulator's choice, matching the operator's bound
#   (acr_eci_operator.models.MAX_ACR_REGISTRY_INFOS).
# A request over a limit is refused with InvalidParameter naming the parameter.
MAX_CONTAINERS = 20
MAX_ARGS = 10
MAX_ENV_VALUE = 256
MAX_ACR_REGISTRY_INFOS = 10
# Group-level create-only settings. TerminationGracePeriodSeconds: the reference gives seconds (example 60)
# and no range or default; the emulator takes any non-negative integer and, when none was sent, Kubernetes's
# 30 as the grace period of a deletion (see Backend.deletions). EphemeralStorage: GiB added to the free 30
# GiB, no range in the reference; the emulator takes 1 to 32768 (the largest disk the reference names).
DEFAULT_GRACE_PERIOD_SECONDS = 30
MAX_EPHEMERAL_STORAGE_GIB = 32768


def _knob_integer(value: str) -> bool:
    return re.fullmatch(r"-?\d+", value) is not None


def _knob_seconds(value: str) -> bool:
    try:
        return float(value) >= 0
    except ValueError:
        return False


_KNOBS: dict[str, tuple[Callable[[str], bool], str]] = {
    EXIT_CODE_KNOB: (_knob_integer, "must be an integer"),
    RUN_SECONDS_KNOB: (_knob_seconds, "must be a non-negative number"),
    READINESS_FAILS_KNOB: (lambda value: value in ("true", "false"), "must be true or false"),
    LIVENESS_FAILS_KNOB: (lambda value: value in ("true", "false"), "must be true or false"),
}


def _create_only(kind: str) -> frozenset[str]:
    """A container's sub-parameters that CreateContainerGroup takes and UpdateContainerGroup does not."""

    def keys(action: str) -> set[str]:
        prefix = f"{kind}.N."
        return {
            name[len(prefix) :].split(".")[0] for name in ACTION_PARAMETERS[action] if name.startswith(prefix)
        }

    spelt_otherwise = set(UPDATE_SPELLINGS.values())
    return frozenset(keys("CreateContainerGroup") - keys("UpdateContainerGroup") - spelt_otherwise)


CREATE_ONLY_CONTAINER_KEYS = {kind: _create_only(kind) for kind in ("Container", "InitContainer")}


@dataclass(frozen=True)
class ContainerSpec:
    """One Container.N or InitContainer.N; `raw` keeps every sub-parameter as sent (nested)."""

    raw: dict[str, Any]
    init: bool = False

    @property
    def name(self) -> str:
        return str(self.raw["Name"])

    @property
    def image(self) -> str:
        return str(self.raw["Image"])

    def env(self) -> dict[str, str]:
        return {
            str(item.get("Key", "")): str(item.get("Value", ""))
            for item in self.raw.get("EnvironmentVar", [])
        }

    @cached_property
    def exit_code(self) -> int | None:
        value = self.env().get(EXIT_CODE_KNOB)
        return None if value is None else int(value)

    @cached_property
    def run_seconds(self) -> float | None:
        value = self.env().get(RUN_SECONDS_KNOB)
        return None if value is None else float(value)

    @cached_property
    def liveness_probe(self) -> Probe | None:
        return probe(self.raw, "LivenessProbe")

    @cached_property
    def readiness_probe(self) -> Probe | None:
        return probe(self.raw, "ReadinessProbe")

    @cached_property
    def liveness_fails(self) -> bool:
        return self.liveness_probe is not None and self.env().get(LIVENESS_FAILS_KNOB) == "true"

    @cached_property
    def readiness_fails(self) -> bool:
        return self.readiness_probe is not None and self.env().get(READINESS_FAILS_KNOB) == "true"

    def to_dict(self, volumes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The container as the group holds it; `volumes` are the group's, by name (for Files)."""
        raw = self.raw
        mounts = raw.get("VolumeMount", [])
        liveness, readiness = self.liveness_probe, self.readiness_probe
        return {
            "Name": self.name,
            "Image": self.image,
            "EnvironmentVars": [
                {
                    "Key": item.get("Key", ""),
                    "Value": item.get("Value", ""),
                    "FieldPath": item.get("FieldRef", {}).get("FieldPath"),
                }
                for item in raw.get("EnvironmentVar", [])
            ],
            "VolumeMounts": [mount_view(mount) for mount in mounts],
            "Files": mounted_files(mounts, volumes),
            "LivenessProbe": None if liveness is None else liveness.to_dict(),
            "ReadinessProbe": None if readiness is None else readiness.to_dict(),
            "PostStart": hook(raw, "PostStart"),
            "PreStop": hook(raw, "PreStop"),
            "SecurityContext": security_context(raw),
            "Parameters": copy.deepcopy(raw),
        }


@dataclass(frozen=True)
class GroupSpec:
    """The updatable and fixed settings of a group, as the last Create/Update left them."""

    name: str
    region_id: str
    zone_id: str
    restart_policy: str
    containers: tuple[ContainerSpec, ...]
    init_containers: tuple[ContainerSpec, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    acr_registry_infos: tuple[AcrRegistryInfo, ...] = ()
    credentials: tuple[RegistryCredential, ...] = ()
    cpu: float = 2.0
    memory: float = 4.0
    security_group_id: str = ""
    vswitch_id: str = ""
    instance_type: str = ""
    spot_strategy: str = "NoSpot"
    volumes: tuple[dict[str, Any], ...] = ()
    dns_config: dict[str, Any] = field(default_factory=dict)
    internet: bool = False
    resource_group_id: str = ""
    termination_grace_period_seconds: int | None = None
    ephemeral_storage: int | None = None
    sysctls: tuple[tuple[str, str], ...] = ()
    settings: CreateSettings = field(default_factory=CreateSettings)
    """The create-only placement, network, spot, image-cache and deadline settings (placement.py)."""

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(container.image for container in (*self.init_containers, *self.containers))

    def to_dict(self) -> dict[str, Any]:
        """What the group holds, as the admin API shows it (GET /_emulator/groups/{id}/spec).

        Volumes with their typed settings (a ConfigFileVolume's files decoded, with their mode), and each
        container's mounts, the configuration files it sees by absolute path, probes (defaults filled in),
        lifecycle hooks and security context; the raw nested parameters under "Parameters". A setting that
        was not sent is None.
        """
        volumes = {str(volume["Name"]): volume for volume in self.volumes}
        return {
            "ContainerGroupName": self.name,
            "RegionId": self.region_id,
            "ZoneId": self.zone_id,
            "RestartPolicy": self.restart_policy,
            "Cpu": self.cpu,
            "Memory": self.memory,
            "TerminationGracePeriodSeconds": self.termination_grace_period_seconds,
            "EphemeralStorage": self.ephemeral_storage,
            "Sysctls": [{"Name": name, "Value": value} for name, value in self.sysctls],
            "Volumes": [volume_view(volume) for volume in self.volumes],
            "Containers": [container.to_dict(volumes) for container in self.containers],
            "InitContainers": [container.to_dict(volumes) for container in self.init_containers],
            "InstanceType": self.instance_type,
            "VSwitchId": self.vswitch_id,
            "SpotStrategy": self.spot_strategy,
            "Settings": self.settings.to_dict(),
        }


def _check_container(reader: Reader, init: bool) -> ContainerSpec:
    name = reader.required("Name")
    if not DNS_LABEL.fullmatch(name):
        raise errors.invalid_parameter(
            f"The parameter {reader.name('Name')} ({name!r}) must be 1-63 lower-case letters, digits or "
            "hyphens, starting and ending with a letter or digit."
        )
    reader.required("Image")
    reader.number("Cpu")
    reader.number("Memory")
    reader.integer("Gpu", 0, 64)
    for port in reader.items("Port"):
        port.integer("Port", 1, 65535)
    args = reader.strings("Arg")
    if len(args) > MAX_ARGS:
        raise errors.invalid_parameter(
            f"The parameter {reader.name('Arg')}.N takes at most {MAX_ARGS} arguments; got {len(args)}."
        )
    for variable in reader.items("EnvironmentVar"):
        key = variable.required("Key")
        value = variable.text("Value", max_length=MAX_ENV_VALUE) or ""
        if key in _KNOBS and not _KNOBS[key][0](value):
            raise errors.invalid_parameter(f"{variable.name('Value')}: {key} {_KNOBS[key][1]}.")
    check_mounts(reader)
    check_container_settings(reader)
    return ContainerSpec(raw=held_spelling(dict(reader.node)), init=init)


def parse_containers(params: Reader, key: str, init: bool) -> tuple[ContainerSpec, ...]:
    containers = tuple(_check_container(item, init) for item in params.items(key))
    if not init:
        _check_container_count(len(containers))
    return containers


def _check_container_count(count: int) -> None:
    check_count("Container.N", count, MAX_CONTAINERS, "containers")


def _check_acr_registry_info_count(count: int) -> None:
    check_count("AcrRegistryInfo.N", count, MAX_ACR_REGISTRY_INFOS, "entries")


def parse_tags(params: Reader) -> tuple[tuple[str, str], ...]:
    tags: list[tuple[str, str]] = []
    for tag in params.items("Tag"):
        key = tag.required("Key", max_length=128)
        if key.startswith(("aliyun", "acs:")) or "http://" in key or "https://" in key:
            raise errors.invalid_parameter(
                f"The parameter {tag.name('Key')} ({key!r}) must not start with aliyun or acs: "
                "nor contain http:// or https://."
            )
        value = tag.text("Value", max_length=128) or ""
        if any(existing == key for existing, _ in tags):
            raise errors.invalid_parameter(f"The tag key {key!r} is given twice.")
        tags.append((key, value))
    if len(tags) > MAX_TAGS:
        raise errors.invalid_parameter(f"At most {MAX_TAGS} tags are allowed; got {len(tags)}.")
    return tuple(tags)


def parse_acr_registry_infos(params: Reader) -> tuple[AcrRegistryInfo, ...]:
    infos = []
    for entry in params.items("AcrRegistryInfo"):
        infos.append(
            AcrRegistryInfo(
                instance_id=entry.required("InstanceId"),
                instance_name=entry.text("InstanceName") or None,
                region_id=entry.text("RegionId") or None,
                domains=tuple(entry.strings("Domain")),
            )
        )
    _check_acr_registry_info_count(len(infos))
    return tuple(infos)


def parse_credentials(params: Reader) -> tuple[RegistryCredential, ...]:
    return tuple(
        RegistryCredential(
            server=entry.required("Server"),
            username=entry.required("UserName"),
            password=entry.required("Password"),
        )
        for entry in params.items("ImageRegistryCredential")
    )


def _check_names_unique(containers: Sequence[ContainerSpec]) -> None:
    seen: set[str] = set()
    for container in containers:
        if container.name in seen:
            raise errors.invalid_parameter(f"The container name {container.name!r} is used twice.")
        seen.add(container.name)


def _check_mounts(spec: GroupSpec) -> None:
    volume_names = {str(volume.get("Name")) for volume in spec.volumes}
    for kind, containers in (("Container", spec.containers), ("InitContainer", spec.init_containers)):
        for index, container in enumerate(containers, start=1):
            for position, mount in enumerate(container.raw.get("VolumeMount", []), start=1):
                if mount.get("Name") not in volume_names:
                    raise errors.invalid_parameter(
                        f"The parameter {kind}.{index}.VolumeMount.{position}.Name ({mount.get('Name')!r}, "
                        f"container {container.name}) names no volume of the group (Volume.N.Name)."
                    )


def _sum_resources(containers: Sequence[ContainerSpec], key: str) -> float:
    return sum(float(container.raw.get(key, 0) or 0) for container in containers)


def parse_create(params: Reader) -> GroupSpec:
    region_id = params.required("RegionId")
    name = params.required("ContainerGroupName")
    if not _GROUP_NAME.fullmatch(name):
        raise errors.invalid_parameter(
            f"The parameter ContainerGroupName ({name!r}) must be 2-128 lower-case letters, digits or "
            "hyphens, starting and ending with a letter or digit."
        )
    containers = parse_containers(params, "Container", init=False)
    if not containers:
        raise errors.missing_parameter("Container.1.Name")
    init_containers = parse_containers(params, "InitContainer", init=True)
    _check_names_unique((*containers, *init_containers))
    vswitch_id = params.text("VSwitchId") or ""
    if len([item for item in vswitch_id.split(",") if item]) > MAX_VSWITCHES:
        raise errors.invalid_parameter(f"VSwitchId takes at most {MAX_VSWITCHES} vSwitch ids.")
    cpu = params.number("Cpu", minimum=0.01)
    memory = params.number("Memory", minimum=0.01)
    params.integer("Ipv6AddressCount", 0)
    spot_strategy = params.text("SpotStrategy") or "NoSpot"
    settings = parse_create_settings(params, spot_strategy)
    _check_gpu((*containers, *init_containers), settings.instance_types)
    spec = GroupSpec(
        name=name,
        region_id=region_id,
        zone_id=params.text("ZoneId") or f"{region_id}-a",
        restart_policy=params.text("RestartPolicy") or "Always",
        containers=containers,
        init_containers=init_containers,
        tags=parse_tags(params),
        acr_registry_infos=parse_acr_registry_infos(params),
        credentials=parse_credentials(params),
        cpu=cpu if cpu is not None else (_sum_resources(containers, "Cpu") or 2.0),
        memory=memory if memory is not None else (_sum_resources(containers, "Memory") or 4.0),
        security_group_id=params.text("SecurityGroupId") or "",
        vswitch_id=vswitch_id,
        instance_type=",".join(settings.instance_types),
        spot_strategy=spot_strategy,
        volumes=check_volumes(params, create=True),
        dns_config=dict(params.node.get("DnsConfig", {})),
        internet=settings.auto_create_eip or bool(settings.eip_instance_id),
        resource_group_id=params.text("ResourceGroupId") or "",
        termination_grace_period_seconds=params.integer("TerminationGracePeriodSeconds", 0),
        ephemeral_storage=params.integer("EphemeralStorage", 1, MAX_EPHEMERAL_STORAGE_GIB),
        sysctls=check_sysctls(params),
        settings=settings,
    )
    _check_mounts(spec)
    return spec


def _check_gpu(containers: Sequence[ContainerSpec], instance_types: Sequence[str]) -> None:
    check_gpu(
        [(container.name, int(container.raw.get("Gpu", 0) or 0)) for container in containers], instance_types
    )


def _merge_containers(
    current: Sequence[ContainerSpec], given: Sequence[ContainerSpec]
) -> tuple[ContainerSpec, ...]:
    merged = {container.name: container for container in current}
    for container in given:
        old = merged.get(container.name)
        merged[container.name] = (
            container if old is None else ContainerSpec(raw={**old.raw, **container.raw}, init=container.init)
        )
    return tuple(merged.values())


def _keep_create_only(
    current: Sequence[ContainerSpec], given: Sequence[ContainerSpec], kind: str
) -> tuple[ContainerSpec, ...]:
    """The containers of a RenewUpdate, each keeping the create-only settings (SecurityContextPrivileged,
    ...RunAsGroup, ...RunAsNonRoot, EnvironmentVarHide, TerminationMessage*) of the container it replaces.

    UpdateContainerGroup cannot send them, so it cannot change them: the emulator's reading of the reference,
    which lists them for CreateContainerGroup only.
    """
    held = {container.name: container.raw for container in current}
    keys = CREATE_ONLY_CONTAINER_KEYS[kind]
    return tuple(
        replace(
            container,
            raw={
                **{key: held[container.name][key] for key in keys & held[container.name].keys()},
                **container.raw,
            },
        )
        if container.name in held
        else container
        for container in given
    )


def parse_update(params: Reader, current: GroupSpec) -> GroupSpec:
    """Apply an UpdateContainerGroup: RenewUpdate replaces each list given, IncrementalUpdate merges.

    A list (or Cpu/Memory) not sent is kept under both types. The reference (UpdateType, help.aliyun.com/
    document_detail/111670.html) says RenewUpdate is a full update in which every related parameter must be
    given and a list is replaced as a whole, and that under IncrementalUpdate what is not sent stays as it
    was; it is silent on a list left out of a RenewUpdate, and the RPC form cannot send an empty list. The
    emulator's choice is the one that cannot make a client believe a removal took effect: keep it.
    What only CreateContainerGroup sets survives either type (volumes.updated_volumes, _keep_create_only).
    """
    incremental = params.text("UpdateType") == "IncrementalUpdate"
    changes: dict[str, Any] = {}
    if params.has("Container"):
        given = parse_containers(params, "Container", init=False)
        changes["containers"] = (
            _merge_containers(current.containers, given)
            if incremental
            else _keep_create_only(current.containers, given, "Container")
        )
        _check_container_count(len(changes["containers"]))
    if params.has("InitContainer"):
        given = parse_containers(params, "InitContainer", init=True)
        changes["init_containers"] = (
            _merge_containers(current.init_containers, given)
            if incremental
            else _keep_create_only(current.init_containers, given, "InitContainer")
        )
    if params.has("Tag"):
        tags = parse_tags(params)
        if incremental:
            merged = dict(current.tags)
            merged.update(tags)
            tags = tuple(merged.items())
            if len(tags) > MAX_TAGS:
                raise errors.invalid_parameter(f"At most {MAX_TAGS} tags are allowed; got {len(tags)}.")
        changes["tags"] = tags
    if params.has("AcrRegistryInfo"):
        infos = parse_acr_registry_infos(params)
        changes["acr_registry_infos"] = (*current.acr_registry_infos, *infos) if incremental else infos
        _check_acr_registry_info_count(len(changes["acr_registry_infos"]))
    if params.has("ImageRegistryCredential"):
        credentials = parse_credentials(params)
        changes["credentials"] = (*current.credentials, *credentials) if incremental else credentials
    if params.has("Volume"):
        changes["volumes"] = updated_volumes(
            current.volumes, check_volumes(params, create=False), incremental
        )
    if params.has("DnsConfig"):
        changes["dns_config"] = dict(params.node["DnsConfig"])
    resource_group_id = params.text("ResourceGroupId")
    if resource_group_id:
        changes["resource_group_id"] = resource_group_id  # UpdateContainerGroup moves the group
    policy = params.text("RestartPolicy")
    if policy:
        changes["restart_policy"] = policy
    cpu = params.number("Cpu", minimum=0.01)
    if cpu is not None:
        changes["cpu"] = cpu
    memory = params.number("Memory", minimum=0.01)
    if memory is not None:
        changes["memory"] = memory
    spec = replace(current, **changes)
    _check_names_unique((*spec.containers, *spec.init_containers))
    _check_gpu((*spec.containers, *spec.init_containers), [spec.instance_type] if spec.instance_type else [])
    _check_mounts(spec)
    return spec
