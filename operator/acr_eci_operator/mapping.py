"""Pure functions from an AcrContainerGroup spec to ECI wire parameters, and the checks around them.

Parameter names are those of the ECI API reference and the ACR password-free pull document, to the
letter (`Container.1.Image`, `AcrRegistryInfo.1.Domain.2`, ...); every value is a string.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from acr_eci_operator.models import (
    ANNOTATION_INSTANCE_IDS,
    GROUP_NAME_PATTERN,
    IMMUTABLE_FIELDS,
    MAX_ACR_REGISTRY_INFOS,
    MAX_ENV_VALUE,
    AcrContainerGroupSpec,
    AcrRegistryInfo,
    Container,
    SpecError,
    annotation_registries,
    matches,
    secret_refs,
)

__all__ = [
    "IMMUTABLE_FIELDS",
    "REDACTED",
    "Defaults",
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
        raise SpecError(
            f"metadata.annotations[{ANNOTATION_INSTANCE_IDS}]",
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
    secrets: Mapping[tuple[str, str], str],
    client_token: str,
    owner_tags: Mapping[str, str],
) -> dict[str, str]:
    """CreateContainerGroup parameters (RegionId included; the SDK's common parameters not).

    `name` is metadata.name (the default ContainerGroupName); `secrets` maps (Secret name, key) to the
    value for every `secret_refs(spec)`; `owner_tags` are the operator's ownership tags.
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
    if spec.instance_type:
        params["InstanceType"] = spec.instance_type
    params.update(_mutable_parameters(spec, annotations, secrets, owner_tags))
    return params


UNSENDABLE_REMOVALS = (
    "spec.cpu",
    "spec.memory",
    "spec.initContainers",
    "spec.imageRegistryCredentials",
    "spec.acrRegistryInfos",
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
    }
    return tuple(name for name in UNSENDABLE_REMOVALS if present[name])


def update_parameters(
    spec: AcrContainerGroupSpec,
    *,
    container_group_id: str,
    annotations: Mapping[str, str],
    secrets: Mapping[tuple[str, str], str],
    client_token: str,
    owner_tags: Mapping[str, str],
    defaults: Defaults | None = None,
) -> dict[str, str]:
    """UpdateContainerGroup parameters with UpdateType RenewUpdate: every mutable field, in full.

    RegionId is spec.regionId, else `defaults.region_id`; with neither it is left for the caller to set
    (the region the group was created in).
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
    params.update(_mutable_parameters(spec, annotations, secrets, owner_tags))
    return params


def _mutable_parameters(
    spec: AcrContainerGroupSpec,
    annotations: Mapping[str, str],
    secrets: Mapping[tuple[str, str], str],
    owner_tags: Mapping[str, str],
) -> dict[str, str]:
    """What CreateContainerGroup and UpdateContainerGroup share."""
    secret_values = _secret_values(spec, secrets)
    params: dict[str, str] = {}
    if spec.cpu is not None:
        params["Cpu"] = format_float(spec.cpu)
    if spec.memory is not None:
        params["Memory"] = format_float(spec.memory)
    params["RestartPolicy"] = spec.restart_policy
    for index, container in enumerate(spec.containers, start=1):
        params.update(
            _container_parameters(
                f"Container.{index}", container, f"spec.containers[{index - 1}]", secret_values
            )
        )
    for index, container in enumerate(spec.init_containers, start=1):
        path = f"spec.initContainers[{index - 1}]"
        params.update(_container_parameters(f"InitContainer.{index}", container, path, secret_values))
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
        params[f"{prefix}.Server"] = credential.server
        params[f"{prefix}.UserName"] = credential.user_name
        params[f"{prefix}.Password"] = secret_values[
            f"spec.imageRegistryCredentials[{index - 1}].passwordSecretRef"
        ]
    tags = [*owner_tags.items(), *sorted(spec.tags.items())]
    for index, (key, value) in enumerate(tags, start=1):
        params[f"Tag.{index}.Key"] = key
        params[f"Tag.{index}.Value"] = value
    return params


def _secret_values(spec: AcrContainerGroupSpec, secrets: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """The value of every Secret reference, by the path of the field that makes it."""
    values: dict[str, str] = {}
    for ref in secret_refs(spec):
        value = secrets.get((ref.name, ref.key))
        if value is None:
            raise SpecError(ref.field, f"key {ref.key!r} of Secret {ref.name!r} is not available")
        if ref.field.endswith(".valueFrom.secretKeyRef") and len(value) > MAX_ENV_VALUE:
            raise SpecError(
                ref.field,
                f"key {ref.key!r} of Secret {ref.name!r} holds {len(value)} characters; ECI takes environment "
                f"values of at most {MAX_ENV_VALUE}",
            )
        values[ref.field] = value
    return values


def _container_parameters(
    prefix: str, container: Container, path: str, secret_values: Mapping[str, str]
) -> dict[str, str]:
    params = {f"{prefix}.Image": container.image, f"{prefix}.Name": container.name}
    if container.image_pull_policy:
        params[f"{prefix}.ImagePullPolicy"] = container.image_pull_policy
    if container.working_dir:
        params[f"{prefix}.WorkingDir"] = container.working_dir
    if container.cpu is not None:
        params[f"{prefix}.Cpu"] = format_float(container.cpu)
    if container.memory is not None:
        params[f"{prefix}.Memory"] = format_float(container.memory)
    for index, command in enumerate(container.command, start=1):
        params[f"{prefix}.Command.{index}"] = command
    for index, arg in enumerate(container.args, start=1):
        params[f"{prefix}.Arg.{index}"] = arg
    for index, env in enumerate(container.env, start=1):
        params[f"{prefix}.EnvironmentVar.{index}.Key"] = env.name
        if env.value_from is not None:
            value: str | None = secret_values[f"{path}.env[{index - 1}].valueFrom.secretKeyRef"]
        else:
            value = env.value
        if value:
            params[f"{prefix}.EnvironmentVar.{index}.Value"] = value
    for index, port in enumerate(container.ports, start=1):
        params[f"{prefix}.Port.{index}.Port"] = str(port.container_port)
        if port.protocol:
            params[f"{prefix}.Port.{index}.Protocol"] = port.protocol
    return params


def immutable_fields(spec: Mapping[str, Any]) -> dict[str, str]:
    """The immutable fields a raw spec sets, as strings (lists comma-joined): what status.applied keeps.

    Absent, null, "" and [] all mean "not set" and are left out; the operator's defaults play no part."""
    fields: dict[str, str] = {}
    for name in IMMUTABLE_FIELDS:
        value = spec.get(name)
        if value is None or value == "" or value == []:
            continue
        fields[name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return fields


DESCRIBED_IMMUTABLE_FIELDS = {
    "containerGroupName": "ContainerGroupName",
    "regionId": "RegionId",
    "zoneId": "ZoneId",
    "securityGroupId": "SecurityGroupId",
    "vSwitchIds": "VSwitchId",
    "instanceType": "InstanceType",
}
"""Where DescribeContainerGroups reports each immutable field of a group."""


def applied_from_group(immutable: Mapping[str, str], group: Mapping[str, Any]) -> dict[str, str]:
    """What `status.applied` should say for a group found by its tag (made before a crash, perhaps from
    an older spec): for each immutable field the spec sets, the spec's value when the group agrees with
    it (for lists, ECI reports the one it chose), else what the group has, so that the difference shows.
    A field the answer does not report is taken as agreeing."""
    applied: dict[str, str] = {}
    for name, wanted in immutable.items():
        observed = str(group.get(DESCRIBED_IMMUTABLE_FIELDS.get(name, "")) or "")
        agrees = not observed or observed in wanted.split(",") or observed == wanted
        applied[name] = wanted if agrees else observed
    return applied


def changed_immutable_fields(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Paths (`spec.zoneId`) of the immutable fields that differ between two `immutable_fields` results."""
    return [f"spec.{name}" for name in IMMUTABLE_FIELDS if old.get(name) != new.get(name)]


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
    """A copy of wire parameters safe to log: `*.Password` values, and any value that contains one of
    `secret_values` (pass the resolved Secret values), become `***`."""
    hidden = [value for value in secret_values if value]
    return {
        key: REDACTED if key.endswith(".Password") or any(secret in value for secret in hidden) else value
        for key, value in params.items()
    }
