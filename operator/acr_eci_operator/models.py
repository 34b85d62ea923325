"""The AcrContainerGroup API as typed models: the one source of the CRD schema and of spec validation.

Every field carries its description and its OpenAPI constraints in dataclass metadata (see `doc`).
`acr_eci_operator.crd` turns them into the CRD's schema; `AcrContainerGroupSpec.from_dict` enforces
the same constraints in Python (plus the few the schema cannot state), so a spec that reaches the
operator past an apiserver that ignores CEL, or a raw dict in a test, is still checked.

No I/O, no kopf, no SDK here.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

GROUP = "eci.acr-operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "AcrContainerGroup"
PLURAL = "acrcontainergroups"
SINGULAR = "acrcontainergroup"
SHORT_NAMES = ("acg",)
CATEGORIES = ("eci",)

ANNOTATION_INSTANCE_ID = "k8s.aliyun.com/acr-instance-id"
ANNOTATION_INSTANCE_IDS = "k8s.aliyun.com/acr-instance-ids"
ANNOTATION_RESTARTED_AT = f"{GROUP}/restartedAt"
"""A new value asks for one RestartContainerGroup of the current group (as `kubectl rollout restart`
does for a Deployment); the value is opaque (by convention the time asked, RFC 3339)."""
ANNOTATION_RECREATED_AT = f"{GROUP}/recreatedAt"
"""A new value asks for one replacement of the group (delete, then create under a new incarnation); acted
on only under spec.updateStrategy Recreate, refused otherwise."""
REQUEST_ANNOTATIONS = (ANNOTATION_RESTARTED_AT, ANNOTATION_RECREATED_AT)

OWNER_TAG_PREFIX = "acr-eci-operator/"
# ECI allows 20 tags per group; the operator's three ownership tags leave 17 to the user.
MAX_USER_TAGS = 17
# Bounds from ECI's CreateContainerGroup reference (the parameter descriptions, also in Alibaba's generated
# SDKs' CreateContainerGroupRequest* models) and its "vCPU and memory" user guide:
#   EnvironmentVar Value "can be up to 256 characters", Key "1 to 128 characters"; Arg "up to 10
#   arguments"; Tag key "up to 64 characters", value "up to 128"; group specifications from 0.25 vCPU /
#   0.5 GiB to 64 vCPU / 512 GiB (other sizes are rounded up to a supported one).
# Where the reference is silent the bound is ours: Command (20 entries of 256 characters, as Auto
# Scaling's ECI scaling configuration documents), the length of one Arg (4096), env entries per
# container (256), AcrRegistryInfo entries (10).
MAX_ENV_NAME = 128
MAX_ENV_VALUE = 256
MAX_COMMAND_ITEMS = 20
MAX_COMMAND_LENGTH = 256
MAX_ARGS = 10
MAX_ARG_LENGTH = 4096
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 128
MIN_GROUP_CPU, MAX_CPU = 0.25, 64.0
MIN_GROUP_MEMORY, MAX_MEMORY = 0.5, 512.0
MAX_ACR_REGISTRY_INFOS = 10
"""AcrRegistryInfo entries sent in all (spec and annotation): the operator's bound (the reference gives none)."""
# Volumes: ECI's limits page allows 20 volumes per group. ConfigFileVolume content (the reference and the
# "Mount a ConfigFile volume" guide): Base64-encoded, at most 32 KB per file and 60 KB per volume (counted
# here on the file's bytes; the reference does not say whether before or after encoding). Where the
# reference is silent the bound is ours: files per config volume (64), mounts per container (20), sysctls
# (20).
MAX_VOLUMES = 20
MAX_VOLUME_MOUNTS = 20
MAX_CONFIG_FILES = 64
MAX_CONFIG_FILE_BYTES = 32 * 1024
MAX_CONFIG_VOLUME_BYTES = 60 * 1024
MAX_SYSCTLS = 20
RESERVED_TAG_PREFIXES = (OWNER_TAG_PREFIX, "aliyun", "acs:")

INSTANCE_ID_PATTERN = r"^cri-[a-z0-9]+$"
# ECI's rule for ContainerGroupName: 2 to 128 characters, lowercase letters, digits and hyphens,
# neither starting nor ending with a hyphen.
GROUP_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,126}[a-z0-9]$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]+)?$"
REGION_PATTERN = r"^[a-z]+-[a-z0-9-]+$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
IP_PATTERN = r"^[0-9a-fA-F:.]+$"
# ecs.<family>.<size>, e.g. ecs.c6.large, ecs.gn6i-c4g1.xlarge.
INSTANCE_TYPE_PATTERN = r"^ecs\.[a-z0-9-]+\.[a-z0-9-]+$"
GPU_INSTANCE_TYPE = r"^ecs[.](gn|vgn|sgn|ebmgn|gi)[a-z0-9-]*[.][a-z0-9-]+$"
"""GPU families (gn*, vgn*, sgn*, ebmgn*, gi*): a container with gpu needs every instance type to be one
(ECI may place the group on any of them). [.], not \\., since a CEL string literal refuses the escape
\\. (the apiserver does; cel-python accepts it)."""
MAX_INSTANCE_TYPES = 5
"""ECI's multi-specification limit (CreateContainerGroup InstanceType: up to five types)."""
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
# Sysctls ECI accepts (CreateContainerGroup: SecurityContext.Sysctl for the two safe ones,
# HostSecurityContext.Sysctl for kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*; not
# kernel.shm_rmid_forced nor net.ipv4.tcp_syncookies, refused by Sysctl's own rule).
SAFE_SYSCTLS = ("net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")
SYSCTL_PATTERN = (
    r"^(kernel\.shm[a-z_]+|kernel\.msg[a-z_]+|kernel\.sem|fs\.mqueue\.[a-z_]+|net\.[a-z0-9_.-]+)$"
)

# Spec fields ECI cannot change on an existing group (JSON names, under `spec`).
IMMUTABLE_FIELDS = (
    "containerGroupName",
    "regionId",
    "zoneId",
    "securityGroupId",
    "vSwitchIds",
    "instanceType",
    "terminationGracePeriodSeconds",
    "ephemeralStorage",
    "securityContext",
    "instanceTypes",
    "computeCategory",
    "cpuArchitecture",
    "scheduleStrategy",
    "eip",
    "dnsPolicy",
    "hostAliases",
    "ntpServers",
    "hostName",
    "spot",
    "gpuDriverVersion",
    "imageCache",
    "ramRoleName",
    "activeDeadlineSeconds",
)

RestartPolicy = Literal["Always", "OnFailure", "Never"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]
Protocol = Literal["TCP", "UDP"]
DeletionPolicy = Literal["Delete", "Orphan"]
UpdateStrategy = Literal["InPlace", "Recreate"]
ConditionStatus = Literal["True", "False", "Unknown"]
RequestResult = Literal["Sending", "Restarted", "Recreated", "NotNeeded", "NotApplicable"]


class SpecError(ValueError):
    """A spec (or annotation) the operator cannot act on; `field` is the path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def doc(
    description: str,
    *,
    list_map_keys: Sequence[str] = (),
    cel_rules: Sequence[Mapping[str, str]] = (),
    json_name: str | None = None,
    **schema: Any,
) -> dict[str, Any]:
    """Metadata for a model field: its description and OpenAPI constraints, keyed as in the CRD.

    `items` / `additionalProperties` hold constraints for the elements of a list / the values of a map;
    `list_map_keys` makes a list an `x-kubernetes-list-type: map` with those keys (and unique in Python);
    `cel_rules` become the field's `x-kubernetes-validations` (Python checks them in a `check` method).
    """
    return {
        "description": description,
        "schema": schema,
        "list_map_keys": tuple(list_map_keys),
        "cel_rules": tuple(dict(rule) for rule in cel_rules),
        "json_name": json_name,
    }


def json_name(model_field: dataclasses.Field[Any]) -> str:
    """The field's name in the resource: camelCase of the Python name unless given explicitly."""
    explicit = model_field.metadata.get("json_name")
    if explicit:
        return str(explicit)
    first, *rest = model_field.name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


# ----------------------------------------------------------------------------------------- spec


def one_of_rule(names: Sequence[str], what: str) -> dict[str, str]:
    """A CEL rule: exactly one of the fields `names` is set."""
    count = " + ".join(f"(has(self.{name}) ? 1 : 0)" for name in names)
    return {"rule": f"{count} == 1", "message": f"{what}: set exactly one of {', '.join(names)}"}


def check_one_of(model: Any, path: str, names: Sequence[str], what: str) -> None:
    """The Python side of `one_of_rule` (field names in JSON form)."""
    given = [
        json_name(model_field)
        for model_field in dataclasses.fields(model)
        if json_name(model_field) in names and getattr(model, model_field.name) is not None
    ]
    if len(given) != 1:
        found = f"found {', '.join(given)}" if given else "found none"
        raise SpecError(path, f"{what}: set exactly one of {', '.join(names)} ({found})")


RELATIVE_PATH_RULE_TEMPLATE = "!self.{name}.startsWith('/') && !self.{name}.matches('(^|/)[.][.](/|$)')"
_PARENT_SEGMENT = re.compile(r"(^|/)\.\.(/|$)")


def check_relative_path(value: str | None, path: str) -> None:
    """A path inside a volume: relative, and no `..` segment (it could reach outside the volume)."""
    if value is not None and (value.startswith("/") or _PARENT_SEGMENT.search(value)):
        raise SpecError(path, f"{value!r} must be a relative path without '..'")


@dataclass(frozen=True)
class SecretKeySelector:
    """Selects one key of a Secret in the namespace of the AcrContainerGroup."""

    name: str = field(
        metadata=doc(
            "Name of the Secret, in the same namespace as the AcrContainerGroup.",
            minLength=1,
            maxLength=253,
            pattern=DNS_SUBDOMAIN_PATTERN,
        )
    )
    key: str = field(
        metadata=doc(
            "Key within the Secret's data whose value is used.",
            minLength=1,
            maxLength=253,
            pattern=SECRET_KEY_PATTERN,
        )
    )
    optional: bool | None = field(
        default=None,
        metadata=doc(
            "Whether a missing Secret or key is allowed (the variable is then left out). Default false: the "
            "operator waits for it, with a condition naming it."
        ),
    )


@dataclass(frozen=True)
class ConfigMapKeySelector:
    """Selects one key of a ConfigMap in the namespace of the AcrContainerGroup."""

    name: str = field(
        metadata=doc(
            "Name of the ConfigMap, in the same namespace as the AcrContainerGroup.",
            minLength=1,
            maxLength=253,
            pattern=DNS_SUBDOMAIN_PATTERN,
        )
    )
    key: str = field(
        metadata=doc(
            "Key within the ConfigMap's data whose value is used.",
            minLength=1,
            maxLength=253,
            pattern=SECRET_KEY_PATTERN,
        )
    )
    optional: bool | None = field(
        default=None,
        metadata=doc(
            "Whether a missing ConfigMap or key is allowed (the variable is then left out). Default false."
        ),
    )


@dataclass(frozen=True)
class ObjectFieldSelector:
    """A field of the running group (ECI EnvironmentVar.N.FieldRef.FieldPath)."""

    field_path: Literal["status.podIP"] = field(
        metadata=doc("The field: status.podIP, the group's private IP (the only one ECI supports).")
    )


ENV_SOURCES = ("secretKeyRef", "configMapKeyRef", "fieldRef")


@dataclass(frozen=True)
class EnvVarSource:
    """Where an environment variable's value comes from, instead of an inline value: exactly one source."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (one_of_rule(ENV_SOURCES, "valueFrom"),)

    secret_key_ref: SecretKeySelector | None = field(
        default=None,
        metadata=doc(
            "A key of a Secret in the same namespace. The operator reads it when it creates or updates "
            "the container group, and again when the Secret changes; a missing Secret or key stops the "
            "create with a condition naming it."
        ),
    )
    config_map_key_ref: ConfigMapKeySelector | None = field(
        default=None,
        metadata=doc("A key of a ConfigMap in the same namespace, read like secretKeyRef."),
    )
    field_ref: ObjectFieldSelector | None = field(
        default=None,
        metadata=doc("A field of the running group (ECI FieldRef): status.podIP."),
    )

    def check(self, path: str) -> None:
        check_one_of(self, path, ENV_SOURCES, "valueFrom")


@dataclass(frozen=True)
class EnvVar:
    """An environment variable of a container: an inline value, or valueFrom a Secret, a ConfigMap or a
    field of the group."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "!(has(self.value) && has(self.valueFrom))",
            "message": "value and valueFrom are mutually exclusive",
        },
    )

    name: str = field(
        metadata=doc(
            "Name of the variable (ECI EnvironmentVar Key, at most 128 characters).",
            minLength=1,
            maxLength=MAX_ENV_NAME,
            pattern=ENV_NAME_PATTERN,
        )
    )
    value: str | None = field(
        default=None,
        metadata=doc(
            "Inline value of the variable, at most 256 characters (ECI's limit). Do not put secrets here: "
            "use valueFrom.",
            maxLength=MAX_ENV_VALUE,
        ),
    )
    value_from: EnvVarSource | None = field(
        default=None,
        metadata=doc("Take the value from a Secret key, a ConfigMap key or a field of the group."),
    )

    def check(self, path: str) -> None:
        if self.value is not None and self.value_from is not None:
            raise SpecError(path, "value and valueFrom are mutually exclusive")


@dataclass(frozen=True)
class LocalObjectReference:
    """A ConfigMap or Secret in the namespace of the AcrContainerGroup, named."""

    name: str = field(
        metadata=doc(
            "Name of the object, in the same namespace as the AcrContainerGroup.",
            minLength=1,
            maxLength=253,
            pattern=DNS_SUBDOMAIN_PATTERN,
        )
    )
    optional: bool | None = field(
        default=None,
        metadata=doc("Whether the object may be missing (nothing is taken from it then). Default false."),
    )


ENV_FROM_SOURCES = ("configMapRef", "secretRef")


@dataclass(frozen=True)
class EnvFromSource:
    """Every key of a ConfigMap or Secret as an environment variable (the key is the name)."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (one_of_rule(ENV_FROM_SOURCES, "envFrom"),)

    config_map_ref: LocalObjectReference | None = field(
        default=None, metadata=doc("The ConfigMap whose keys become variables.")
    )
    secret_ref: LocalObjectReference | None = field(
        default=None, metadata=doc("The Secret whose keys become variables.")
    )
    prefix: str | None = field(
        default=None,
        metadata=doc(
            "Put before every key to make the variable's name.", maxLength=64, pattern=ENV_NAME_PATTERN
        ),
    )

    def check(self, path: str) -> None:
        check_one_of(self, path, ENV_FROM_SOURCES, "envFrom")


# ---------------------------------------------------------------- probes, lifecycle, security


@dataclass(frozen=True)
class ExecAction:
    """Run a command in the container; exit status 0 is success."""

    command: tuple[str, ...] = field(
        metadata=doc(
            "The command and its arguments (not run in a shell unless you call one).",
            minItems=1,
            maxItems=MAX_COMMAND_ITEMS,
            items={"maxLength": MAX_COMMAND_LENGTH},
        )
    )


@dataclass(frozen=True)
class HTTPGetAction:
    """An HTTP GET against the container; a status from 200 to 399 is success."""

    port: int = field(
        metadata=doc(
            "Port to connect to, 1 to 65535 (a number: ECI takes no named ports).",
            minimum=1,
            maximum=65535,
            format="int32",
        )
    )
    path: str | None = field(
        default=None, metadata=doc("Path of the request, e.g. /healthz.", maxLength=2048, pattern=r"^/")
    )
    scheme: Literal["HTTP", "HTTPS"] | None = field(
        default=None, metadata=doc("HTTP (ECI's default) or HTTPS.")
    )


@dataclass(frozen=True)
class TCPSocketAction:
    """Open a TCP connection to the container; an accepted connection is success."""

    port: int = field(
        metadata=doc("Port to connect to, 1 to 65535.", minimum=1, maximum=65535, format="int32")
    )


PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket")


@dataclass(frozen=True)
class Probe:
    """A health check ECI runs against the container (ECI Container.N.LivenessProbe / ReadinessProbe):
    exactly one of exec, httpGet and tcpSocket."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (one_of_rule(PROBE_HANDLERS, "probe"),)

    exec: ExecAction | None = field(default=None, metadata=doc("Run a command (Exec.Command.N)."))
    http_get: HTTPGetAction | None = field(
        default=None, metadata=doc("An HTTP GET (HttpGet.Path/Port/Scheme).")
    )
    tcp_socket: TCPSocketAction | None = field(
        default=None, metadata=doc("A TCP connection (TcpSocket.Port).")
    )
    initial_delay_seconds: int | None = field(
        default=None,
        metadata=doc(
            "Seconds after the container starts before the first check.",
            minimum=0,
            maximum=3600,
            format="int32",
        ),
    )
    period_seconds: int | None = field(
        default=None,
        metadata=doc("Seconds between checks (ECI's default 10).", minimum=1, maximum=3600, format="int32"),
    )
    timeout_seconds: int | None = field(
        default=None,
        metadata=doc("Seconds a check may take (ECI's default 1).", minimum=1, maximum=3600, format="int32"),
    )
    success_threshold: int | None = field(
        default=None,
        metadata=doc(
            "Successes in a row that count as healthy: ECI accepts only 1.",
            minimum=1,
            maximum=1,
            format="int32",
        ),
    )
    failure_threshold: int | None = field(
        default=None,
        metadata=doc(
            "Failures in a row that count as unhealthy (ECI's default 3).",
            minimum=1,
            maximum=100,
            format="int32",
        ),
    )

    def check(self, path: str) -> None:
        check_one_of(self, path, PROBE_HANDLERS, "probe")


@dataclass(frozen=True)
class HTTPHeader:
    """A header of a lifecycle hook's HTTP request."""

    name: str = field(metadata=doc("Header name.", minLength=1, maxLength=256, pattern=r"^[-A-Za-z0-9_]+$"))
    value: str = field(metadata=doc("Header value.", maxLength=4096))


@dataclass(frozen=True)
class LifecycleHTTPGetAction:
    """An HTTP GET made by a lifecycle hook."""

    port: int = field(
        metadata=doc("Port to connect to, 1 to 65535.", minimum=1, maximum=65535, format="int32")
    )
    host: str | None = field(
        default=None, metadata=doc("Host to connect to; the group's IP when not set.", maxLength=253)
    )
    path: str | None = field(
        default=None, metadata=doc("Path of the request.", maxLength=2048, pattern=r"^/")
    )
    scheme: Literal["HTTP", "HTTPS"] | None = field(default=None, metadata=doc("HTTP or HTTPS."))
    http_headers: tuple[HTTPHeader, ...] = field(
        default=(), metadata=doc("Headers of the request.", maxItems=20)
    )


@dataclass(frozen=True)
class LifecycleTCPSocketAction:
    """A TCP connection made by a lifecycle hook."""

    port: int = field(
        metadata=doc("Port to connect to, 1 to 65535.", minimum=1, maximum=65535, format="int32")
    )
    host: str | None = field(
        default=None, metadata=doc("Host to connect to; the group's IP when not set.", maxLength=253)
    )


@dataclass(frozen=True)
class LifecycleHandler:
    """What a lifecycle hook does: exactly one of exec, httpGet and tcpSocket."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (one_of_rule(PROBE_HANDLERS, "lifecycle handler"),)

    exec: ExecAction | None = field(default=None, metadata=doc("Run a command in the container."))
    http_get: LifecycleHTTPGetAction | None = field(default=None, metadata=doc("Make an HTTP GET."))
    tcp_socket: LifecycleTCPSocketAction | None = field(default=None, metadata=doc("Open a TCP connection."))

    def check(self, path: str) -> None:
        check_one_of(self, path, PROBE_HANDLERS, "lifecycle handler")


@dataclass(frozen=True)
class Lifecycle:
    """Hooks ECI runs when the container starts and before it stops."""

    post_start: LifecycleHandler | None = field(
        default=None, metadata=doc("Run right after the container starts (ECI LifecyclePostStartHandler*).")
    )
    pre_stop: LifecycleHandler | None = field(
        default=None,
        metadata=doc(
            "Run before the container is stopped, within spec.terminationGracePeriodSeconds "
            "(ECI LifecyclePreStopHandler*)."
        ),
    )


Capability = Literal["NET_ADMIN", "NET_RAW"]


@dataclass(frozen=True)
class Capabilities:
    """Linux capabilities added to the container's default set."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "!has(self.drop)",
            "message": "capabilities.drop: ECI cannot drop capabilities; remove it (the container keeps ECI's default set)",
        },
    )

    add: tuple[Capability, ...] = field(
        default=(),
        metadata=doc(
            "Capabilities to add: NET_ADMIN or NET_RAW, the only ones ECI grants (NET_RAW needs it enabled "
            "for the account). ECI Container.N.SecurityContext.Capability.Add.N.",
            maxItems=2,
        ),
    )
    drop: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Not supported by ECI, and refused rather than ignored: a dropped capability would silently stay.",
            maxItems=64,
            items={"maxLength": 64},
        ),
    )

    def check(self, path: str) -> None:
        if self.drop:
            raise SpecError(f"{path}.drop", "ECI cannot drop capabilities; remove it")


@dataclass(frozen=True)
class SecurityContext:
    """Security settings of a container, as ECI supports them."""

    capabilities: Capabilities | None = field(default=None, metadata=doc("Capabilities to add."))
    run_as_user: int | None = field(
        default=None,
        metadata=doc(
            "UID the container's process runs as (SecurityContext.RunAsUser).",
            minimum=0,
            maximum=2147483647,
            format="int64",
        ),
    )
    run_as_group: int | None = field(
        default=None,
        metadata=doc(
            "GID the container's process runs as (SecurityContextRunAsGroup). Not for init containers. "
            "Fixed when the group is created: a change replaces the group (updateStrategy Recreate) or is "
            "refused.",
            minimum=0,
            maximum=2147483647,
            format="int64",
        ),
    )
    run_as_non_root: bool | None = field(
        default=None,
        metadata=doc(
            "Refuse to start a process running as root (SecurityContextRunAsNonRoot). Not for init "
            "containers. Fixed when the group is created."
        ),
    )
    read_only_root_filesystem: bool | None = field(
        default=None,
        metadata=doc(
            "Mount the root file system read-only (SecurityContext.ReadOnlyRootFilesystem; sent only when true)."
        ),
    )
    privileged: bool | None = field(
        default=None,
        metadata=doc(
            "Run the container privileged (SecurityContextPrivileged; ECI allows it only for enabled "
            "accounts). Not for init containers. Fixed when the group is created."
        ),
    )


@dataclass(frozen=True)
class VolumeMount:
    """A volume mounted into the container (ECI Container.N.VolumeMount.N)."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "!has(self.subPath) || (" + RELATIVE_PATH_RULE_TEMPLATE.format(name="subPath") + ")",
            "message": "subPath must be a relative path without '..'",
        },
    )

    name: str = field(
        metadata=doc(
            "Name of a volume in spec.volumes.", minLength=1, maxLength=63, pattern=DNS_LABEL_PATTERN
        )
    )
    mount_path: str = field(
        metadata=doc(
            "Absolute path in the container where the volume appears (what is there is hidden).",
            minLength=1,
            maxLength=1024,
            pattern=r"^/",
        )
    )
    read_only: bool | None = field(default=None, metadata=doc("Mount read-only. Default false."))
    sub_path: str | None = field(
        default=None,
        metadata=doc(
            "Mount this path inside the volume instead of its root (relative, no '..').", maxLength=1024
        ),
    )
    mount_propagation: Literal["None", "HostToContainer", "Bidirectional"] | None = field(
        default=None,
        metadata=doc("How mounts propagate: None (ECI's default), HostToContainer or Bidirectional."),
    )

    def check(self, path: str) -> None:
        check_relative_path(self.sub_path, f"{path}.subPath")


@dataclass(frozen=True)
class ContainerPort:
    """A port the container listens on."""

    container_port: int = field(
        metadata=doc("Port number (ECI Port.N.Port), 1 to 65535.", minimum=1, maximum=65535, format="int32")
    )
    protocol: Protocol | None = field(
        default=None, metadata=doc("Protocol of the port: TCP or UDP. Left to ECI when not set.")
    )


@dataclass(frozen=True)
class Container:
    """A container of the group (ECI Container.N or InitContainer.N)."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "!has(self.startupProbe)",
            "message": (
                "startupProbe: ECI has no startup probe; use readinessProbe or livenessProbe with "
                "initialDelaySeconds"
            ),
        },
    )

    name: str = field(
        metadata=doc(
            "Name of the container, unique within the group: lowercase letters, digits and hyphens.",
            minLength=1,
            maxLength=63,
            pattern=DNS_LABEL_PATTERN,
        )
    )
    image: str = field(
        metadata=doc(
            "Image reference, e.g. myinstance-registry-vpc.cn-beijing.cr.aliyuncs.com/ns/app:1.0. Images in "
            "an ACR Enterprise Edition instance pull without a password when spec.acrRegistryInfos (or the "
            "k8s.aliyun.com/acr-instance-id annotation) names the instance.",
            minLength=1,
            maxLength=1024,
            pattern=r"^\S+$",
        )
    )
    image_pull_policy: PullPolicy | None = field(
        default=None,
        metadata=doc("When to pull the image: Always, IfNotPresent or Never. Left to ECI when not set."),
    )
    command: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Entrypoint of the container; the image's entrypoint when empty. At most 20 entries of 256 "
            "characters.",
            maxItems=MAX_COMMAND_ITEMS,
            items={"maxLength": MAX_COMMAND_LENGTH},
        ),
    )
    args: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Arguments to the entrypoint; the image's CMD when empty. At most 10 (ECI's limit) of 4096 "
            "characters.",
            maxItems=MAX_ARGS,
            items={"maxLength": MAX_ARG_LENGTH},
        ),
    )
    working_dir: str | None = field(
        default=None, metadata=doc("Working directory of the container.", minLength=1, maxLength=4096)
    )
    cpu: float | None = field(
        default=None,
        metadata=doc(
            "vCPUs for this container, e.g. 0.5 or 2 (at most 64).",
            minimum=0,
            exclusiveMinimum=True,
            maximum=MAX_CPU,
        ),
    )
    memory: float | None = field(
        default=None,
        metadata=doc(
            "Memory for this container in GiB, e.g. 1 or 0.5 (at most 512).",
            minimum=0,
            exclusiveMinimum=True,
            maximum=MAX_MEMORY,
        ),
    )
    env: tuple[EnvVar, ...] = field(
        default=(),
        metadata=doc("Environment variables, unique by name.", list_map_keys=("name",), maxItems=256),
    )
    ports: tuple[ContainerPort, ...] = field(
        default=(), metadata=doc("Ports the container exposes.", maxItems=100)
    )
    gpu: int | None = field(
        default=None,
        metadata=doc(
            "GPUs for this container (Container.N.Gpu); needs a GPU instance type in spec.instanceType(s).",
            minimum=0,
            maximum=64,
            format="int32",
        ),
    )
    env_from: tuple[EnvFromSource, ...] = field(
        default=(),
        metadata=doc(
            "ConfigMaps and Secrets whose every key becomes a variable (env wins over envFrom for the same "
            "name; a later envFrom wins over an earlier one). Keys that are not variable names for ECI "
            "(letters, digits and _, not starting with a digit), such as app.yaml, are skipped.",
            maxItems=16,
        ),
    )
    volume_mounts: tuple[VolumeMount, ...] = field(
        default=(),
        metadata=doc(
            "Volumes of spec.volumes mounted into the container, unique by mountPath.",
            list_map_keys=("mountPath",),
            maxItems=MAX_VOLUME_MOUNTS,
        ),
    )
    liveness_probe: Probe | None = field(
        default=None,
        metadata=doc(
            "Restart the container when this check fails failureThreshold times in a row "
            "(ECI Container.N.LivenessProbe). Not for init containers."
        ),
    )
    readiness_probe: Probe | None = field(
        default=None,
        metadata=doc(
            "The container is Ready only while this check passes (ECI Container.N.ReadinessProbe). Not for "
            "init containers."
        ),
    )
    startup_probe: Probe | None = field(
        default=None,
        metadata=doc(
            "Not supported: ECI has no startup probe. Refused rather than ignored; use a readinessProbe or "
            "livenessProbe with initialDelaySeconds instead."
        ),
    )
    lifecycle: Lifecycle | None = field(
        default=None, metadata=doc("postStart and preStop hooks. Not for init containers.")
    )
    security_context: SecurityContext | None = field(
        default=None, metadata=doc("Security settings of the container.")
    )

    def check(self, path: str) -> None:
        if self.startup_probe is not None:
            raise SpecError(
                f"{path}.startupProbe",
                "ECI has no startup probe: use readinessProbe or livenessProbe with initialDelaySeconds",
            )


@dataclass(frozen=True)
class KeyToPath:
    """One key of a ConfigMap or Secret as a file of the volume."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": RELATIVE_PATH_RULE_TEMPLATE.format(name="path"),
            "message": "path must be a relative path without '..'",
        },
    )

    key: str = field(
        metadata=doc(
            "The key whose value is the file's content.",
            minLength=1,
            maxLength=253,
            pattern=SECRET_KEY_PATTERN,
        )
    )
    path: str = field(
        metadata=doc(
            "Path of the file, relative to the mount path (ConfigFileToPath.N.Path); no '..'.",
            minLength=1,
            maxLength=1024,
        )
    )
    mode: int | None = field(
        default=None,
        metadata=doc(
            "Permission bits of the file, 0 to 0777 (write 0644 in YAML); defaultMode when not set. Fixed "
            "when the group is created (UpdateContainerGroup cannot change modes).",
            minimum=0,
            maximum=0o777,
            format="int32",
        ),
    )

    def check(self, path: str) -> None:
        check_relative_path(self.path, f"{path}.path")


def _items_doc(kind: str) -> dict[str, Any]:
    return doc(
        f"Which keys become files, and where; every key of the {kind}, named after the key, when empty. A "
        f"key listed that the {kind} lacks stops the create with a condition (unless optional).",
        list_map_keys=("path",),
        maxItems=MAX_CONFIG_FILES,
    )


def _default_mode_doc() -> dict[str, Any]:
    return doc(
        "Permission bits of the files, 0 to 0777 (write 0644 in YAML). ECI's default when not set. Fixed when "
        "the group is created (UpdateContainerGroup cannot change modes).",
        minimum=0,
        maximum=0o777,
        format="int32",
    )


@dataclass(frozen=True)
class ConfigMapVolumeSource:
    """A ConfigMap's keys as files (ECI ConfigFileVolume). The operator reads the ConfigMap and sends the
    contents; when it changes, the group is updated."""

    name: str = field(
        metadata=doc(
            "Name of the ConfigMap, in the same namespace.",
            minLength=1,
            maxLength=253,
            pattern=DNS_SUBDOMAIN_PATTERN,
        )
    )
    items: tuple[KeyToPath, ...] = field(default=(), metadata=_items_doc("ConfigMap"))
    default_mode: int | None = field(default=None, metadata=_default_mode_doc())
    optional: bool | None = field(
        default=None,
        metadata=doc(
            "Whether the ConfigMap (or a listed key) may be missing: the volume is then an empty directory. Default false."
        ),
    )


@dataclass(frozen=True)
class SecretVolumeSource:
    """A Secret's keys as files (ECI ConfigFileVolume). The operator reads the Secret and sends the
    contents (never logged); when it changes, the group is updated."""

    secret_name: str = field(
        metadata=doc(
            "Name of the Secret, in the same namespace.",
            minLength=1,
            maxLength=253,
            pattern=DNS_SUBDOMAIN_PATTERN,
        )
    )
    items: tuple[KeyToPath, ...] = field(default=(), metadata=_items_doc("Secret"))
    default_mode: int | None = field(default=None, metadata=_default_mode_doc())
    optional: bool | None = field(
        default=None,
        metadata=doc(
            "Whether the Secret (or a listed key) may be missing: the volume is then an empty directory. Default false."
        ),
    )


@dataclass(frozen=True)
class EmptyDirVolumeSource:
    """A directory that starts empty and lives as long as the group (ECI EmptyDirVolume)."""

    medium: Literal["", "Memory"] | None = field(
        default=None,
        metadata=doc("Memory for a RAM-backed directory; the group's disk when empty or not set."),
    )
    size_limit: str | None = field(
        default=None,
        metadata=doc(
            "Largest size, as a quantity with unit, e.g. 256Mi or 2Gi.",
            pattern=QUANTITY_PATTERN,
            maxLength=32,
        ),
    )


@dataclass(frozen=True)
class NFSVolumeSource:
    """A NAS file system mounted over NFS (ECI NFSVolume)."""

    server: str = field(
        metadata=doc(
            "Mount target of the NAS file system, e.g. 0a1b2c3d4e-abc12.cn-beijing.nas.aliyuncs.com.",
            minLength=1,
            maxLength=253,
            pattern=HOSTNAME_PATTERN,
        )
    )
    path: str = field(
        metadata=doc(
            "Directory of the file system to mount, e.g. /share.", minLength=1, maxLength=1024, pattern=r"^/"
        )
    )
    read_only: bool | None = field(default=None, metadata=doc("Mount read-only. Default false."))


@dataclass(frozen=True)
class DiskVolumeSource:
    """An existing cloud disk (ECI DiskVolume). UpdateContainerGroup cannot carry disk volumes: while the
    group has one, any change of spec.volumes replaces the group (updateStrategy Recreate) or is refused."""

    disk_id: str = field(
        metadata=doc(
            "ID of the disk, e.g. d-2zehdahrwoa7srgabcd.", minLength=3, maxLength=64, pattern=r"^d-[a-z0-9]+$"
        )
    )
    fs_type: Literal["xfs", "ext4", "ext3", "vfat"] | None = field(
        default=None, metadata=doc("File system of the disk: xfs, ext4, ext3 or vfat.")
    )
    disk_size: int | None = field(
        default=None, metadata=doc("Size of the disk in GiB.", minimum=1, maximum=32768, format="int32")
    )


@dataclass(frozen=True)
class FlexVolumeSource:
    """A disk, NAS or OSS volume through ECI's FlexVolume drivers (ECI FlexVolume)."""

    driver: Literal["alicloud/disk", "alicloud/nas", "alicloud/oss"] = field(
        metadata=doc("The driver: alicloud/disk, alicloud/nas or alicloud/oss.")
    )
    fs_type: str | None = field(
        default=None,
        metadata=doc(
            "File system, e.g. ext4 for a disk (the driver's default when not set).",
            maxLength=16,
            pattern=r"^[a-z0-9]+$",
        ),
    )
    options: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "Driver options, sent as a JSON object (FlexVolume.Options), e.g. volumeId: d-2zeh..., "
            "performanceLevel: PL1 for a disk.",
            maxProperties=32,
            additionalProperties={"maxLength": 1024},
        ),
    )


VOLUME_SOURCES = ("emptyDir", "nfs", "configMap", "secret", "disk", "flexVolume")


@dataclass(frozen=True)
class Volume:
    """A volume of the group (ECI Volume.N): exactly one source."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (one_of_rule(VOLUME_SOURCES, "volume"),)

    name: str = field(
        metadata=doc(
            "Name of the volume, unique in the group; volumeMounts name it.",
            minLength=1,
            maxLength=63,
            pattern=DNS_LABEL_PATTERN,
        )
    )
    empty_dir: EmptyDirVolumeSource | None = field(
        default=None, metadata=doc("An empty directory (EmptyDirVolume).")
    )
    nfs: NFSVolumeSource | None = field(default=None, metadata=doc("A NAS file system over NFS (NFSVolume)."))
    config_map: ConfigMapVolumeSource | None = field(
        default=None, metadata=doc("A ConfigMap's keys as files (ConfigFileVolume).")
    )
    secret: SecretVolumeSource | None = field(
        default=None, metadata=doc("A Secret's keys as files (ConfigFileVolume).")
    )
    disk: DiskVolumeSource | None = field(default=None, metadata=doc("An existing cloud disk (DiskVolume)."))
    flex_volume: FlexVolumeSource | None = field(
        default=None, metadata=doc("A disk, NAS or OSS volume through a FlexVolume driver (FlexVolume).")
    )

    def check(self, path: str) -> None:
        check_one_of(self, path, VOLUME_SOURCES, "volume")


@dataclass(frozen=True)
class Sysctl:
    """A kernel parameter of the group."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "self.name != 'kernel.shm_rmid_forced' && self.name != 'net.ipv4.tcp_syncookies'",
            "message": "ECI does not allow setting kernel.shm_rmid_forced or net.ipv4.tcp_syncookies",
        },
    )

    name: str = field(
        metadata=doc(
            "Name of the parameter: net.ipv4.ping_group_range or net.ipv4.ip_unprivileged_port_start "
            "(SecurityContext.Sysctl), or one ECI allows at host level: kernel.shm* (not "
            "kernel.shm_rmid_forced), kernel.msg*, kernel.sem, fs.mqueue.*, net.* (not "
            "net.ipv4.tcp_syncookies) (HostSecurityContext.Sysctl).",
            minLength=1,
            maxLength=128,
            pattern=SYSCTL_PATTERN,
        )
    )
    value: str = field(metadata=doc("Value of the parameter.", minLength=1, maxLength=256))

    def check(self, path: str) -> None:
        if self.name in ("kernel.shm_rmid_forced", "net.ipv4.tcp_syncookies"):
            raise SpecError(f"{path}.name", f"ECI does not allow setting {self.name}")


@dataclass(frozen=True)
class PodSecurityContext:
    """Security settings of the whole group, as ECI supports them. Fixed when the group is created:
    a change replaces the group (updateStrategy Recreate) or is refused."""

    sysctls: tuple[Sysctl, ...] = field(
        default=(),
        metadata=doc("Kernel parameters of the group.", list_map_keys=("name",), maxItems=MAX_SYSCTLS),
    )


@dataclass(frozen=True)
class EipSpec:
    """A public IP for the group (ECI EIP): a new one (autoCreate) or an existing one (instanceId)."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "has(self.instanceId) != (has(self.autoCreate) && self.autoCreate)",
            "message": "eip: set either instanceId (an existing EIP) or autoCreate: true, not both",
        },
        {
            "rule": "has(self.autoCreate) && self.autoCreate || "
            "!(has(self.bandwidth) || has(self.isp) || has(self.commonBandwidthPackageId))",
            "message": "eip: bandwidth, isp and commonBandwidthPackageId apply only with autoCreate: true",
        },
    )

    auto_create: bool | None = field(
        default=None,
        metadata=doc("Create an EIP with the group, released with it (AutoCreateEip)."),
    )
    bandwidth: int | None = field(
        default=None,
        metadata=doc(
            "Bandwidth of the created EIP in Mbit/s, 1 to 200 (EipBandwidth; ECI's default 5).",
            minimum=1,
            maximum=200,
            format="int32",
        ),
    )
    isp: Literal["BGP", "BGP_PRO"] | None = field(
        default=None, metadata=doc("Line of the created EIP: BGP (ECI's default) or BGP_PRO (EipISP).")
    )
    common_bandwidth_package_id: str | None = field(
        default=None,
        metadata=doc(
            "Shared bandwidth package to add the created EIP to (EipCommonBandwidthPackage).",
            maxLength=64,
            pattern=r"^cbwp-[a-z0-9]+$",
        ),
    )
    instance_id: str | None = field(
        default=None,
        metadata=doc(
            "An existing EIP to bind, e.g. eip-2ze...(EipInstanceId).",
            maxLength=64,
            pattern=r"^eip-[a-z0-9]+$",
        ),
    )

    def check(self, path: str) -> None:
        if (self.instance_id is not None) == bool(self.auto_create):
            raise SpecError(path, "set either instanceId (an existing EIP) or autoCreate: true, not both")
        if not self.auto_create and (self.bandwidth or self.isp or self.common_bandwidth_package_id):
            raise SpecError(
                path, "bandwidth, isp and commonBandwidthPackageId apply only with autoCreate: true"
            )


@dataclass(frozen=True)
class DNSConfigOption:
    """A resolver option (ECI DnsConfig.Option.N)."""

    name: str = field(metadata=doc("Option name, e.g. ndots.", minLength=1, maxLength=64))
    value: str | None = field(default=None, metadata=doc("Option value, e.g. 2.", maxLength=64))


@dataclass(frozen=True)
class PodDNSConfig:
    """Resolver settings of the group (ECI DnsConfig); UpdateContainerGroup can change them."""

    nameservers: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "DNS servers (DnsConfig.NameServer.N).",
            maxItems=3,
            items={"maxLength": 64, "pattern": IP_PATTERN},
        ),
    )
    searches: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Search domains (DnsConfig.Search.N).",
            maxItems=6,
            items={"maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN},
        ),
    )
    options: tuple[DNSConfigOption, ...] = field(
        default=(),
        metadata=doc("Resolver options (DnsConfig.Option.N).", list_map_keys=("name",), maxItems=10),
    )


@dataclass(frozen=True)
class HostAlias:
    """Entries added to the group's /etc/hosts (ECI HostAliase.N)."""

    ip: str = field(metadata=doc("IP address (HostAliase.N.Ip).", maxLength=64, pattern=IP_PATTERN))
    hostnames: tuple[str, ...] = field(
        metadata=doc(
            "Host names for the IP (HostAliase.N.Hostname.M).",
            minItems=1,
            maxItems=10,
            items={"maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN},
        )
    )


SPOT_STRATEGIES = Literal["NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"]


@dataclass(frozen=True)
class SpotSpec:
    """Run on spot capacity (ECI SpotStrategy): cheaper, and ECI may reclaim the group."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "!has(self.priceLimit) || self.strategy == 'SpotWithPriceLimit'",
            "message": "spot.priceLimit applies only with strategy SpotWithPriceLimit",
        },
        {
            "rule": "self.strategy != 'SpotWithPriceLimit' || has(self.priceLimit)",
            "message": "spot.strategy SpotWithPriceLimit needs spot.priceLimit",
        },
        {
            "rule": "self.strategy != 'NoSpot' || !(has(self.durationHours) || has(self.fallbackToOnDemand))",
            "message": "spot.durationHours and spot.fallbackToOnDemand apply only to a spot strategy",
        },
    )

    strategy: SPOT_STRATEGIES = field(
        metadata=doc(
            "NoSpot (on-demand), SpotAsPriceGo (pay the market price up to on-demand) or SpotWithPriceLimit "
            "(at most priceLimit)."
        )
    )
    price_limit: float | None = field(
        default=None,
        metadata=doc(
            "Highest hourly price, with SpotWithPriceLimit (SpotPriceLimit).",
            minimum=0,
            exclusiveMinimum=True,
            maximum=1000,
        ),
    )
    duration_hours: int | None = field(
        default=None,
        metadata=doc(
            "Protection period: 1 (ECI does not reclaim the group in its first hour) or 0 (SpotDuration).",
            minimum=0,
            maximum=1,
            format="int32",
        ),
    )
    fallback_to_on_demand: bool | None = field(
        default=None,
        metadata=doc(
            "When ECI has no spot stock, create an on-demand group instead (status.capacity says which runs). "
            "The operator's, not an ECI parameter."
        ),
    )

    def check(self, path: str) -> None:
        if self.price_limit is not None and self.strategy != "SpotWithPriceLimit":
            raise SpecError(f"{path}.priceLimit", "applies only with strategy SpotWithPriceLimit")
        if self.strategy == "SpotWithPriceLimit" and self.price_limit is None:
            raise SpecError(f"{path}.priceLimit", "strategy SpotWithPriceLimit needs a price limit")
        if self.strategy == "NoSpot" and (
            self.duration_hours is not None or self.fallback_to_on_demand is not None
        ):
            raise SpecError(path, "durationHours and fallbackToOnDemand apply only to a spot strategy")


@dataclass(frozen=True)
class ImageCacheSpec:
    """Start from an image cache (ECI image cache): a named snapshot, or one ECI matches."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = (
        {
            "rule": "!(has(self.snapshotId) && has(self.autoMatch) && self.autoMatch)",
            "message": "imageCache: set snapshotId or autoMatch: true, not both",
        },
    )

    auto_match: bool | None = field(
        default=None, metadata=doc("Let ECI pick a matching image cache (AutoMatchImageCache).")
    )
    snapshot_id: str | None = field(
        default=None,
        metadata=doc(
            "The image cache to use, e.g. imc-2ze... (ImageSnapshotId).",
            maxLength=64,
            pattern=r"^imc-[a-z0-9]+$",
        ),
    )

    def check(self, path: str) -> None:
        if self.snapshot_id is not None and self.auto_match:
            raise SpecError(path, "set snapshotId or autoMatch: true, not both")


@dataclass(frozen=True)
class AcrRegistryInfo:
    """An ACR Enterprise Edition instance to pull from without a password (ECI AcrRegistryInfo.N)."""

    instance_id: str = field(
        metadata=doc(
            "ID of the ACR Enterprise Edition instance, e.g. cri-nwj395hgf6f3abcd "
            "(AcrRegistryInfo.N.InstanceId).",
            maxLength=64,
            pattern=INSTANCE_ID_PATTERN,
        )
    )
    instance_name: str | None = field(
        default=None,
        metadata=doc(
            "Name of the instance, e.g. testabcd (AcrRegistryInfo.N.InstanceName).",
            minLength=1,
            maxLength=128,
        ),
    )
    region_id: str | None = field(
        default=None,
        metadata=doc(
            "Region of the instance, e.g. cn-beijing (AcrRegistryInfo.N.RegionId); ECI assumes the group's "
            "region when not set.",
            maxLength=64,
            pattern=REGION_PATTERN,
        ),
    )
    domains: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Domains of the instance to use, e.g. testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com "
            "(AcrRegistryInfo.N.Domain.M). All of the instance's domains when empty.",
            maxItems=10,
            items={"maxLength": 253, "pattern": HOSTNAME_PATTERN},
        ),
    )

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


@dataclass(frozen=True)
class ImageRegistryCredential:
    """User name and password for a registry that is not an ACR Enterprise Edition instance."""

    server: str = field(
        metadata=doc(
            "Registry host, e.g. registry.example.com (ImageRegistryCredential.N.Server).",
            minLength=1,
            maxLength=253,
            pattern=HOSTNAME_PATTERN,
        )
    )
    user_name: str = field(
        metadata=doc(
            "User name for the registry (ImageRegistryCredential.N.UserName).", minLength=1, maxLength=256
        )
    )
    password_secret_ref: SecretKeySelector = field(
        metadata=doc(
            "The Secret key holding the password (ImageRegistryCredential.N.Password). Passwords are "
            "never written inline in the resource."
        )
    )


TAGS_CEL_RULES = (
    {
        "rule": f"self.all(k, size(k) >= 1 && size(k) <= {MAX_TAG_KEY} && "
        + " && ".join(f"!k.startsWith('{prefix}')" for prefix in RESERVED_TAG_PREFIXES)
        + ")",
        "message": f"tag keys must be 1 to {MAX_TAG_KEY} characters and may not start with "
        + ", ".join(RESERVED_TAG_PREFIXES),
    },
)


RECREATE_RULE = "(has(self.updateStrategy) && self.updateStrategy == 'Recreate')"
RECREATE_HINT = "set updateStrategy: Recreate to replace the container group"
COMPUTE_CATEGORY_CONFLICT = "computeCategory cannot be combined with spot or cpuArchitecture ARM64 (ECI: FeatureBasedConstraintConflict)"
CREATE_ONLY_SECURITY = ("privileged", "runAsGroup", "runAsNonRoot")


def _mounts_rule(list_name: str) -> dict[str, str]:
    return {
        "rule": (
            f"!has(self.{list_name}) || self.{list_name}.all(c, !has(c.volumeMounts) || c.volumeMounts.all(m, "
            "has(self.volumes) && self.volumes.exists(v, v.name == m.name)))"
        ),
        "message": f"spec.{list_name}[].volumeMounts[].name must name a volume of spec.volumes",
        "fieldPath": f".{list_name}",
    }


def _has_disk(root: str) -> str:
    return f"(has({root}.volumes) && {root}.volumes.exists(v, has(v.disk)))"


# privileged, runAsGroup and runAsNonRoot (fixed at create) have no CEL rule: one comparing them across
# the containers of old and new specs exceeds the apiserver's CEL cost budget (measured on
# apiextensions-apiserver 1.36: over 100x), so the operator alone refuses their change by name
# (mapping.create_only_fields), as it does for file modes.
SPEC_CEL_RULES: tuple[dict[str, str], ...] = (
    *(
        {
            "rule": (
                f"{RECREATE_RULE} || (has(self.{name}) == has(oldSelf.{name}) && "
                f"(!has(self.{name}) || self.{name} == oldSelf.{name}))"
            ),
            "message": f"spec.{name} is immutable; {RECREATE_HINT}",
            # The error names spec.<name>, not just spec.
            "fieldPath": f".{name}",
        }
        for name in IMMUTABLE_FIELDS
    ),
    {
        "rule": (
            f"{RECREATE_RULE} || !({_has_disk('self')} || {_has_disk('oldSelf')}) || "
            "(has(self.volumes) && has(oldSelf.volumes) && self.volumes == oldSelf.volumes)"
        ),
        "message": (
            "spec.volumes cannot change while the group has a disk volume (UpdateContainerGroup cannot carry "
            f"disk volumes); {RECREATE_HINT}"
        ),
        "fieldPath": ".volumes",
    },
    {
        "rule": "!(has(self.instanceType) && has(self.instanceTypes))",
        "message": "set spec.instanceTypes or spec.instanceType, not both",
        "fieldPath": ".instanceTypes",
    },
    {
        "rule": (
            "!(self.containers.exists(c, has(c.gpu) && c.gpu > 0) || (has(self.initContainers) && "
            "self.initContainers.exists(c, has(c.gpu) && c.gpu > 0))) || "
            f"(has(self.instanceType) && self.instanceType.matches('{GPU_INSTANCE_TYPE}')) || "
            f"(has(self.instanceTypes) && self.instanceTypes.all(t, t.matches('{GPU_INSTANCE_TYPE}')))"
        ),
        "message": "a container with gpu needs GPU instance types only (ecs.gn*, ecs.vgn*, ...) in spec.instanceTypes",
        "fieldPath": ".instanceTypes",
    },
    {
        "rule": "!has(self.computeCategory) || ((!has(self.cpuArchitecture) || self.cpuArchitecture != 'ARM64') "
        "&& (!has(self.spot) || self.spot.strategy == 'NoSpot'))",
        "message": COMPUTE_CATEGORY_CONFLICT,
        "fieldPath": ".computeCategory",
    },
    {
        "rule": "!has(self.dnsPolicy) || self.dnsPolicy != 'None' || (has(self.dnsConfig) && "
        "has(self.dnsConfig.nameservers) && size(self.dnsConfig.nameservers) > 0)",
        "message": "dnsPolicy None needs at least one name server in spec.dnsConfig.nameservers",
        "fieldPath": ".dnsPolicy",
    },
    _mounts_rule("containers"),
    _mounts_rule("initContainers"),
    {
        "rule": (
            "!has(self.initContainers) || self.initContainers.all(c, !has(c.livenessProbe) && "
            "!has(c.readinessProbe) && !has(c.lifecycle) && (!has(c.securityContext) || ("
            + " && ".join(f"!has(c.securityContext.{name})" for name in CREATE_ONLY_SECURITY)
            + ")))"
        ),
        "message": (
            "spec.initContainers[] take no livenessProbe, readinessProbe, lifecycle, nor securityContext "
            "privileged, runAsGroup or runAsNonRoot (ECI has none for init containers)"
        ),
        "fieldPath": ".initContainers",
    },
)


@dataclass(frozen=True)
class AcrContainerGroupSpec:
    """Desired state of an ECI container group. Each field maps onto an ECI CreateContainerGroup parameter."""

    CEL_RULES: ClassVar[tuple[dict[str, str], ...]] = SPEC_CEL_RULES

    containers: tuple[Container, ...] = field(
        metadata=doc(
            "Containers of the group (ECI Container.N), at least one, unique by name.",
            list_map_keys=("name",),
            minItems=1,
            maxItems=20,
        )
    )
    container_group_name: str | None = field(
        default=None,
        metadata=doc(
            "Name of the ECI container group: 2 to 128 lowercase letters, digits and hyphens, not "
            "starting or ending with a hyphen. Defaults to metadata.name. Immutable unless "
            "updateStrategy is Recreate.",
            pattern=GROUP_NAME_PATTERN,
            maxLength=128,
        ),
    )
    region_id: str | None = field(
        default=None,
        metadata=doc(
            "Region of the group, e.g. cn-beijing. Defaults to the operator's ALIBABA_CLOUD_REGION_ID. "
            "Immutable unless updateStrategy is Recreate.",
            maxLength=64,
            pattern=REGION_PATTERN,
        ),
    )
    zone_id: str | None = field(
        default=None,
        metadata=doc(
            "Zone of the group, e.g. cn-beijing-a; ECI chooses when not set. Immutable unless updateStrategy "
            "is Recreate.",
            maxLength=64,
            pattern=REGION_PATTERN,
        ),
    )
    security_group_id: str | None = field(
        default=None,
        metadata=doc(
            "Security group of the group, e.g. sg-2zeh4cev9y7ulbrabcd. Defaults to the operator's "
            "ECI_DEFAULT_SECURITY_GROUP_ID. Immutable unless updateStrategy is Recreate.",
            maxLength=64,
            pattern=r"^sg-[a-z0-9]+$",
        ),
    )
    v_switch_ids: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "vSwitches the group may be placed in (1 to 10; ECI picks one). Defaults to the operator's "
            "ECI_DEFAULT_VSWITCH_IDS. Immutable unless updateStrategy is Recreate.",
            minItems=1,
            maxItems=10,
            items={"maxLength": 64, "pattern": r"^vsw-[a-z0-9]+$"},
        ),
    )
    instance_type: str | None = field(
        default=None,
        metadata=doc(
            "ECS instance type(s) to run on, e.g. ecs.c6.large (comma-separated for several). "
            "Immutable unless updateStrategy is Recreate.",
            maxLength=256,
            pattern=r"^ecs\.[a-z0-9.\-]+(,ecs\.[a-z0-9.\-]+)*$",
        ),
    )
    instance_types: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "ECS instance types in order of preference (InstanceType, comma-joined): ECI uses the first with "
            "stock, up to 5. Instead of instanceType. Immutable unless updateStrategy is Recreate.",
            minItems=1,
            maxItems=MAX_INSTANCE_TYPES,
            items={"maxLength": 64, "pattern": INSTANCE_TYPE_PATTERN},
        ),
    )
    compute_category: tuple[Literal["economy", "general"], ...] = field(
        default=(),
        metadata=doc(
            "Compute categories ECI may use, in order (ComputeCategory.N). Immutable.", minItems=1, maxItems=2
        ),
    )
    cpu_architecture: Literal["AMD64", "ARM64"] | None = field(
        default=None,
        metadata=doc("CPU architecture, AMD64 (ECI's default) or ARM64 (CpuArchitecture). Immutable."),
    )
    schedule_strategy: Literal["VSwitchOrdered", "VSwitchRandom"] | None = field(
        default=None,
        metadata=doc(
            "How ECI picks among spec.vSwitchIds (zones): in order, or at random (ScheduleStrategy). Immutable."
        ),
    )
    eip: EipSpec | None = field(
        default=None, metadata=doc("A public IP for the group; status.internetIp shows it. Immutable.")
    )
    dns_policy: Literal["Default", "None"] | None = field(
        default=None,
        metadata=doc(
            "Default (the VPC's resolver, ECI's default) or None (only dnsConfig) (DnsPolicy). Immutable."
        ),
    )
    dns_config: PodDNSConfig | None = field(default=None, metadata=doc("Resolver settings (DnsConfig)."))
    host_aliases: tuple[HostAlias, ...] = field(
        default=(), metadata=doc("Entries for /etc/hosts (HostAliase.N). Immutable.", maxItems=20)
    )
    ntp_servers: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "NTP servers (NtpServer.N). Immutable.",
            maxItems=5,
            items={"maxLength": 253, "pattern": r"^[A-Za-z0-9.:-]+$"},
        ),
    )
    host_name: str | None = field(
        default=None,
        metadata=doc(
            "Host name of the group (HostName). Immutable.", maxLength=63, pattern=DNS_LABEL_PATTERN
        ),
    )
    spot: SpotSpec | None = field(default=None, metadata=doc("Spot capacity. Immutable."))
    gpu_driver_version: str | None = field(
        default=None,
        metadata=doc(
            "GPU driver, e.g. tesla=525.85.12 (GpuDriverVersion). Immutable.",
            maxLength=64,
            pattern=r"^tesla=[0-9.]+$",
        ),
    )
    image_cache: ImageCacheSpec | None = field(
        default=None,
        metadata=doc("Start from an image cache (ImageSnapshotId, AutoMatchImageCache). Immutable."),
    )
    ram_role_name: str | None = field(
        default=None,
        metadata=doc(
            "RAM role the group's processes assume through the metadata service (RamRoleName). Immutable.",
            maxLength=64,
            pattern=r"^[A-Za-z0-9.-]+$",
        ),
    )
    active_deadline_seconds: int | None = field(
        default=None,
        metadata=doc(
            "Seconds the group may run; ECI then ends it Failed (ActiveDeadlineSeconds). Immutable.",
            minimum=1,
            maximum=31536000,
            format="int64",
        ),
    )
    resource_group_id: str | None = field(
        default=None,
        metadata=doc(
            "Resource group of the group, e.g. rg-aek2... (ResourceGroupId).",
            maxLength=64,
            pattern=r"^rg-[a-z0-9]+$",
        ),
    )
    cpu: float | None = field(
        default=None,
        metadata=doc(
            "vCPUs of the whole group, e.g. 2: 0.25 to 64 (ECI rounds up to a supported specification).",
            minimum=MIN_GROUP_CPU,
            maximum=MAX_CPU,
        ),
    )
    memory: float | None = field(
        default=None,
        metadata=doc(
            "Memory of the whole group in GiB, e.g. 4: 0.5 to 512.",
            minimum=MIN_GROUP_MEMORY,
            maximum=MAX_MEMORY,
        ),
    )
    restart_policy: RestartPolicy = field(
        default="Always",
        metadata=doc("What ECI does when a container exits: Always (default), OnFailure or Never."),
    )
    init_containers: tuple[Container, ...] = field(
        default=(),
        metadata=doc(
            "Init containers (ECI InitContainer.N), run in order before the containers; unique by name.",
            list_map_keys=("name",),
            maxItems=20,
        ),
    )
    acr_registry_infos: tuple[AcrRegistryInfo, ...] = field(
        default=(),
        metadata=doc(
            "ACR Enterprise Edition instances to pull images from without a password (ECI "
            "AcrRegistryInfo.N). An instance named by the k8s.aliyun.com/acr-instance-id(s) annotation is "
            "added when not listed here.",
            maxItems=MAX_ACR_REGISTRY_INFOS,
        ),
    )
    image_registry_credentials: tuple[ImageRegistryCredential, ...] = field(
        default=(),
        metadata=doc(
            "Credentials for registries that are not ACR Enterprise Edition instances (ECI "
            "ImageRegistryCredential.N); the password comes from a Secret.",
            maxItems=10,
        ),
    )
    tags: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "ECI tags of the group, at most 17 (the operator adds its own acr-eci-operator/* tags). Keys may "
            "not start with acr-eci-operator/, aliyun or acs:.",
            maxProperties=MAX_USER_TAGS,
            additionalProperties={"maxLength": MAX_TAG_VALUE},
            cel_rules=TAGS_CEL_RULES,
        ),
    )
    volumes: tuple[Volume, ...] = field(
        default=(),
        metadata=doc(
            "Volumes the containers can mount (ECI Volume.N), at most 20, unique by name.",
            list_map_keys=("name",),
            maxItems=MAX_VOLUMES,
        ),
    )
    termination_grace_period_seconds: int | None = field(
        default=None,
        metadata=doc(
            "Seconds the containers get to stop (preStop hooks included) when the group is deleted "
            "(TerminationGracePeriodSeconds). Fixed when the group is created: a change replaces it "
            "(updateStrategy Recreate) or is refused.",
            minimum=0,
            maximum=86400,
            format="int64",
        ),
    )
    ephemeral_storage: int | None = field(
        default=None,
        metadata=doc(
            "Temporary storage in GiB added to the 30 GiB every group has (EphemeralStorage). Fixed when the "
            "group is created.",
            minimum=1,
            maximum=2048,
            format="int32",
        ),
    )
    security_context: PodSecurityContext | None = field(
        default=None,
        metadata=doc("Kernel parameters (sysctls) of the group. Fixed when the group is created."),
    )
    deletion_policy: DeletionPolicy = field(
        default="Delete",
        metadata=doc(
            "What happens to the ECI group when this resource is deleted: Delete (default) deletes it; "
            "Orphan leaves it running."
        ),
    )
    update_strategy: UpdateStrategy = field(
        default="InPlace",
        metadata=doc(
            "How spec changes reach ECI: InPlace (default) updates mutable fields with "
            "UpdateContainerGroup and refuses changes to immutable ones; Recreate deletes the group and "
            "creates a new one when an immutable field changes."
        ),
    )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> AcrContainerGroupSpec:
        """Parse and validate a resource's `spec`; raises SpecError naming the first bad field."""
        return parse_model(cls, spec, "spec")

    def check(self, path: str) -> None:
        volumes = {volume.name for volume in self.volumes}
        for list_name, containers in (
            ("containers", self.containers),
            ("initContainers", self.init_containers),
        ):
            for index, container in enumerate(containers):
                container_path = f"{path}.{list_name}[{index}]"
                for mount_index, mount in enumerate(container.volume_mounts):
                    if mount.name not in volumes:
                        raise SpecError(
                            f"{container_path}.volumeMounts[{mount_index}].name",
                            f"{mount.name!r} is not a volume of spec.volumes",
                        )
                if list_name == "initContainers":
                    _check_init_container(container, container_path)
        if self.instance_type is not None and self.instance_types:
            raise SpecError(f"{path}.instanceTypes", "set spec.instanceTypes or spec.instanceType, not both")
        gpus = any(container.gpu for container in (*self.containers, *self.init_containers))
        types = self.instance_types or ((self.instance_type,) if self.instance_type else ())
        if gpus and not (types and all(matches(GPU_INSTANCE_TYPE, t) for t in types)):
            raise SpecError(
                f"{path}.instanceTypes",
                "a container with gpu needs GPU instance types only (ecs.gn*, ecs.vgn*, ...)",
            )
        if self.compute_category and (
            self.cpu_architecture == "ARM64" or (self.spot is not None and self.spot.strategy != "NoSpot")
        ):
            raise SpecError(f"{path}.computeCategory", COMPUTE_CATEGORY_CONFLICT)
        if self.dns_policy == "None" and not (self.dns_config and self.dns_config.nameservers):
            raise SpecError(f"{path}.dnsConfig.nameservers", "dnsPolicy None needs at least one name server")
        for key in self.tags:
            if not key or len(key) > MAX_TAG_KEY:
                raise SpecError(f"{path}.tags[{key}]", f"tag keys must be 1 to {MAX_TAG_KEY} characters")
            for prefix in RESERVED_TAG_PREFIXES:
                if key.startswith(prefix):
                    raise SpecError(f"{path}.tags[{key}]", f"tag keys may not start with {prefix!r}")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def _check_init_container(container: Container, path: str) -> None:
    """ECI has no probes, lifecycle hooks nor create-only security settings for init containers."""
    for name in ("liveness_probe", "readiness_probe", "lifecycle"):
        if getattr(container, name) is not None:
            raise SpecError(
                f"{path}.{json_name(_field(Container, name))}", "ECI takes none for init containers"
            )
    context = container.security_context
    if context is not None:
        for name in ("privileged", "run_as_group", "run_as_non_root"):
            if getattr(context, name) is not None:
                raise SpecError(
                    f"{path}.securityContext.{json_name(_field(SecurityContext, name))}",
                    "ECI takes none for init containers",
                )


def _field(cls: type[Any], name: str) -> dataclasses.Field[Any]:
    return next(model_field for model_field in dataclasses.fields(cls) if model_field.name == name)


# --------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class ContainerStatus:
    """Observed state of one container, as ECI reports it."""

    name: str = field(metadata=doc("Name of the container."))
    ready: bool | None = field(
        default=None, metadata=doc("Whether the container passes its readiness checks.")
    )
    restart_count: int | None = field(
        default=None, metadata=doc("How many times ECI restarted the container.", format="int32")
    )
    state: str | None = field(default=None, metadata=doc("Current state: Waiting, Running or Terminated."))
    reason: str | None = field(
        default=None, metadata=doc("Why the container is in that state, e.g. ErrImagePull or Completed.")
    )
    exit_code: int | None = field(
        default=None, metadata=doc("Exit code of the last termination, when terminated.", format="int32")
    )
    message: str | None = field(default=None, metadata=doc("Detail about the state, as ECI reports it."))


@dataclass(frozen=True)
class CreateSent:
    """A CreateContainerGroup the operator sent (written just before the call)."""

    incarnation: int = field(
        metadata=doc("The incarnation whose ClientToken the create carried.", minimum=0, format="int64")
    )
    at: str = field(metadata=doc("When it was first sent (RFC 3339).", format="date-time"))
    parameters_hash: str | None = field(
        default=None, metadata=doc("Digest of the parameters it carried (its ClientToken aside).")
    )
    on_demand: bool | None = field(
        default=None,
        metadata=doc("The on-demand fallback create (a token of its own) was sent too (spec.spot)."),
    )


@dataclass(frozen=True)
class UpdateSent:
    """An UpdateContainerGroup the operator sent (written just before the call, only over the version of
    the resource it read)."""

    container_group_id: str = field(metadata=doc("The group updated."))
    hash: str = field(metadata=doc("Digest of the content it carried (status.appliedHash once applied)."))
    at: str = field(metadata=doc("When it was sent (RFC 3339).", format="date-time"))


@dataclass(frozen=True)
class HandledRequest:
    """The last value of a request annotation (restartedAt, recreatedAt) the operator handled. Present
    once the operator handles requests for the resource, even before any request (then with no
    `requested`): a status without it was written by a release that ignored the annotations."""

    requested: str | None = field(
        default=None, metadata=doc("The annotation value handled; absent: none was set.")
    )
    container_group_id: str | None = field(
        default=None,
        metadata=doc(
            "The group it was handled on: the group restarted; for a recreate, the group being replaced "
            "while Sending, then its replacement."
        ),
    )
    at: str | None = field(
        default=None,
        metadata=doc(
            "When it was handled (for Sending: first sent; part of the ClientToken).", format="date-time"
        ),
    )
    result: RequestResult | None = field(
        default=None,
        metadata=doc(
            "Sending: written just before the call (a restart or takeover sends it again with the same "
            "ClientToken); Restarted or Recreated: ECI accepted it; NotNeeded: not acted on, because the group "
            "was created after the value was set, or the value was already there when this operator version "
            "first saw the resource; NotApplicable: the group had ended (ECI restarts only Pending or Running "
            "groups), or ECI refused the restart with an error that retrying cannot cure (its code in Synced)."
        ),
    )


@dataclass(frozen=True)
class Condition:
    """A condition in metav1.Condition shape (type, status, reason, message, times, observedGeneration)."""

    type: str = field(metadata=doc("Type of the condition: Ready, Synced or RegistryAccess.", maxLength=316))
    status: ConditionStatus = field(metadata=doc("True, False or Unknown."))
    reason: str | None = field(
        default=None,
        metadata=doc(
            "Machine-readable reason in one word, e.g. Running, or the ECI error code when Synced is False.",
            maxLength=1024,
        ),
    )
    message: str | None = field(
        default=None, metadata=doc("Human-readable detail about the condition.", maxLength=32768)
    )
    last_transition_time: str | None = field(
        default=None, metadata=doc("When the status last changed (RFC 3339).", format="date-time")
    )
    observed_generation: int | None = field(
        default=None,
        metadata=doc(
            "metadata.generation of the spec this condition was computed from.", minimum=0, format="int64"
        ),
    )

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


@dataclass(frozen=True)
class AcrContainerGroupStatus:
    """Observed state of the ECI container group, written by the operator."""

    container_group_id: str | None = field(
        default=None, metadata=doc("ID of the ECI container group, e.g. eci-2zelg8vwnlzdhf8hv6f4.")
    )
    region_id: str | None = field(default=None, metadata=doc("Region the container group was created in."))
    incarnation: int | None = field(
        default=None,
        metadata=doc(
            "How many times the operator deliberately re-created the group (Recreate, drift); part of the "
            "ClientToken that makes creation idempotent.",
            minimum=0,
            format="int64",
        ),
    )
    applied: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "The immutable spec fields the current group was created with, as the spec set them (lists "
            "comma-joined; fields left to the operator's defaults are absent)."
        ),
    )
    applied_hash: str | None = field(
        default=None, metadata=doc("Digest of the wire parameters last sent to ECI for this group.")
    )
    applied_lists: tuple[str, ...] | None = field(
        default=None,
        metadata=doc(
            "Fields the current group was given whose removal UpdateContainerGroup cannot carry "
            "(spec.cpu, spec.memory, spec.initContainers, spec.imageRegistryCredentials, "
            "spec.acrRegistryInfos): removing one replaces the group (Recreate) or is refused."
        ),
    )
    update_count: int | None = field(
        default=None,
        metadata=doc(
            "How many updates ECI accepted for the current group; part of the ClientToken of the next "
            "update, so each intended change has its own token.",
            minimum=0,
            format="int64",
        ),
    )
    last_event_time: str | None = field(
        default=None, metadata=doc("Time of the newest ECI event already posted as a Kubernetes Event.")
    )
    phase: str | None = field(
        default=None,
        metadata=doc(
            "ECI's status of the group, verbatim: Scheduling, Pending, Running, Restarting, Updating, "
            "Terminating, Succeeded, Failed, Expired or ScheduleFailed."
        ),
    )
    image_cache: str | None = field(
        default=None,
        metadata=doc(
            "The image cache ECI started the group from, when it says so (its SuccessfulHitImageCache event)."
        ),
    )
    capacity: Literal["Spot", "OnDemand"] | None = field(
        default=None,
        metadata=doc(
            "What the current group runs on: Spot, or OnDemand (also when spot.fallbackToOnDemand created an "
            "on-demand group because ECI had no spot stock). Absent when spec.spot is not set."
        ),
    )
    account: str | None = field(
        default=None,
        metadata=doc(
            "The AccessKey id or RAM role ARN whose credentials created (or last saw) the group: the "
            "operator's own, or those of the namespace's credentials Secret. Never a secret."
        ),
    )
    create_sent: CreateSent | None = field(
        default=None,
        metadata=doc(
            "The last create sent to ECI, written before the call: a restart then knows whether a group may "
            "exist that status does not name yet (its ClientToken is replayed, or groups are looked up by "
            "tag once ECI may have forgotten the token)."
        ),
    )
    update_sent: UpdateSent | None = field(
        default=None,
        metadata=doc(
            "The last update sent to ECI, written before the call: until its outcome is recorded "
            "(appliedHash) and while it may still reach ECI, an update of other content waits, so that "
            "the newer content lands last."
        ),
    )
    restart: HandledRequest | None = field(
        default=None,
        metadata=doc(
            "The last value of the eci.acr-operator.dev/restartedAt annotation handled: a new value restarts "
            "the group once (RestartContainerGroup)."
        ),
    )
    recreate: HandledRequest | None = field(
        default=None,
        metadata=doc(
            "The last value of the eci.acr-operator.dev/recreatedAt annotation handled: a new value replaces "
            "the group once (updateStrategy Recreate only)."
        ),
    )
    next_capacity: Literal["OnDemand"] | None = field(
        default=None,
        metadata=doc(
            "Set while a spot group that ECI could not place for want of stock is being replaced: the next "
            "group is created on demand (spec.spot.fallbackToOnDemand)."
        ),
    )
    intranet_ip: str | None = field(default=None, metadata=doc("Private IP address of the group."))
    internet_ip: str | None = field(default=None, metadata=doc("Public IP address of the group, if any."))
    observed_generation: int | None = field(
        default=None,
        metadata=doc("metadata.generation of the spec last sent to ECI.", minimum=0, format="int64"),
    )
    registries: tuple[AcrRegistryInfo, ...] = field(
        default=(),
        metadata=doc(
            "The AcrRegistryInfo entries actually sent to ECI: spec.acrRegistryInfos plus the annotation."
        ),
    )
    containers: tuple[ContainerStatus, ...] = field(
        default=(), metadata=doc("Observed state of each container.", list_map_keys=("name",))
    )
    conditions: tuple[Condition, ...] = field(
        default=(),
        metadata=doc(
            "Ready (the group runs and its containers are ready), Synced (the last change reached ECI; "
            "False with the ECI error code as reason) and RegistryAccess (every image on an ACR EE domain is "
            "covered by an AcrRegistryInfo entry or a credential; False with reason AcrRegistryInfoMissing).",
            list_map_keys=("type",),
        ),
    )

    @classmethod
    def from_dict(cls, status: Mapping[str, Any]) -> AcrContainerGroupStatus:
        """Parse a resource's `status`, ignoring fields this version does not know."""
        return parse_model(cls, status, "status", strict=False)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def merge_condition(existing: Sequence[Mapping[str, Any]], condition: Condition) -> list[dict[str, Any]]:
    """Conditions with `condition` set: replaces the one of its type, keeping lastTransitionTime when the
    status did not change."""
    merged: list[dict[str, Any]] = []
    new = condition.to_dict()
    replaced = False
    for current in existing:
        if current.get("type") != condition.type:
            merged.append(dict(current))
            continue
        if current.get("status") == condition.status and current.get("lastTransitionTime"):
            new["lastTransitionTime"] = current["lastTransitionTime"]
        merged.append(new)
        replaced = True
    if not replaced:
        merged.append(new)
    return merged


# ------------------------------------------------------------------------- annotations, secrets


ReferenceKind = Literal["Secret", "ConfigMap"]


@dataclass(frozen=True)
class Reference:
    """A Secret or ConfigMap the spec reads, and the field that names it."""

    kind: ReferenceKind
    name: str
    field: str


class ReferenceMissing(SpecError):
    """A Secret or ConfigMap the spec needs, or a key in it, does not exist (yet)."""

    def __init__(self, field: str, kind: ReferenceKind, name: str, key: str | None = None) -> None:
        what = "does not exist" if key is None else f"has no key {key!r}"
        super().__init__(field, f"{kind} {name!r} {what}")
        self.kind = kind


class ReferenceNotText(SpecError):
    """A value that must be text (an environment variable) is not UTF-8; the value is never shown."""

    def __init__(self, field: str, kind: ReferenceKind, name: str, key: str) -> None:
        super().__init__(field, f"{kind} {name!r} key {key!r} is not UTF-8 text")
        self.kind = kind


def references(spec: AcrContainerGroupSpec) -> list[Reference]:
    """Every Secret and ConfigMap the spec reads: env valueFrom and envFrom, Secret and ConfigMap volumes,
    and credential passwords. The operator reads each, and watches them for changes."""
    refs: list[Reference] = []
    for list_name, containers in (("initContainers", spec.init_containers), ("containers", spec.containers)):
        for index, container in enumerate(containers):
            path = f"spec.{list_name}[{index}]"
            for env_index, env in enumerate(container.env):
                source = env.value_from
                if source is not None and source.secret_key_ref is not None:
                    field_path = f"{path}.env[{env_index}].valueFrom.secretKeyRef"
                    refs.append(Reference("Secret", source.secret_key_ref.name, field_path))
                if source is not None and source.config_map_key_ref is not None:
                    field_path = f"{path}.env[{env_index}].valueFrom.configMapKeyRef"
                    refs.append(Reference("ConfigMap", source.config_map_key_ref.name, field_path))
            for from_index, env_from in enumerate(container.env_from):
                if env_from.secret_ref is not None:
                    field_path = f"{path}.envFrom[{from_index}].secretRef"
                    refs.append(Reference("Secret", env_from.secret_ref.name, field_path))
                if env_from.config_map_ref is not None:
                    field_path = f"{path}.envFrom[{from_index}].configMapRef"
                    refs.append(Reference("ConfigMap", env_from.config_map_ref.name, field_path))
    for index, volume in enumerate(spec.volumes):
        if volume.secret is not None:
            refs.append(Reference("Secret", volume.secret.secret_name, f"spec.volumes[{index}].secret"))
        if volume.config_map is not None:
            refs.append(Reference("ConfigMap", volume.config_map.name, f"spec.volumes[{index}].configMap"))
    for index, credential in enumerate(spec.image_registry_credentials):
        field_path = f"spec.imageRegistryCredentials[{index}].passwordSecretRef"
        refs.append(Reference("Secret", credential.password_secret_ref.name, field_path))
    return refs


def annotation_registries(annotations: Mapping[str, str]) -> tuple[AcrRegistryInfo, ...]:
    """Instances named by the k8s.aliyun.com/acr-instance-id and -ids (comma-separated) annotations."""
    registries: list[AcrRegistryInfo] = []
    seen: set[str] = set()
    for annotation in (ANNOTATION_INSTANCE_ID, ANNOTATION_INSTANCE_IDS):
        raw = annotations.get(annotation)
        if raw is None:
            continue
        values = (
            [part.strip() for part in raw.split(",")]
            if annotation == ANNOTATION_INSTANCE_IDS
            else [raw.strip()]
        )
        for value in values:
            if not value and annotation == ANNOTATION_INSTANCE_IDS:
                continue
            if not matches(INSTANCE_ID_PATTERN, value):
                raise SpecError(
                    f"metadata.annotations[{annotation}]",
                    f"{value!r} is not an ACR Enterprise Edition instance id (like cri-nwj395hgf6f3abcd)",
                )
            if value not in seen:
                seen.add(value)
                registries.append(AcrRegistryInfo(instance_id=value))
    return tuple(registries)


# ------------------------------------------------------------------- generic parse / serialize

Model = TypeVar("Model")


def matches(pattern: str, value: str) -> bool:
    # OpenAPI patterns are unanchored ECMA regexes; ours carry ^...$. Python's `$` also matches before a
    # final newline, so use \Z for the end.
    if pattern.endswith("$"):
        pattern = pattern[:-1] + r"\Z"
    return re.search(pattern, value) is not None


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def model_fields(cls: type[Any]) -> list[tuple[dataclasses.Field[Any], Any]]:
    """The dataclass fields of a model with their resolved (non-Optional) types."""
    hints = typing.get_type_hints(cls)
    return [
        (model_field, _unwrap_optional(hints[model_field.name])) for model_field in dataclasses.fields(cls)
    ]


def is_required(model_field: dataclasses.Field[Any]) -> bool:
    return model_field.default is dataclasses.MISSING and model_field.default_factory is dataclasses.MISSING


def class_description(cls: type[Any]) -> str:
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split())


def parse_model(cls: type[Model], data: Any, path: str, *, strict: bool = True) -> Model:
    """Build model `cls` from its JSON form, checking every constraint its field metadata states."""
    if not isinstance(data, Mapping):
        raise SpecError(path, "must be an object")
    assert dataclasses.is_dataclass(cls)
    values: dict[str, Any] = {}
    known: set[str] = set()
    for model_field, annotation in model_fields(cls):
        name = json_name(model_field)
        known.add(name)
        field_path = f"{path}.{name}"
        raw = data.get(name)
        if raw is None:
            if is_required(model_field):
                raise SpecError(field_path, "required field is missing")
            continue
        values[model_field.name] = _parse_value(annotation, raw, field_path, model_field.metadata, strict)
    if strict:
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}", "unknown field")
    model = cls(**values)
    check = getattr(model, "check", None)
    if check is not None:
        check(path)
    return model


def _parse_value(annotation: Any, raw: Any, path: str, metadata: Mapping[str, Any], strict: bool) -> Any:
    schema: Mapping[str, Any] = metadata.get("schema", {})
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if raw not in allowed:
            raise SpecError(path, f"must be one of {', '.join(allowed)}, not {raw!r}")
        return raw
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(annotation)
        if not isinstance(raw, list | tuple):
            raise SpecError(path, "must be a list")
        _check_bounds(len(raw), schema, path, "minItems", "maxItems", "items")
        item_metadata = {"schema": schema.get("items", {})}
        items = tuple(
            _parse_value(item_type, item, f"{path}[{index}]", item_metadata, strict)
            for index, item in enumerate(raw)
        )
        for key in metadata.get("list_map_keys", ()):
            seen: set[Any] = set()
            attribute = _attribute(item_type, key)
            for index, item in enumerate(items):
                value = getattr(item, attribute)
                if value in seen:
                    raise SpecError(f"{path}[{index}].{key}", f"duplicate value {value!r}")
                seen.add(value)
        return items
    if origin is Mapping or annotation is dict:
        if not isinstance(raw, Mapping):
            raise SpecError(path, "must be a map")
        _check_bounds(len(raw), schema, path, "minProperties", "maxProperties", "entries")
        value_metadata = {"schema": schema.get("additionalProperties", {})}
        return {
            str(key): _parse_value(str, value, f"{path}[{key}]", value_metadata, strict)
            for key, value in raw.items()
        }
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return parse_model(annotation, raw, path, strict=strict)
    if annotation is str:
        if not isinstance(raw, str):
            raise SpecError(path, "must be a string")
        _check_bounds(len(raw), schema, path, "minLength", "maxLength", "characters")
        pattern = schema.get("pattern")
        if pattern and not matches(pattern, raw):
            raise SpecError(path, f"{raw!r} does not match {pattern}")
        return raw
    if annotation is bool:
        if not isinstance(raw, bool):
            raise SpecError(path, "must be true or false")
        return raw
    if annotation is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise SpecError(path, "must be an integer")
        _check_range(raw, schema, path)
        return raw
    if annotation is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise SpecError(path, "must be a number")
        _check_range(raw, schema, path)
        return float(raw)
    raise TypeError(f"unsupported model type {annotation!r} at {path}")


def _attribute(cls: type[Any], name: str) -> str:
    """The Python attribute of a model field given its JSON name."""
    return next(model_field.name for model_field in dataclasses.fields(cls) if json_name(model_field) == name)


def _check_bounds(size: int, schema: Mapping[str, Any], path: str, low: str, high: str, unit: str) -> None:
    if low in schema and size < schema[low]:
        raise SpecError(path, f"must have at least {schema[low]} {unit}")
    if high in schema and size > schema[high]:
        raise SpecError(path, f"must have at most {schema[high]} {unit}")


def _check_range(value: float, schema: Mapping[str, Any], path: str) -> None:
    minimum = schema.get("minimum")
    if minimum is not None:
        if schema.get("exclusiveMinimum") and value <= minimum:
            raise SpecError(path, f"must be greater than {minimum}")
        if value < minimum:
            raise SpecError(path, f"must be at least {minimum}")
    maximum = schema.get("maximum")
    if maximum is not None and value > maximum:
        raise SpecError(path, f"must be at most {maximum}")


def to_dict(model: Any) -> dict[str, Any]:
    """The JSON form of a model: camelCase keys; None, "" and empty lists/maps left out (absent means
    unset; the local 1.20 test apiserver also refuses "" in custom resources)."""
    result: dict[str, Any] = {}
    for model_field in dataclasses.fields(model):
        value = _to_json(getattr(model, model_field.name))
        if value is None or value == "" or value == [] or value == {}:
            continue
        result[json_name(model_field)] = value
    return result


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple | list):
        return [_to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _to_json(item) for key, item in value.items()}
    return value
