"""Pure functions from an AcrContainerGroup spec to ECI wire parameters, and the checks around them.

Parameter names are those of the ECI API reference and the ACR password-free pull document, to the
letter (`Container.1.Image`, `AcrRegistryInfo.1.Domain.2`, ...); every value is a string.
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from acr_eci_operator.models import (
    ANNOTATION_INSTANCE_ID,
    ANNOTATION_INSTANCE_IDS,
    GROUP_NAME_PATTERN,
    IMMUTABLE_FIELDS,
    MAX_ACR_REGISTRY_INFOS,
    MAX_CONFIG_FILE_BYTES,
    MAX_CONFIG_VOLUME_BYTES,
    MAX_ENV_NAME,
    MAX_ENV_VALUE,
    SAFE_SYSCTLS,
    AcrContainerGroupSpec,
    AcrRegistryInfo,
    ConfigMapVolumeSource,
    Container,
    LifecycleHandler,
    Probe,
    ReferenceKind,
    ReferenceMissing,
    ReferenceNotText,
    SecretVolumeSource,
    SpecError,
    Volume,
    annotation_registries,
    matches,
)

__all__ = [
    "IMMUTABLE_FIELDS",
    "REDACTED",
    "UNCOVERED_CONSEQUENCE",
    "Defaults",
    "Objects",
    "UncoveredImage",
    "acr_instance_name",
    "create_parameters",
    "effective_registries",
    "format_float",
    "image_domain",
    "immutable_changes",
    "redact",
    "uncovered_acr_images",
    "update_parameters",
]

REDACTED = "***"

VOLUME_NAME = re.compile(r"^Volume\.\d+\.Name$")
VOLUME_PARAMETER = re.compile(r"^Volume\.(\d+)\.(.+)$")
ENV_FROM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""The variable names envFrom makes: ECI's rule for EnvironmentVar.N.Key (letters, digits and _, not
starting with a digit)."""

Objects = Mapping[tuple[ReferenceKind, str], Mapping[str, bytes] | None]
"""The Secrets and ConfigMaps a spec refers to, as read: (kind, name) -> data (None, or no entry: absent).
A Secret's data is its decoded bytes; a ConfigMap's is `data` (UTF-8) and `binaryData` together."""

# `<instance name>-registry[-vpc].<region>.cr.aliyuncs.com`: the domains of an ACR EE instance.
ACR_EE_DOMAIN = re.compile(
    r"^(?P<name>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-registry(?:-vpc)?\.(?P<region>[a-z0-9-]+)\.cr\.aliyuncs\.com\Z"
)


@dataclass(frozen=True)
class Defaults:
    """Operator-wide values for what a spec may leave out."""

    region_id: str
    security_group_id: str | None = None
    v_switch_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UncoveredImage:
    """An image on an ACR Enterprise Edition domain that nothing in the spec lets ECI pull."""

    field: str
    image: str
    domain: str
    why: str = ""
    """Why each AcrRegistryInfo entry does not cover the image (empty when there is none)."""

    @property
    def problem(self) -> str:
        """What is wrong with the field, as the RegistryAccess condition and the linter say it."""
        return f"{self.image}: no AcrRegistryInfo entry or imageRegistryCredentials covers {self.domain}" + (
            f" ({self.why})" if self.why else ""
        )


UNCOVERED_CONSEQUENCE = "the pull fails unless the instance belongs to the same account"
"""Why an uncovered image is a warning, not an error: ECI may still pull it."""


def format_float(value: float) -> str:
    """ECI Float parameters (Cpu, Memory) as plain decimals: `2.0`, `0.5`, `1.25`, `0.0000001` (never
    Python's exponent form `1e-07`)."""
    number = float(value)
    if number.is_integer():
        return f"{int(number)}.0"
    return format(decimal.Decimal(repr(number)), "f")


def effective_registries(
    spec: AcrContainerGroupSpec, annotations: Mapping[str, str]
) -> list[AcrRegistryInfo]:
    """The AcrRegistryInfo entries sent to ECI: the spec's, then annotation instances not already listed."""
    registries = list(spec.acr_registry_infos)
    listed = {registry.instance_id for registry in registries}
    for registry in annotation_registries(annotations):
        if registry.instance_id not in listed:
            listed.add(registry.instance_id)
            registries.append(registry)
    if len(registries) > MAX_ACR_REGISTRY_INFOS:
        # (named by the annotation that adds the entries: -ids when set, else -id)
        annotation = (
            ANNOTATION_INSTANCE_IDS if ANNOTATION_INSTANCE_IDS in annotations else ANNOTATION_INSTANCE_ID
        )
        raise SpecError(
            f"metadata.annotations[{annotation}]",
            f"{len(registries)} ACR instances in all with spec.acrRegistryInfos; at most "
            f"{MAX_ACR_REGISTRY_INFOS} AcrRegistryInfo entries can be sent",
        )
    return registries


def create_parameters(
    spec: AcrContainerGroupSpec,
    *,
    name: str,
    annotations: Mapping[str, str],
    defaults: Defaults,
    objects: Objects,
    client_token: str,
    owner_tags: Mapping[str, str],
) -> dict[str, str]:
    """CreateContainerGroup parameters (RegionId included; the SDK's common parameters not).

    `name` is metadata.name (the default ContainerGroupName); `objects` holds every Secret and ConfigMap
    of `models.references(spec)`; `owner_tags` are the operator's ownership tags.
    """
    group_name = spec.container_group_name or name
    if not matches(GROUP_NAME_PATTERN, group_name):
        raise SpecError(
            "spec.containerGroupName",
            f"metadata.name {name!r} is not a valid ECI container group name (2 to 128 lowercase letters, "
            "digits and hyphens, not starting or ending with a hyphen): set spec.containerGroupName",
        )
    if (
        spec.region_id
        and spec.region_id != defaults.region_id
        and not (spec.security_group_id and spec.v_switch_ids)
    ):
        raise SpecError(
            "spec.regionId",
            f"{spec.region_id} is not the operator's region {defaults.region_id}, whose default security "
            "group and vSwitches do not exist there: set spec.securityGroupId and spec.vSwitchIds of that "
            "region",
        )
    security_group_id = spec.security_group_id or defaults.security_group_id
    if not security_group_id:
        raise SpecError(
            "spec.securityGroupId", "not set, and the operator has no default (ECI_DEFAULT_SECURITY_GROUP_ID)"
        )
    v_switch_ids = spec.v_switch_ids or defaults.v_switch_ids
    if not v_switch_ids:
        raise SpecError(
            "spec.vSwitchIds", "not set, and the operator has no default (ECI_DEFAULT_VSWITCH_IDS)"
        )

    params: dict[str, str] = {
        "RegionId": spec.region_id or defaults.region_id,
        "ClientToken": client_token,
        "ContainerGroupName": group_name,
        "SecurityGroupId": security_group_id,
        "VSwitchId": ",".join(v_switch_ids),
    }
    if spec.zone_id:
        params["ZoneId"] = spec.zone_id
    if spec.instance_type or spec.instance_types:
        params["InstanceType"] = spec.instance_type or ",".join(spec.instance_types)
    params.update(_placement_parameters(spec))
    if spec.termination_grace_period_seconds is not None:
        params["TerminationGracePeriodSeconds"] = str(spec.termination_grace_period_seconds)
    if spec.ephemeral_storage is not None:
        params["EphemeralStorage"] = str(spec.ephemeral_storage)
    if spec.security_context is not None:
        sysctls = sorted(spec.security_context.sysctls, key=lambda sysctl: sysctl.name)  # order is no change
        safe = [sysctl for sysctl in sysctls if sysctl.name in SAFE_SYSCTLS]
        host = [sysctl for sysctl in sysctls if sysctl.name not in SAFE_SYSCTLS]
        for prefix, sysctls in (("SecurityContext", safe), ("HostSecurityContext", host)):
            for index, sysctl in enumerate(sysctls, start=1):
                params[f"{prefix}.Sysctl.{index}.Name"] = sysctl.name
                params[f"{prefix}.Sysctl.{index}.Value"] = sysctl.value
    params.update(_mutable_parameters(spec, annotations, objects, owner_tags))
    return params


UNSENDABLE_REMOVALS = (
    "spec.cpu",
    "spec.memory",
    "spec.initContainers",
    "spec.imageRegistryCredentials",
    "spec.acrRegistryInfos",
    "spec.volumes",
    "spec.dnsConfig",
    "spec.resourceGroupId",
)
"""Fields whose removal UpdateContainerGroup cannot carry.

The UpdateContainerGroup reference (help.aliyun.com/document_detail/111670.html, row UpdateType; the same
text in the SDKs' UpdateContainerGroupRequest) says: "RenewUpdate: full updates. You must specify all
relevant parameters ... For a parameter of the list type, you must specify all the items" and
"IncrementalUpdate: incremental updates. You may specify only the parameter that you want to update. Other
related parameters remain unchanged." It does not say what RenewUpdate does with a list, or with
Cpu/Memory, that is not sent at all, and the RPC form has no way to send an empty list (`X.N` with no N).
So a removal is never assumed to reach ECI: the emulator keeps what is not sent, and the operator treats
removing every entry of one of these fields (or the group-level cpu/memory) as a change UpdateContainerGroup
cannot make: the group is replaced under `updateStrategy: Recreate`, otherwise the resource says so.
"""


def present_removables(spec: AcrContainerGroupSpec, annotations: Mapping[str, str]) -> tuple[str, ...]:
    """Which of UNSENDABLE_REMOVALS the spec (and the annotation) sets, as status.appliedLists keeps."""
    present = {
        "spec.cpu": spec.cpu is not None,
        "spec.memory": spec.memory is not None,
        "spec.initContainers": bool(spec.init_containers),
        "spec.imageRegistryCredentials": bool(spec.image_registry_credentials),
        "spec.acrRegistryInfos": bool(effective_registries(spec, annotations)),
        "spec.volumes": bool(spec.volumes),
        "spec.dnsConfig": spec.dns_config is not None,
        "spec.resourceGroupId": spec.resource_group_id is not None,
    }
    return tuple(name for name in UNSENDABLE_REMOVALS if present[name])


CREATE_ONLY_PARAMETER = re.compile(
    r"^(Volume\.\d+\.ConfigFileVolume\.(DefaultMode|ConfigFileToPath\.\d+\.Mode)"
    r"|(Init)?Container\.\d+\.SecurityContext(Privileged|RunAsGroup|RunAsNonRoot))$"
)
"""Parameters of CreateContainerGroup's lists that UpdateContainerGroup does not take (both SDKs' request
models): file modes, and the privileged / run-as-group / run-as-non-root settings. `create_only_fields`
turns them into fields whose change replaces the group or is refused; updates leave them out."""


def update_parameters(
    spec: AcrContainerGroupSpec,
    *,
    container_group_id: str,
    annotations: Mapping[str, str],
    objects: Objects,
    client_token: str,
    owner_tags: Mapping[str, str],
    defaults: Defaults | None = None,
) -> dict[str, str]:
    """UpdateContainerGroup parameters with UpdateType RenewUpdate: every mutable field, in full.

    RegionId is spec.regionId, else `defaults.region_id`; with neither it is left for the caller to set
    (the region the group was created in). Create-only parameters are left out, and so is every Volume.N
    when a volume is a disk (UpdateContainerGroup has no DiskVolume parameters, and a RenewUpdate list
    replaces the whole list: the volumes are kept by not sending them, and `create_only_fields` makes any
    change of them a replacement). Post-start hook headers take the name UpdateContainerGroup gives them
    (`LifecyclePostStartHandlerHttpGetHttpHeaders.N`, plural, in both SDKs' update models).
    """
    params: dict[str, str] = {}
    region_id = spec.region_id or (defaults.region_id if defaults else None)
    if region_id:
        params["RegionId"] = region_id
    params |= {
        "ContainerGroupId": container_group_id,
        "UpdateType": "RenewUpdate",
        "ClientToken": client_token,
    }
    has_disk = any(volume.disk is not None for volume in spec.volumes)
    for name, value in _mutable_parameters(spec, annotations, objects, owner_tags).items():
        if CREATE_ONLY_PARAMETER.match(name) or (has_disk and name.startswith("Volume.")):
            continue
        params[name.replace("PostStartHandlerHttpGetHttpHeader.", "PostStartHandlerHttpGetHttpHeaders.")] = (
            value
        )
    return params


def create_only_fields(spec: AcrContainerGroupSpec, create_params: Mapping[str, str]) -> dict[str, str]:
    """Settings inside lists that UpdateContainerGroup cannot change, keyed by their path under `spec`
    (`containers[app].securityContext.privileged`, `volumes[config].configMap.defaultMode`, ...): kept in
    status.applied beside the immutable top-level fields, so that a change replaces the group
    (updateStrategy Recreate) or is refused, never silently dropped. While a volume is a disk, the
    volumes as a whole (contents included) are such a setting (`volumes`)."""
    fields: dict[str, str] = {}
    for list_name, containers in (("containers", spec.containers), ("initContainers", spec.init_containers)):
        for container in containers:
            context = container.security_context
            if context is None:
                continue
            for name, value in (
                ("privileged", context.privileged),
                ("runAsGroup", context.run_as_group),
                ("runAsNonRoot", context.run_as_non_root),
            ):
                if value is not None:
                    fields[f"{list_name}[{container.name}].securityContext.{name}"] = json.dumps(value)
    sent = {
        value: key.removesuffix(".Name") for key, value in create_params.items() if VOLUME_NAME.match(key)
    }
    for volume in spec.volumes:
        prefix = sent.get(volume.name)
        kind = "secret" if volume.secret is not None else "configMap"
        if prefix is None or (volume.secret is None and volume.config_map is None):
            continue
        # The modes as sent (an optional source sent as an empty directory carries none).
        config = f"{prefix}.ConfigFileVolume"
        if f"{config}.DefaultMode" in create_params:
            fields[f"volumes[{volume.name}].{kind}.defaultMode"] = create_params[f"{config}.DefaultMode"]
        index = 1
        while f"{config}.ConfigFileToPath.{index}.Path" in create_params:
            mode = create_params.get(f"{config}.ConfigFileToPath.{index}.Mode")
            if mode is not None:
                path = create_params[f"{config}.ConfigFileToPath.{index}.Path"]
                fields[f"volumes[{volume.name}].{kind}.items[{path}].mode"] = mode
            index += 1
    if any(volume.disk is not None for volume in spec.volumes):
        # By volume name: reordering the list is no change.
        by_name: dict[str, dict[str, str]] = {}
        for key, sent_value in create_params.items():
            match = VOLUME_PARAMETER.match(key)
            if match:
                volume_name = create_params[f"Volume.{match.group(1)}.Name"]
                by_name.setdefault(volume_name, {})[match.group(2)] = sent_value
        digest = hashlib.sha256(json.dumps(by_name, sort_keys=True).encode()).hexdigest()[:16]
        fields["volumes"] = f"sha256:{digest}"
    return fields


def _mutable_parameters(
    spec: AcrContainerGroupSpec,
    annotations: Mapping[str, str],
    objects: Objects,
    owner_tags: Mapping[str, str],
) -> dict[str, str]:
    """What CreateContainerGroup and UpdateContainerGroup share (create-only list entries included; the
    update leaves them out)."""
    params: dict[str, str] = {}
    if spec.cpu is not None:
        params["Cpu"] = format_float(spec.cpu)
    if spec.memory is not None:
        params["Memory"] = format_float(spec.memory)
    params["RestartPolicy"] = spec.restart_policy
    if spec.resource_group_id:
        params["ResourceGroupId"] = spec.resource_group_id
    if spec.dns_config is not None:
        for index, server in enumerate(spec.dns_config.nameservers, start=1):
            params[f"DnsConfig.NameServer.{index}"] = server
        for index, search in enumerate(spec.dns_config.searches, start=1):
            params[f"DnsConfig.Search.{index}"] = search
        for index, option in enumerate(spec.dns_config.options, start=1):
            params[f"DnsConfig.Option.{index}.Name"] = option.name
            if option.value is not None:
                params[f"DnsConfig.Option.{index}.Value"] = option.value
    for index, container in enumerate(spec.containers, start=1):
        path = f"spec.containers[{index - 1}]"
        params.update(_container_parameters(f"Container.{index}", container, path, objects))
    for index, container in enumerate(spec.init_containers, start=1):
        path = f"spec.initContainers[{index - 1}]"
        params.update(_container_parameters(f"InitContainer.{index}", container, path, objects))
    for index, volume in enumerate(spec.volumes, start=1):
        params.update(_volume_parameters(f"Volume.{index}", volume, f"spec.volumes[{index - 1}]", objects))
    for index, registry in enumerate(effective_registries(spec, annotations), start=1):
        prefix = f"AcrRegistryInfo.{index}"
        if registry.region_id:
            params[f"{prefix}.RegionId"] = registry.region_id
        params[f"{prefix}.InstanceId"] = registry.instance_id
        if registry.instance_name:
            params[f"{prefix}.InstanceName"] = registry.instance_name
        for domain_index, domain in enumerate(registry.domains, start=1):
            params[f"{prefix}.Domain.{domain_index}"] = domain
    for index, credential in enumerate(spec.image_registry_credentials, start=1):
        prefix = f"ImageRegistryCredential.{index}"
        selector = credential.password_secret_ref
        field_path = f"spec.imageRegistryCredentials[{index - 1}].passwordSecretRef"
        password = _text(objects, "Secret", selector.name, selector.key, field_path, optional=False)
        params[f"{prefix}.Server"] = credential.server
        params[f"{prefix}.UserName"] = credential.user_name
        params[f"{prefix}.Password"] = str(password)
    tags = [*owner_tags.items(), *sorted(spec.tags.items())]
    for index, (key, value) in enumerate(tags, start=1):
        params[f"Tag.{index}.Key"] = key
        params[f"Tag.{index}.Value"] = value
    return params


def _data(
    objects: Objects, kind: ReferenceKind, name: str, field_path: str, optional: bool
) -> Mapping[str, bytes] | None:
    """The data of a referenced object; None when it is absent and optional."""
    data = objects.get((kind, name))
    if data is None and not optional:
        raise ReferenceMissing(field_path, kind, name)
    return data


def _text(
    objects: Objects, kind: ReferenceKind, name: str, key: str, field_path: str, *, optional: bool
) -> str | None:
    """One key of a referenced object as text; None when it (or the object) is absent and optional."""
    data = _data(objects, kind, name, field_path, optional)
    if data is None:
        return None
    if key not in data:
        if optional:
            return None
        raise ReferenceMissing(field_path, kind, name, key)
    try:
        return data[key].decode("utf-8")
    except UnicodeDecodeError:
        raise ReferenceNotText(field_path, kind, name, key) from None


def _environment(
    container: Container, path: str, objects: Objects
) -> list[tuple[str, str | None, str | None]]:
    """The container's variables as (name, value, field path of a FieldRef): envFrom first, then env, a
    later one replacing an earlier one of the same name (Kubernetes' order)."""
    variables: dict[str, tuple[str | None, str | None]] = {}
    for index, env_from in enumerate(container.env_from):
        reference = env_from.config_map_ref or env_from.secret_ref
        assert reference is not None  # one of the two, by EnvFromSource.check
        kind: ReferenceKind = "ConfigMap" if env_from.config_map_ref is not None else "Secret"
        field_path = f"{path}.envFrom[{index}].{'configMapRef' if kind == 'ConfigMap' else 'secretRef'}"
        data = _data(objects, kind, reference.name, field_path, bool(reference.optional))
        for key in sorted(data or {}):
            name = (env_from.prefix or "") + key
            if not ENV_FROM_NAME.fullmatch(name) or len(name) > MAX_ENV_NAME:
                continue  # as Kubernetes does with keys that are not variable names (e.g. app.yaml)
            value = _text(objects, kind, reference.name, key, field_path, optional=False)
            variables[name] = (
                _env_value(value, field_path, f"key {key!r} of {kind} {reference.name!r}"),
                None,
            )
    for index, env in enumerate(container.env):
        field_path = f"{path}.env[{index}].valueFrom"
        source = env.value_from
        if source is None:
            variables[env.name] = (env.value, None)
        elif source.field_ref is not None:
            variables[env.name] = (None, source.field_ref.field_path)
        else:
            selector = source.secret_key_ref or source.config_map_key_ref
            assert selector is not None  # exactly one source, by EnvVarSource.check
            kind = "Secret" if source.secret_key_ref is not None else "ConfigMap"
            field_path += ".secretKeyRef" if kind == "Secret" else ".configMapKeyRef"
            value = _text(
                objects, kind, selector.name, selector.key, field_path, optional=bool(selector.optional)
            )
            if value is None:
                continue  # optional and missing: the variable is left as envFrom made it (as Kubernetes)
            variables[env.name] = (
                _env_value(value, field_path, f"key {selector.key!r} of {kind} {selector.name!r}"),
                None,
            )
    return [(name, value, field_ref) for name, (value, field_ref) in variables.items()]


def _env_value(value: str | None, field_path: str, what: str = "the value") -> str | None:
    if value is not None and len(value) > MAX_ENV_VALUE:
        raise SpecError(
            field_path,
            f"{what} holds {len(value)} characters; ECI takes environment values of at most {MAX_ENV_VALUE}",
        )
    return value


def _container_parameters(prefix: str, container: Container, path: str, objects: Objects) -> dict[str, str]:
    params = {f"{prefix}.Image": container.image, f"{prefix}.Name": container.name}
    if container.image_pull_policy:
        params[f"{prefix}.ImagePullPolicy"] = container.image_pull_policy
    if container.working_dir:
        params[f"{prefix}.WorkingDir"] = container.working_dir
    if container.cpu is not None:
        params[f"{prefix}.Cpu"] = format_float(container.cpu)
    if container.memory is not None:
        params[f"{prefix}.Memory"] = format_float(container.memory)
    if container.gpu is not None:
        params[f"{prefix}.Gpu"] = str(container.gpu)
    for index, command in enumerate(container.command, start=1):
        params[f"{prefix}.Command.{index}"] = command
    for index, arg in enumerate(container.args, start=1):
        params[f"{prefix}.Arg.{index}"] = arg
    for index, (name, value, field_ref) in enumerate(_environment(container, path, objects), start=1):
        params[f"{prefix}.EnvironmentVar.{index}.Key"] = name
        if field_ref is not None:
            params[f"{prefix}.EnvironmentVar.{index}.FieldRef.FieldPath"] = field_ref
        elif value:
            params[f"{prefix}.EnvironmentVar.{index}.Value"] = value
    for index, port in enumerate(container.ports, start=1):
        params[f"{prefix}.Port.{index}.Port"] = str(port.container_port)
        if port.protocol:
            params[f"{prefix}.Port.{index}.Protocol"] = port.protocol
    for index, mount in enumerate(container.volume_mounts, start=1):
        mount_prefix = f"{prefix}.VolumeMount.{index}"
        params[f"{mount_prefix}.Name"] = mount.name
        params[f"{mount_prefix}.MountPath"] = mount.mount_path
        if mount.read_only is not None:
            params[f"{mount_prefix}.ReadOnly"] = _boolean(mount.read_only)
        if mount.sub_path:
            params[f"{mount_prefix}.SubPath"] = mount.sub_path
        if mount.mount_propagation:
            params[f"{mount_prefix}.MountPropagation"] = mount.mount_propagation
    for name, probe in (
        ("LivenessProbe", container.liveness_probe),
        ("ReadinessProbe", container.readiness_probe),
    ):
        if probe is not None:
            params.update(_probe_parameters(f"{prefix}.{name}", probe))
    if container.lifecycle is not None:
        for name, handler in (
            ("LifecyclePostStartHandler", container.lifecycle.post_start),
            ("LifecyclePreStopHandler", container.lifecycle.pre_stop),
        ):
            if handler is not None:
                params.update(_handler_parameters(f"{prefix}.{name}", handler))
    context = container.security_context
    if context is not None:
        if context.capabilities is not None:
            for index, capability in enumerate(context.capabilities.add, start=1):
                params[f"{prefix}.SecurityContext.Capability.Add.{index}"] = capability
        if context.read_only_root_filesystem:  # ECI takes only true
            params[f"{prefix}.SecurityContext.ReadOnlyRootFilesystem"] = "true"
        if context.run_as_user is not None:
            params[f"{prefix}.SecurityContext.RunAsUser"] = str(context.run_as_user)
        if context.privileged is not None:
            params[f"{prefix}.SecurityContextPrivileged"] = _boolean(context.privileged)
        if context.run_as_group is not None:
            params[f"{prefix}.SecurityContextRunAsGroup"] = str(context.run_as_group)
        if context.run_as_non_root is not None:
            params[f"{prefix}.SecurityContextRunAsNonRoot"] = _boolean(context.run_as_non_root)
    return params


def _placement_parameters(spec: AcrContainerGroupSpec) -> dict[str, str]:
    """What only CreateContainerGroup takes about where and how the group runs (all immutable fields)."""
    params: dict[str, str] = {}
    for index, category in enumerate(spec.compute_category, start=1):
        params[f"ComputeCategory.{index}"] = category
    if spec.cpu_architecture:
        params["CpuArchitecture"] = spec.cpu_architecture
    if spec.schedule_strategy:
        params["ScheduleStrategy"] = spec.schedule_strategy
    if spec.eip is not None:
        if spec.eip.instance_id:
            params["EipInstanceId"] = spec.eip.instance_id
        if spec.eip.auto_create:
            params["AutoCreateEip"] = "true"
        if spec.eip.bandwidth is not None:
            params["EipBandwidth"] = str(spec.eip.bandwidth)
        if spec.eip.isp:
            params["EipISP"] = spec.eip.isp
        if spec.eip.common_bandwidth_package_id:
            params["EipCommonBandwidthPackage"] = spec.eip.common_bandwidth_package_id
    if spec.dns_policy:
        params["DnsPolicy"] = spec.dns_policy
    for index, alias in enumerate(spec.host_aliases, start=1):
        params[f"HostAliase.{index}.Ip"] = alias.ip
        for host_index, hostname in enumerate(alias.hostnames, start=1):
            params[f"HostAliase.{index}.Hostname.{host_index}"] = hostname
    for index, server in enumerate(spec.ntp_servers, start=1):
        params[f"NtpServer.{index}"] = server
    if spec.host_name:
        params["HostName"] = spec.host_name
    if spec.spot is not None:
        params["SpotStrategy"] = spec.spot.strategy
        if spec.spot.price_limit is not None:
            params["SpotPriceLimit"] = format_float(spec.spot.price_limit)
        if spec.spot.duration_hours is not None:
            params["SpotDuration"] = str(spec.spot.duration_hours)
    if spec.gpu_driver_version:
        params["GpuDriverVersion"] = spec.gpu_driver_version
    if spec.image_cache is not None:
        if spec.image_cache.auto_match:
            params["AutoMatchImageCache"] = "true"
        if spec.image_cache.snapshot_id:
            params["ImageSnapshotId"] = spec.image_cache.snapshot_id
    if spec.ram_role_name:
        params["RamRoleName"] = spec.ram_role_name
    if spec.active_deadline_seconds is not None:
        params["ActiveDeadlineSeconds"] = str(spec.active_deadline_seconds)
    return params


def on_demand(create_params: Mapping[str, str]) -> dict[str, str]:
    """The same create as an on-demand group (spot.fallbackToOnDemand when ECI has no spot stock)."""
    params = {
        key: value for key, value in create_params.items() if key not in ("SpotPriceLimit", "SpotDuration")
    }
    params["SpotStrategy"] = "NoSpot"
    return params


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def _probe_parameters(prefix: str, probe: Probe) -> dict[str, str]:
    """`Container.N.LivenessProbe.*` / `ReadinessProbe.*`: the handler, then the timings given."""
    params: dict[str, str] = {}
    if probe.exec is not None:
        for index, part in enumerate(probe.exec.command, start=1):
            params[f"{prefix}.Exec.Command.{index}"] = part
    if probe.http_get is not None:
        if probe.http_get.path:
            params[f"{prefix}.HttpGet.Path"] = probe.http_get.path
        params[f"{prefix}.HttpGet.Port"] = str(probe.http_get.port)
        if probe.http_get.scheme:
            params[f"{prefix}.HttpGet.Scheme"] = probe.http_get.scheme
    if probe.tcp_socket is not None:
        params[f"{prefix}.TcpSocket.Port"] = str(probe.tcp_socket.port)
    for name, value in (
        ("InitialDelaySeconds", probe.initial_delay_seconds),
        ("PeriodSeconds", probe.period_seconds),
        ("TimeoutSeconds", probe.timeout_seconds),
        ("SuccessThreshold", probe.success_threshold),
        ("FailureThreshold", probe.failure_threshold),
    ):
        if value is not None:
            params[f"{prefix}.{name}"] = str(value)
    return params


def _handler_parameters(prefix: str, handler: LifecycleHandler) -> dict[str, str]:
    """`Container.N.LifecyclePostStartHandler*` / `LifecyclePreStopHandler*` (flat names, as ECI has them)."""
    params: dict[str, str] = {}
    if handler.exec is not None:
        for index, part in enumerate(handler.exec.command, start=1):
            params[f"{prefix}Exec.{index}"] = part
    if handler.http_get is not None:
        action = handler.http_get
        if action.host:
            params[f"{prefix}HttpGetHost"] = action.host
        if action.path:
            params[f"{prefix}HttpGetPath"] = action.path
        params[f"{prefix}HttpGetPort"] = str(action.port)
        if action.scheme:
            params[f"{prefix}HttpGetScheme"] = action.scheme
        for index, header in enumerate(action.http_headers, start=1):
            params[f"{prefix}HttpGetHttpHeader.{index}.Name"] = header.name
            params[f"{prefix}HttpGetHttpHeader.{index}.Value"] = header.value
    if handler.tcp_socket is not None:
        if handler.tcp_socket.host:
            params[f"{prefix}TcpSocketHost"] = handler.tcp_socket.host
        params[f"{prefix}TcpSocketPort"] = str(handler.tcp_socket.port)
    return params


def _volume_parameters(prefix: str, volume: Volume, path: str, objects: Objects) -> dict[str, str]:
    """`Volume.N.*`. A Secret or ConfigMap volume becomes a ConfigFileVolume whose files carry the
    contents read from the cluster, Base64-encoded as the reference asks (ConfigFileToPath.N.Content:
    "Base64-encoded", at most 32 KB; the ConfigFile volume guide adds 60 KB per volume). One that is
    optional and absent, or has no keys, is an empty directory, as in Kubernetes."""
    params = {f"{prefix}.Name": volume.name}
    if volume.empty_dir is not None:
        params[f"{prefix}.Type"] = "EmptyDirVolume"
        if volume.empty_dir.medium:
            params[f"{prefix}.EmptyDirVolume.Medium"] = volume.empty_dir.medium
        if volume.empty_dir.size_limit:
            params[f"{prefix}.EmptyDirVolume.SizeLimit"] = volume.empty_dir.size_limit
    elif volume.nfs is not None:
        params[f"{prefix}.Type"] = "NFSVolume"
        params[f"{prefix}.NFSVolume.Server"] = volume.nfs.server
        params[f"{prefix}.NFSVolume.Path"] = volume.nfs.path
        if volume.nfs.read_only is not None:
            params[f"{prefix}.NFSVolume.ReadOnly"] = _boolean(volume.nfs.read_only)
    elif volume.disk is not None:
        params[f"{prefix}.Type"] = "DiskVolume"
        params[f"{prefix}.DiskVolume.DiskId"] = volume.disk.disk_id
        if volume.disk.fs_type:
            params[f"{prefix}.DiskVolume.FsType"] = volume.disk.fs_type
        if volume.disk.disk_size is not None:
            params[f"{prefix}.DiskVolume.DiskSize"] = str(volume.disk.disk_size)
    elif volume.flex_volume is not None:
        params[f"{prefix}.Type"] = "FlexVolume"
        params[f"{prefix}.FlexVolume.Driver"] = volume.flex_volume.driver
        if volume.flex_volume.fs_type:
            params[f"{prefix}.FlexVolume.FsType"] = volume.flex_volume.fs_type
        if volume.flex_volume.options:
            params[f"{prefix}.FlexVolume.Options"] = json.dumps(
                dict(volume.flex_volume.options), sort_keys=True, separators=(",", ":")
            )
    else:
        params.update(_config_file_parameters(prefix, volume, path, objects))
    return params


def _config_file_parameters(prefix: str, volume: Volume, path: str, objects: Objects) -> dict[str, str]:
    kind: ReferenceKind
    source: ConfigMapVolumeSource | SecretVolumeSource
    if volume.secret is not None:
        kind, source_path, source = "Secret", f"{path}.secret", volume.secret
        name = volume.secret.secret_name
    else:
        assert volume.config_map is not None  # the one source left, by Volume.check
        kind, source_path, source = "ConfigMap", f"{path}.configMap", volume.config_map
        name = volume.config_map.name
    data = _data(objects, kind, name, source_path, bool(source.optional))
    files: list[tuple[str, bytes, int | None]] = []
    if data is not None and source.items:
        for index, item in enumerate(source.items):
            if item.key in data:
                files.append((item.path, data[item.key], item.mode))
            elif not source.optional:
                raise ReferenceMissing(f"{source_path}.items[{index}].key", kind, name, item.key)
    elif data is not None:
        files = [(key, data[key], None) for key in sorted(data)]
    if not files:
        return {f"{prefix}.Type": "EmptyDirVolume"}
    total = 0
    params = {f"{prefix}.Type": "ConfigFileVolume"}
    if source.default_mode is not None:
        params[f"{prefix}.ConfigFileVolume.DefaultMode"] = format(source.default_mode, "04o")
    for index, (file_path, content, mode) in enumerate(files, start=1):
        if len(content) > MAX_CONFIG_FILE_BYTES:
            raise SpecError(
                source_path,
                f"file {file_path!r} from {kind} {name!r} holds {len(content)} bytes; ECI takes at most "
                f"{MAX_CONFIG_FILE_BYTES} per file",
            )
        total += len(content)
        file_prefix = f"{prefix}.ConfigFileVolume.ConfigFileToPath.{index}"
        params[f"{file_prefix}.Path"] = file_path
        params[f"{file_prefix}.Content"] = base64.b64encode(content).decode("ascii")
        if mode is not None:
            params[f"{file_prefix}.Mode"] = format(mode, "04o")
    if total > MAX_CONFIG_VOLUME_BYTES:
        raise SpecError(
            source_path,
            f"the files from {kind} {name!r} hold {total} bytes; ECI takes at most {MAX_CONFIG_VOLUME_BYTES} "
            "per volume",
        )
    return params


def immutable_fields(spec: Mapping[str, Any]) -> dict[str, str]:
    """The immutable fields a raw spec sets, as strings (lists comma-joined): what status.applied keeps.

    Absent, null, "" and [] all mean "not set" and are left out; the operator's defaults play no part."""
    fields: dict[str, str] = {}
    for name in IMMUTABLE_FIELDS:
        value = spec.get(name)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, dict):
            fields[name] = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"))
        elif isinstance(value, list):
            fields[name] = ",".join(map(str, value))
        else:
            fields[name] = str(value)
    return fields


def _canonical(value: Any) -> Any:
    """Lists of named entries (list-type maps, such as sysctls) in name order: reordering is no change."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        if all(isinstance(item, dict) and "name" in item for item in items):
            return sorted(items, key=lambda item: str(item["name"]))
        return items
    return value


DESCRIBED_IMMUTABLE_FIELDS = {
    "containerGroupName": "ContainerGroupName",
    "regionId": "RegionId",
    "zoneId": "ZoneId",
    "securityGroupId": "SecurityGroupId",
    "vSwitchIds": "VSwitchId",
    "instanceType": "InstanceType",
    "instanceTypes": "InstanceType",
    "computeCategory": "ComputeCategory",
    "dnsPolicy": "DnsPolicy",
    "ramRoleName": "RamRoleName",
}
"""Where DescribeContainerGroups reports each immutable field of a group (as one value; for lists, the one
ECI chose). spot and hostAliases are compared by `applied_from_group` itself."""


def applied_from_group(
    immutable: Mapping[str, str], group: Mapping[str, Any], spec: AcrContainerGroupSpec | None = None
) -> dict[str, str]:
    """What `status.applied` should say for a group found by its tag (made before a crash, perhaps from
    an older spec): for each immutable field the spec sets, the spec's value when the group agrees with
    it (for lists, ECI reports the one it chose), else what the group has, so that the difference shows.
    A field the answer does not report is taken as agreeing; so are the settings inside lists (security
    contexts, file modes), which Describe does not report."""
    applied: dict[str, str] = {}
    for name, wanted in immutable.items():
        observed = _described(name, group, spec)
        agrees = not observed or observed in wanted.split(",") or observed == wanted
        applied[name] = wanted if agrees else observed
    return applied


def _described(name: str, group: Mapping[str, Any], spec: AcrContainerGroupSpec | None) -> str:
    """How the group reports one immutable field, or "" when it does not (or agrees in a way a string
    comparison cannot see)."""
    if name == "spot":
        strategy = str(group.get("SpotStrategy") or "")
        wanted = spec.spot if spec is not None else None
        if not strategy or wanted is None or strategy == wanted.strategy:
            return ""
        if strategy == "NoSpot" and wanted.fallback_to_on_demand:
            return ""  # the on-demand group the fallback makes
        return json.dumps({"strategy": strategy}, separators=(",", ":"))
    if name == "hostAliases":
        reported = group.get("HostAliases")
        if spec is None or not isinstance(reported, list):
            return ""
        observed = sorted(
            (str(alias.get("Ip") or ""), tuple(map(str, alias.get("Hostnames") or []))) for alias in reported
        )
        if observed == sorted((alias.ip, tuple(alias.hostnames)) for alias in spec.host_aliases):
            return ""
        aliases = [{"hostnames": list(names), "ip": ip} for ip, names in observed]
        return json.dumps(aliases, sort_keys=True, separators=(",", ":"))
    return str(group.get(DESCRIBED_IMMUTABLE_FIELDS.get(name, "")) or "")


def changed_immutable_fields(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Paths (`spec.zoneId`, `spec.containers[app].securityContext.privileged`) of the fields that differ
    between two `immutable_fields` (plus `create_only_fields`) results: top-level fields first."""
    nested = sorted((set(old) | set(new)) - set(IMMUTABLE_FIELDS))
    return [f"spec.{name}" for name in (*IMMUTABLE_FIELDS, *nested) if old.get(name) != new.get(name)]


def immutable_changes(old_spec: Mapping[str, Any], new_spec: Mapping[str, Any]) -> list[str]:
    """Paths (`spec.zoneId`) of immutable fields that differ between two raw specs.

    Setting a field that was not set (even to the value the operator used by default) is a change, as
    the CRD's CEL rules also say. updateStrategy is not considered here: the caller decides whether a
    change means refusal or re-creation.
    """
    return changed_immutable_fields(immutable_fields(old_spec), immutable_fields(new_spec))


def image_domain(image: str) -> str | None:
    """The registry host of an image reference, lowercased; None for Docker Hub short names."""
    first, separator, _rest = image.partition("/")
    if not separator or not ("." in first or ":" in first or first == "localhost"):
        return None
    return first.lower()


def acr_instance_name(domain: str) -> str | None:
    """The instance name in an ACR Enterprise Edition domain, or None when the domain is not one."""
    match = ACR_EE_DOMAIN.match(domain.split(":")[0])
    return match.group("name") if match else None


def uncovered_acr_images(spec: AcrContainerGroupSpec, annotations: Mapping[str, str]) -> list[UncoveredImage]:
    """Images on an ACR Enterprise Edition domain whose pull nothing in the spec covers.

    An AcrRegistryInfo entry covers a domain when its `domains` list it; an entry without domains
    stands for all its instance's domains, so it covers the domain when its instanceName is the name
    in the domain, or when it has no instanceName (an instance id alone could be any instance: no
    warning then; annotation entries are of that kind). An imageRegistryCredential whose server is the
    domain covers it too. ECI may still pull an uncovered image when it is in the same account.
    """
    registries = effective_registries(spec, annotations)
    credential_servers = {_server_host(credential.server) for credential in spec.image_registry_credentials}
    uncovered: list[UncoveredImage] = []
    for list_name, containers in (("initContainers", spec.init_containers), ("containers", spec.containers)):
        for index, container in enumerate(containers):
            domain = image_domain(container.image)
            if domain is None:
                continue
            instance_name = acr_instance_name(domain)
            if instance_name is None or domain in credential_servers:
                continue
            mismatches = [_mismatch(registry, domain, instance_name) for registry in registries]
            if any(mismatch is None for mismatch in mismatches):
                continue
            why = "; ".join(f"entry {position}: {m}" for position, m in enumerate(mismatches) if m)
            uncovered.append(UncoveredImage(f"spec.{list_name}[{index}].image", container.image, domain, why))
    return uncovered


def _mismatch(registry: AcrRegistryInfo, domain: str, instance_name: str) -> str | None:
    """Why an entry does not cover a domain (the rules ECI applies to the pull), or None when it does."""
    match = ACR_EE_DOMAIN.match(domain)
    region = match.group("region") if match else None
    if registry.region_id and region and registry.region_id != region:
        return f"regionId {registry.region_id} is not the image's region {region}"
    if registry.domains:
        if domain in {listed.lower() for listed in registry.domains}:
            return None
        return f"domains do not list {domain}"
    if registry.instance_name is not None and registry.instance_name != instance_name:
        return f"instanceName {registry.instance_name} is not the image's instance {instance_name}"
    return None


def _server_host(server: str) -> str:
    host = server.lower().removeprefix("https://").removeprefix("http://")
    return host.split("/")[0]


def redact(params: Mapping[str, str], secret_values: Iterable[str] = ()) -> dict[str, str]:
    """A copy of wire parameters safe to log: `*.Password` and config file `*.Content` values, and any
    value that contains one of `secret_values` (pass the resolved Secret values), become `***`."""
    hidden = [value for value in secret_values if value]
    return {
        key: REDACTED
        if key.endswith((".Password", ".Content")) or any(secret in value for secret in hidden)
        else value
        for key, value in params.items()
    }
