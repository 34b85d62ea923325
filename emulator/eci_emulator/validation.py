"""Strict checking of request parameters: known names, 1-based gap-free indexes, types, ranges, enums."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eci_emulator import errors
from eci_emulator.api_parameters import ACTION_PARAMETERS

COMMON_PARAMETERS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "RegionId",
        "Timestamp",
        "SignatureMethod",
        "SignatureType",
        "SignatureVersion",
        "SignatureNonce",
        "AccessKeyId",
        "SecurityToken",
        "Signature",
        "OwnerId",
        "OwnerAccount",
        "ResourceOwnerId",
        "ResourceOwnerAccount",
    }
)

# A Kubernetes DNS label: container names (ECI follows Kubernetes) and, the emulator's choice where the reference
# is silent, volume names.
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_INDEX_SEGMENT = re.compile(r"(?<=\.)\d+(?=\.|$)")
_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")

# Types by the last segment of a parameter name (the API reference's Boolean / Integer / Long / Float).
BOOLEAN_NAMES = frozenset(
    {
        "AutoCreateEip",
        "AutoMatchImageCache",
        "Stdin",
        "StdinOnce",
        "Tty",
        "ReadOnly",
        "ReadOnlyRootFilesystem",
        "SecurityContextPrivileged",
        "SecurityContextRunAsNonRoot",
        "EnvironmentVarHide",
        "DryRun",
        "Force",
        "WithEvent",
        "Ipv6GatewayBandwidthEnable",
        "StrictSpot",
        "DataCacheBurstingEnabled",
        "SlsEnable",
        "ShareProcessNamespace",
        "EnableOverheadReservation",
        "ContainerResourceView",
    }
)
INTEGER_NAMES = frozenset(
    {
        "Port",
        "InitialDelaySeconds",
        "PeriodSeconds",
        "SuccessThreshold",
        "FailureThreshold",
        "TimeoutSeconds",
        "RunAsUser",
        "SecurityContextRunAsGroup",
        "Gpu",
        "ActiveDeadlineSeconds",
        "TerminationGracePeriodSeconds",
        "EipBandwidth",
        "SpotDuration",
        "Ipv6AddressCount",
        "FixedIpRetainHour",
        "SinceSecond",
        "Limit",
        "DiskSize",
        "CpuOptionsCore",
        "CpuOptionsThreadsPerCore",
        "EgressBandwidth",
        "IngressBandwidth",
        "LifecyclePostStartHandlerHttpGetPort",
        "LifecyclePostStartHandlerTcpSocketPort",
        "LifecyclePreStopHandlerHttpGetPort",
        "LifecyclePreStopHandlerTcpSocketPort",
        "Mode",
        "DefaultMode",
        "DataCacheProvisionedIops",
        "EphemeralStorage",
        "Ipv6GatewayBandwidth",
    }
)
FLOAT_NAMES = frozenset({"Cpu", "Memory", "SpotPriceLimit"})

# Enumerations by parameter template (N for each index).
ENUMS: dict[str, frozenset[str]] = {
    "RestartPolicy": frozenset({"Always", "OnFailure", "Never"}),
    "SpotStrategy": frozenset({"NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo"}),
    "UpdateType": frozenset({"RenewUpdate", "IncrementalUpdate"}),
    "DnsPolicy": frozenset({"Default", "None"}),
    "CpuArchitecture": frozenset({"AMD64", "ARM64"}),
    # The CreateContainerGroup reference (see placement.py).
    "EipISP": frozenset({"BGP", "BGP_PRO"}),
    "ScheduleStrategy": frozenset({"VSwitchOrdered", "VSwitchRandom"}),
    "ComputeCategory.N": frozenset({"economy", "general"}),
    "GpuDriverVersion": frozenset({"tesla=470.82.01", "tesla=525.85.12"}),
    "Volume.N.Type": frozenset(
        {"EmptyDirVolume", "NFSVolume", "ConfigFileVolume", "FlexVolume", "HostPathVolume", "DiskVolume"}
    ),
    "Volume.N.EmptyDirVolume.Medium": frozenset({"", "Memory", "LocalRaid0"}),
    # The CreateContainerGroup reference: FlexVolume.Driver alicloud/disk, alicloud/nas or alicloud/oss;
    # HostPathVolume.Type Directory or File; SecurityContext.Sysctl.N.Name only the two safe sysctls.
    "Volume.N.FlexVolume.Driver": frozenset({"alicloud/disk", "alicloud/nas", "alicloud/oss"}),
    "Volume.N.HostPathVolume.Type": frozenset({"Directory", "File"}),
    "SecurityContext.Sysctl.N.Name": frozenset(
        {"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
    ),
}
for _kind in ("Container", "InitContainer"):
    ENUMS[f"{_kind}.N.ImagePullPolicy"] = frozenset({"Always", "IfNotPresent", "Never"})
    ENUMS[f"{_kind}.N.Port.N.Protocol"] = frozenset({"TCP", "UDP", "SCTP"})
    ENUMS[f"{_kind}.N.TerminationMessagePolicy"] = frozenset({"File", "FallbackToLogsOnError"})
    # The reference: MountPropagation None (the default), HostToContainer or Bidirectional; FieldRef.FieldPath
    # "currently only status.podIP"; Capability.Add "currently only NET_ADMIN and NET_RAW".
    ENUMS[f"{_kind}.N.VolumeMount.N.MountPropagation"] = frozenset(
        {"None", "HostToContainer", "Bidirectional"}
    )
    ENUMS[f"{_kind}.N.EnvironmentVar.N.FieldRef.FieldPath"] = frozenset({"status.podIP"})
    ENUMS[f"{_kind}.N.SecurityContext.Capability.Add.N"] = frozenset({"NET_ADMIN", "NET_RAW"})
    for _probe in ("LivenessProbe", "ReadinessProbe"):
        ENUMS[f"{_kind}.N.{_probe}.HttpGet.Scheme"] = frozenset({"HTTP", "HTTPS"})
    for _hook in ("PostStart", "PreStop"):
        ENUMS[f"{_kind}.N.Lifecycle{_hook}HandlerHttpGetScheme"] = frozenset({"HTTP", "HTTPS"})

GROUP_STATUSES = frozenset(
    {
        "Scheduling",
        "Pending",
        "Running",
        "Restarting",
        "Updating",
        "Terminating",
        "Succeeded",
        "Failed",
        "Expired",
        "ScheduleFailed",
    }
)


def check_count(parameter: str, count: int, maximum: int, what: str) -> None:
    """Refuse more than `maximum` entries of a list parameter (`Volume.N`), naming it."""
    if count > maximum:
        raise errors.invalid_parameter(
            f"The parameter {parameter} takes at most {maximum} {what}; got {count}."
        )


def template_of(name: str) -> str:
    """`Container.2.Port.1.Port` -> `Container.N.Port.N.Port`."""
    return _INDEX_SEGMENT.sub("N", name)


def check_parameters(action: str, parameters: Mapping[str, str], strict: bool) -> dict[str, str]:
    """Refuse unknown names (when strict), bad indexes and values of the wrong type.

    Returns the action's own parameters (common and, when lenient, unknown ones left out).
    """
    known = ACTION_PARAMETERS[action]
    own: dict[str, str] = {}
    for name, value in parameters.items():
        if name in COMMON_PARAMETERS and name != "RegionId":
            continue
        template = template_of(name)
        if template not in known and name != "RegionId":
            if strict:
                raise errors.invalid_parameter(_not_a_parameter(action, name, template))
            continue
        _check_indexes(name)
        _check_value(name, template, value)
        own[name] = value
    return own


def _not_a_parameter(action: str, name: str, template: str) -> str:
    """Why `name` is refused: a name another action takes, or one spelt otherwise here, is said so."""
    for other_spelling in (
        template.replace("HttpHeader.", "HttpHeaders."),
        template.replace("HttpHeaders.", "HttpHeader."),
    ):
        if other_spelling != template and other_spelling in ACTION_PARAMETERS[action]:
            return f"The parameter {name} is spelt {other_spelling} in {action}."
    if action == "UpdateContainerGroup" and template in ACTION_PARAMETERS["CreateContainerGroup"]:
        return (
            f"The parameter {name} cannot be changed by UpdateContainerGroup: only CreateContainerGroup sets "
            f"it ({template} is not among UpdateContainerGroup's parameters)."
        )
    return f"The parameter {name} is not a parameter of {action}; check its spelling and indexes."


def _check_indexes(name: str) -> None:
    for match in _INDEX_SEGMENT.finditer(name):
        index = match.group(0)
        if index.startswith("0"):
            raise errors.invalid_parameter(f"The parameter {name} has index {index}; indexes start at 1.")


def _check_value(name: str, template: str, value: str) -> None:
    last = template.rsplit(".", 1)[-1]
    if last in BOOLEAN_NAMES:
        if value not in ("true", "false"):
            raise errors.invalid_parameter(
                f"The parameter {name} must be true or false (lower case), not {value!r}."
            )
    elif last in INTEGER_NAMES:
        if not _INTEGER.fullmatch(value):
            raise errors.invalid_parameter(f"The parameter {name} must be an integer, not {value!r}.")
    elif last in FLOAT_NAMES and not _DECIMAL.fullmatch(value):
        raise errors.invalid_parameter(f"The parameter {name} must be a number, not {value!r}.")
    allowed = ENUMS.get(template)
    if allowed is not None and value not in allowed:
        raise errors.invalid_parameter(
            f"The parameter {name} must be one of {', '.join(sorted(v for v in allowed if v))}, not {value!r}."
        )


def nest(parameters: Mapping[str, str]) -> dict[str, Any]:
    """Turn flat `A.1.B.2.C` names into nested dicts and lists, refusing index gaps."""
    root: dict[Any, Any] = {}
    for name, value in parameters.items():
        parts = name.split(".")
        node = root
        for position, part in enumerate(parts):
            key: Any = int(part) if part.isdigit() and position > 0 else part
            if position == len(parts) - 1:
                node[key] = value
            else:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise errors.invalid_parameter(f"The parameter {name} conflicts with another parameter.")
                node = child
    result = _listify(root, "")
    assert isinstance(result, dict)
    return result


def _listify(node: Any, path: str) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        indexes = sorted(node)
        if indexes != list(range(1, len(indexes) + 1)):
            raise errors.invalid_parameter(
                f"The indexes of {path}.N must be 1, 2, 3... without gaps; got {', '.join(map(str, indexes))}."
            )
        return [_listify(node[index], f"{path}.{index}") for index in indexes]
    return {key: _listify(value, f"{path}.{key}" if path else str(key)) for key, value in node.items()}


class Reader:
    """Typed access to one level of nested parameters, with names for error messages."""

    def __init__(self, node: Mapping[str, Any], path: str = "") -> None:
        self.node = node
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.node

    def text(self, key: str, required: bool = False, max_length: int | None = None) -> str | None:
        value = self.node.get(key)
        if value is None:
            if required:
                raise errors.missing_parameter(self.name(key))
            return None
        if not isinstance(value, str):
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be a single value.")
        if max_length is not None and len(value) > max_length:
            raise errors.invalid_parameter(
                f"The parameter {self.name(key)} is longer than {max_length} characters."
            )
        return value

    def required(self, key: str, max_length: int | None = None) -> str:
        value = self.text(key, required=True, max_length=max_length)
        assert value is not None
        if value == "":
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must not be empty.")
        return value

    def integer(
        self, key: str, minimum: int | None = None, maximum: int | None = None, required: bool = False
    ) -> int | None:
        raw = self.text(key, required=required)
        if raw is None:
            return None
        if not _INTEGER.fullmatch(raw):
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be an integer, not {raw!r}.")
        value = int(raw)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = (
                f"between {minimum} and {maximum}"
                if minimum is not None and maximum is not None
                else f"at least {minimum}"
                if minimum is not None
                else f"at most {maximum}"
            )
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be {bounds}, not {value}.")
        return value

    def number(self, key: str, minimum: float = 0.0) -> float | None:
        raw = self.text(key)
        if raw is None:
            return None
        if not _DECIMAL.fullmatch(raw):
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be a number, not {raw!r}.")
        value = float(raw)
        if value < minimum:
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be at least {minimum}.")
        return value

    def boolean(self, key: str) -> bool | None:
        raw = self.text(key)
        return None if raw is None else raw == "true"

    def items(self, key: str) -> list[Reader]:
        value = self.node.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be a list of N entries.")
        return [Reader(item, f"{self.name(key)}.{index}") for index, item in enumerate(value, start=1)]

    def strings(self, key: str) -> list[str]:
        value = self.node.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must be a list of N values.")
        return list(value)

    def first_name(self) -> str:
        """The flat name of the first value sent under this level (`Volume.2.NFSVolume.Server`)."""
        path, node = self.path, self.node
        while isinstance(node, dict | list):
            key, node = next(iter(node.items())) if isinstance(node, dict) else (1, node[0])
            path = f"{path}.{key}"
        return path

    def sub(self, key: str) -> Reader:
        value = self.node.get(key)
        if value is None:
            return Reader({}, self.name(key))
        if not isinstance(value, dict):
            raise errors.invalid_parameter(f"The parameter {self.name(key)} must have sub-parameters.")
        return Reader(value, self.name(key))
