"""The CRD's CEL rules, case by case: tables that both engines judge.

tests/api/test_api_crd.py runs every case through cel-python (`acr_eci_operator.cel_offline`),
tests/api/test_api_cel_server.py through the real apiextensions-apiserver 1.36, and both must give the case's
verdict and name its field (tests/lint/test_lint.py has `acr-eci-operator lint` agree on each create). A
new rule is proven on both by adding rows to `ACG_CASES` (a `_..._cases()` function listed there): its
allowed and refused objects (for a transition rule, the old spec too), the field its error must name (the
node's path plus the rule's fieldPath) and a piece of its message. `CONFORMANCE` is a small CRD of its own
whose rows pin down how the server treats rules (which old values a transition rule sees, number types,
Kubernetes' CEL libraries), so the offline evaluator is held to the server's behaviour.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acr_eci_operator import models
from tests.api.acg_testlib import load_crd

DEFAULT_NAME = "cel-case"


@dataclass(frozen=True)
class CelCase:
    """`new` (a whole spec) is created, or replaces `old` when that is given; `allowed` or refused with an
    error naming `field` whose message contains `message`."""

    id: str
    new: Mapping[str, Any]
    allowed: bool
    old: Mapping[str, Any] | None = None
    field: str | None = None
    """Where refused: the one field the CEL error names (spec.zoneId, spec.containers[0].env[0], ...)."""
    message: str = ""
    name: str = DEFAULT_NAME
    """metadata.name of the resource (root rules read it)."""
    server_also: tuple[str, ...] = ()
    """Fields the apiserver's own checks, not CEL, also refuse (an invalid metadata.name): the server's
    answer names them besides `field`, and refuses even an `allowed` case."""

    def __post_init__(self) -> None:
        assert self.allowed == (self.field is None), f"{self.id}: a refused case names its field, no other"


@dataclass(frozen=True)
class CelTable:
    """A CRD and the cases its CEL rules must judge."""

    crd: Mapping[str, Any]
    cases: tuple[CelCase, ...]

    @property
    def group(self) -> str:
        return str(self.crd["spec"]["group"])

    @property
    def version(self) -> str:
        return str(self.crd["spec"]["versions"][0]["name"])

    @property
    def plural(self) -> str:
        return str(self.crd["spec"]["names"]["plural"])

    @property
    def schema(self) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        return schema

    def resource(self, case: CelCase, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": f"{self.group}/{self.version}",
            "kind": self.crd["spec"]["names"]["kind"],
            "metadata": {"name": case.name},
            "spec": dict(spec),
        }


def spec_with(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c1", "image": "nginx"}], "updateStrategy": "InPlace", **fields}


def _refused(field: str, message: str) -> dict[str, Any]:
    return {"allowed": False, "field": field, "message": message}


# ------------------------------------------------------------- metadata.name as the ECI group name

NAME_MESSAGE = "metadata.name is not a valid ECI container group name"

GROUP_NAMES: list[tuple[str, bool]] = [
    ("ab", True),
    ("nginx-test", True),
    ("a" * 128, True),
    ("a", False),
    ("a" * 129, False),
    ("-ab", False),
    ("ab-", False),
    ("Ab", False),
    ("a_b", False),
    ("a.b", False),
]
"""(metadata.name, whether it is a valid ECI container group name)."""

KUBERNETES_NAME_INVALID = {"-ab", "ab-", "Ab", "a_b"}
"""Names the apiserver refuses anyway, as a resource name (RFC 1123 subdomain)."""


def _name_cases() -> list[CelCase]:
    cases = []
    for index, (name, valid) in enumerate(GROUP_NAMES):
        cases.append(
            CelCase(
                f"name-{index}-{'valid' if valid else 'invalid'}",
                spec_with(),
                allowed=valid,
                field=None if valid else "spec.containerGroupName",
                message="" if valid else NAME_MESSAGE,
                name=name,
                server_also=("metadata.name",) if name in KUBERNETES_NAME_INVALID else (),
            )
        )
        cases.append(
            CelCase(
                f"name-{index}-with-group-name",
                spec_with(containerGroupName="ok-name"),
                allowed=True,
                name=name,
                server_also=("metadata.name",) if name in KUBERNETES_NAME_INVALID else (),
            )
        )
    return cases


# ------------------------------------------------------------------------------ immutable fields

IMMUTABLE_VALUES: dict[str, Any] = {
    "containerGroupName": "group-a",
    "regionId": "cn-beijing",
    "zoneId": "cn-beijing-a",
    "securityGroupId": "sg-aaa",
    "vSwitchIds": ["vsw-aaa", "vsw-bbb"],
    "instanceType": "ecs.c6.large",
    "terminationGracePeriodSeconds": 30,
    "ephemeralStorage": 20,
    "securityContext": {"sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 1000"}]},
    "instanceTypes": ["ecs.c6.large", "ecs.g6.large"],
    "computeCategory": ["economy"],
    "cpuArchitecture": "AMD64",
    "scheduleStrategy": "VSwitchOrdered",
    "eip": {"autoCreate": True, "bandwidth": 5},
    "dnsPolicy": "Default",
    "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a.example"]}],
    "ntpServers": ["ntp1.aliyun.com"],
    "hostName": "web-a",
    "spot": {"strategy": "SpotAsPriceGo"},
    "gpuDriverVersion": "tesla=470.82.01",
    "imageCache": {"autoMatch": True},
    "ramRoleName": "role-a",
    "activeDeadlineSeconds": 3600,
    "dnsConfig": {"nameservers": ["10.0.0.1"]},
}
CHANGED_VALUES: dict[str, Any] = {
    "containerGroupName": "group-b",
    "regionId": "cn-hangzhou",
    "zoneId": "cn-beijing-b",
    "securityGroupId": "sg-bbb",
    "vSwitchIds": ["vsw-bbb", "vsw-aaa"],
    "instanceType": "ecs.g6.large",
    "terminationGracePeriodSeconds": 60,
    "ephemeralStorage": 40,
    "securityContext": {"sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 2000"}]},
    "instanceTypes": ["ecs.g6.large", "ecs.c6.large"],
    "computeCategory": ["general"],
    "cpuArchitecture": "ARM64",
    "scheduleStrategy": "VSwitchRandom",
    "eip": {"instanceId": "eip-abc"},
    "dnsPolicy": "None",
    "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b.example"]}],
    "ntpServers": ["ntp2.aliyun.com"],
    "hostName": "web-b",
    "spot": {"strategy": "SpotWithPriceLimit", "priceLimit": 0.5},
    "gpuDriverVersion": "tesla=525.85.12",
    "imageCache": {"snapshotId": "imc-abc"},
    "ramRoleName": "role-b",
    "activeDeadlineSeconds": 7200,
}
EXCLUSIVE: dict[str, set[str]] = {
    "instanceType": {"instanceTypes", "spot"},
    "instanceTypes": {"instanceType", "spot"},
    "spot": {"instanceTypes", "computeCategory"},
    "cpuArchitecture": {"instanceTypes", "computeCategory"},
}
"""Fields that may not be set together: a case about one leaves the others out (instanceType and
instanceTypes; computeCategory with spot or ARM64); the rest leave out instanceTypes and spot."""
LEFT_OUT = {"instanceTypes", "spot"}
IMMUTABLE_MESSAGE = "is immutable; set updateStrategy: Recreate"


def _immutable_cases() -> list[CelCase]:
    base = spec_with(**IMMUTABLE_VALUES)
    cases = []
    for name in models.IMMUTABLE_FIELDS:
        full = {key: value for key, value in base.items() if key not in EXCLUSIVE.get(name, LEFT_OUT)}
        refused = _refused(f"spec.{name}", f"spec.{name} {IMMUTABLE_MESSAGE}")
        without = {key: value for key, value in full.items() if key != name}
        cases += [
            CelCase(f"{name}-changed", {**full, name: CHANGED_VALUES[name]}, old=full, **refused),
            CelCase(f"{name}-removed", without, old=full, **refused),
            CelCase(
                f"{name}-added", {**spec_with(), name: IMMUTABLE_VALUES[name]}, old=spec_with(), **refused
            ),
            CelCase(
                f"{name}-changed-with-recreate",
                {**full, name: CHANGED_VALUES[name], "updateStrategy": "Recreate"},
                True,
                full,
            ),
            CelCase(f"{name}-set-on-create", {**spec_with(), name: IMMUTABLE_VALUES[name]}, True),
        ]
    full = {key: value for key, value in base.items() if key not in LEFT_OUT}
    changed = {
        key: value for key, value in CHANGED_VALUES.items() if key not in {*LEFT_OUT, "cpuArchitecture"}
    }
    no_strategy = {key: value for key, value in full.items() if key != "updateStrategy"}
    mutable = {**full, "cpu": 4, "restartPolicy": "Never", "containers": [{"name": "c2", "image": "busybox"}]}
    cases += [
        CelCase("immutable-unchanged", dict(full), True, full),
        CelCase("nothing-set-unchanged", spec_with(), True, spec_with()),
        CelCase("mutable-fields-changed", mutable, True, full),
        CelCase("unchanged-without-update-strategy", no_strategy, True, no_strategy),
        CelCase(
            "every-immutable-field-changed-with-recreate",
            {**full, **changed, "updateStrategy": "Recreate"},
            True,
            full,
        ),
    ]
    return cases


# ----------------------------------------------------------------------- env: value or valueFrom

ENV_MESSAGE = "value and valueFrom are mutually exclusive"
SECRET_KEY_REF = {"secretKeyRef": {"name": "s", "key": "k"}}
ENVS: list[tuple[str, dict[str, Any], bool]] = [
    ("value", {"name": "A", "value": "x"}, True),
    ("neither", {"name": "A"}, True),
    ("value-from", {"name": "A", "valueFrom": SECRET_KEY_REF}, True),
    ("both", {"name": "A", "value": "x", "valueFrom": SECRET_KEY_REF}, False),
]


def _env_cases() -> list[CelCase]:
    cases = []
    for list_name in ("containers", "initContainers"):
        for label, env, valid in ENVS:
            container = {"name": "c1", "image": "nginx", "env": [{"name": "FIRST", "value": "1"}, env]}
            cases.append(
                CelCase(
                    f"{list_name}-env-{label}",
                    {**spec_with(), list_name: [container]},
                    valid,
                    field=None if valid else f"spec.{list_name}[0].env[1]",
                    message="" if valid else ENV_MESSAGE,
                )
            )
    return cases


# ---------------------------------------------------------------------------------------- tags

TAGS_MESSAGE = f"tag keys must be 1 to {models.MAX_TAG_KEY} characters"
TAGS: list[tuple[str, dict[str, str], bool]] = [
    ("none", {}, True),
    ("plain", {"team": "payments", "env": "prod"}, True),
    ("longest-key", {"k" * models.MAX_TAG_KEY: "x"}, True),
    ("operator-prefix", {"acr-eci-operator/uid": "x"}, False),
    ("aliyun-prefix", {"aliyun-thing": "x"}, False),
    ("acs-prefix", {"acs:x": "x"}, False),
    ("key-too-long", {"k" * (models.MAX_TAG_KEY + 1): "x"}, False),
    ("key-much-too-long", {"k" * 129: "x"}, False),
]


def _tag_cases() -> list[CelCase]:
    return [
        CelCase(
            f"tags-{label}",
            spec_with(tags=tags),
            valid,
            field=None if valid else "spec.tags",
            message="" if valid else TAGS_MESSAGE,
        )
        for label, tags, valid in TAGS
    ]


# ------------------------------------------------- workloads: volumes, mounts, probes, security

VOLUME = {"name": "v", "emptyDir": {}}
DISK = {"name": "d", "disk": {"diskId": "d-123"}}
SYSCTLS = [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.ping_group_range", "value": "0 1"}]


def _container(**fields: Any) -> dict[str, Any]:
    return {"name": "c1", "image": "nginx", **fields}


def _workload(**fields: Any) -> dict[str, Any]:
    return spec_with(volumes=[VOLUME], **fields)


def _workload_cases() -> list[CelCase]:
    mount = {"name": "v", "mountPath": "/data"}
    one_of = "set exactly one of"
    privileged = _workload(containers=[_container(securityContext={"privileged": True})])
    unprivileged = _workload(containers=[_container(securityContext={"privileged": False})])
    with_disk = spec_with(volumes=[DISK])
    return [
        CelCase("volume-one-source", _workload(), True),
        CelCase(
            "volume-no-source", spec_with(volumes=[{"name": "v"}]), **_refused("spec.volumes[0]", one_of)
        ),
        CelCase(
            "volume-two-sources",
            spec_with(volumes=[{"name": "v", "emptyDir": {}, "nfs": {"server": "a.b", "path": "/"}}]),
            **_refused("spec.volumes[0]", one_of),
        ),
        CelCase("mount-names-a-volume", _workload(containers=[_container(volumeMounts=[mount])]), True),
        CelCase(
            "mount-names-no-volume",
            _workload(containers=[_container(volumeMounts=[{**mount, "name": "w"}])]),
            **_refused("spec.containers", "volumeMounts[].name must name a volume"),
        ),
        CelCase(
            "mount-without-volumes",
            spec_with(containers=[_container(volumeMounts=[mount])]),
            **_refused("spec.containers", "volumeMounts[].name must name a volume"),
        ),
        CelCase(
            "init-mount-names-no-volume",
            _workload(initContainers=[_container(volumeMounts=[{**mount, "name": "w"}])]),
            **_refused("spec.initContainers", "spec.initContainers[].volumeMounts[].name"),
        ),
        CelCase(
            "sub-path-relative",
            _workload(containers=[_container(volumeMounts=[{**mount, "subPath": "a/b"}])]),
            True,
        ),
        CelCase(
            "sub-path-parent",
            _workload(containers=[_container(volumeMounts=[{**mount, "subPath": "a/../b"}])]),
            **_refused("spec.containers[0].volumeMounts[0]", "subPath must be a relative path"),
        ),
        CelCase(
            "sub-path-absolute",
            _workload(containers=[_container(volumeMounts=[{**mount, "subPath": "/etc"}])]),
            **_refused("spec.containers[0].volumeMounts[0]", "subPath must be a relative path"),
        ),
        CelCase(
            "file-path-parent",
            spec_with(
                volumes=[{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../k"}]}}]
            ),
            **_refused("spec.volumes[0].configMap.items[0]", "path must be a relative path"),
        ),
        CelCase(
            "probe-one-handler",
            spec_with(containers=[_container(readinessProbe={"tcpSocket": {"port": 80}})]),
            True,
        ),
        CelCase(
            "probe-no-handler",
            spec_with(containers=[_container(livenessProbe={"periodSeconds": 5})]),
            **_refused("spec.containers[0].livenessProbe", one_of),
        ),
        CelCase(
            "probe-two-handlers",
            spec_with(
                containers=[
                    _container(readinessProbe={"tcpSocket": {"port": 80}, "exec": {"command": ["x"]}})
                ]
            ),
            **_refused("spec.containers[0].readinessProbe", one_of),
        ),
        CelCase(
            "startup-probe",
            spec_with(containers=[_container(startupProbe={"tcpSocket": {"port": 80}})]),
            **_refused("spec.containers[0]", "ECI has no startup probe"),
        ),
        CelCase(
            "hook-two-handlers",
            spec_with(
                containers=[
                    _container(lifecycle={"preStop": {"exec": {"command": ["x"]}, "tcpSocket": {"port": 80}}})
                ]
            ),
            **_refused("spec.containers[0].lifecycle.preStop", one_of),
        ),
        CelCase(
            "init-container-probe",
            spec_with(initContainers=[_container(readinessProbe={"tcpSocket": {"port": 80}})]),
            **_refused("spec.initContainers", "spec.initContainers[] take no"),
        ),
        CelCase(
            "value-from-nothing",
            spec_with(containers=[_container(env=[{"name": "A", "valueFrom": {}}])]),
            **_refused("spec.containers[0].env[0].valueFrom", one_of),
        ),
        CelCase(
            "value-from-field-ref",
            spec_with(
                containers=[
                    _container(env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}])
                ]
            ),
            True,
        ),
        CelCase(
            "env-from-nothing",
            spec_with(containers=[_container(envFrom=[{"prefix": "A_"}])]),
            **_refused("spec.containers[0].envFrom[0]", one_of),
        ),
        CelCase(
            "capabilities-drop",
            spec_with(containers=[_container(securityContext={"capabilities": {"drop": ["ALL"]}})]),
            **_refused("spec.containers[0].securityContext.capabilities", "ECI cannot drop capabilities"),
        ),
        CelCase(
            "sysctl-not-allowed",
            spec_with(securityContext={"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]}),
            **_refused("spec.securityContext.sysctls[0]", "ECI does not allow"),
        ),
        # Changing privileged, runAsGroup or runAsNonRoot is refused by the operator, not by CEL (a rule
        # comparing them across containers is over the apiserver's cost budget): allowed here.
        CelCase("privileged-changed", unprivileged, True, privileged),
        CelCase(
            "instance-type-and-types",
            spec_with(instanceType="ecs.c6.large", instanceTypes=["ecs.g6.large"]),
            **_refused("spec.instanceTypes", "not both"),
        ),
        CelCase(
            "gpu-on-gpu-types",
            spec_with(
                containers=[_container(gpu=1)],
                instanceTypes=["ecs.gn6v-c8g1.2xlarge", "ecs.gn6i-c4g1.xlarge"],
            ),
            True,
        ),
        CelCase(
            "gpu-on-a-mix-of-types",
            spec_with(containers=[_container(gpu=1)], instanceTypes=["ecs.c6.large", "ecs.gn6i-c4g1.xlarge"]),
            **_refused("spec.instanceTypes", "needs GPU instance types only"),
        ),
        CelCase(
            "compute-category-with-spot",
            spec_with(computeCategory=["economy"], spot={"strategy": "SpotAsPriceGo"}),
            **_refused("spec.computeCategory", "cannot be combined with spot"),
        ),
        CelCase(
            "dns-policy-none-without-servers",
            spec_with(dnsPolicy="None"),
            **_refused("spec.dnsPolicy", "needs at least one name server"),
        ),
        CelCase(
            "spot-duration-without-spot",
            spec_with(spot={"strategy": "NoSpot", "durationHours": 1}),
            **_refused("spec.spot", "apply only to a spot strategy"),
        ),
        CelCase(
            "gpu-without-a-gpu-type",
            spec_with(containers=[_container(gpu=1)], instanceType="ecs.c6.large"),
            **_refused("spec.instanceTypes", "needs GPU instance types only"),
        ),
        CelCase(
            "gpu-without-any-type",
            spec_with(containers=[_container(gpu=1)]),
            **_refused("spec.instanceTypes", "needs GPU instance types only"),
        ),
        CelCase("eip-auto", spec_with(eip={"autoCreate": True, "isp": "BGP"}), True),
        CelCase(
            "eip-both",
            spec_with(eip={"autoCreate": True, "instanceId": "eip-abc"}),
            **_refused("spec.eip", "not both"),
        ),
        CelCase(
            "eip-bandwidth-without-auto",
            spec_with(eip={"instanceId": "eip-abc", "bandwidth": 5}),
            **_refused("spec.eip", "only with autoCreate"),
        ),
        CelCase(
            "spot-price-without-limit-strategy",
            spec_with(spot={"strategy": "SpotAsPriceGo", "priceLimit": 0.5}),
            **_refused("spec.spot", "only with strategy SpotWithPriceLimit"),
        ),
        CelCase(
            "spot-limit-strategy-without-price",
            spec_with(spot={"strategy": "SpotWithPriceLimit"}),
            **_refused("spec.spot", "needs spot.priceLimit"),
        ),
        CelCase(
            "image-cache-both",
            spec_with(imageCache={"autoMatch": True, "snapshotId": "imc-abc"}),
            **_refused("spec.imageCache", "not both"),
        ),
        CelCase(
            "dns-config-changed",
            spec_with(dnsConfig={"nameservers": ["10.0.0.2"]}),
            True,
            spec_with(dnsConfig={"nameservers": ["10.0.0.1"]}),
        ),
        CelCase("disk-volumes-unchanged", with_disk, True, with_disk),
        CelCase(
            "disk-volumes-reordered",
            spec_with(volumes=[VOLUME, DISK]),
            True,
            spec_with(volumes=[DISK, VOLUME]),
        ),
        CelCase(
            "sysctls-reordered",
            spec_with(securityContext={"sysctls": SYSCTLS[::-1]}),
            True,
            spec_with(securityContext={"sysctls": SYSCTLS}),
        ),
        CelCase(
            "disk-volumes-changed",
            spec_with(volumes=[DISK, VOLUME]),
            old=with_disk,
            **_refused("spec.volumes", "spec.volumes cannot change while the group has a disk volume"),
        ),
        CelCase(
            "disk-volumes-changed-with-recreate",
            spec_with(volumes=[VOLUME], updateStrategy="Recreate"),
            True,
            with_disk,
        ),
        CelCase(
            "volumes-changed-without-disk",
            spec_with(volumes=[VOLUME, {"name": "w", "emptyDir": {}}]),
            True,
            _workload(),
        ),
    ]


ACG_CASES = (*_name_cases(), *_immutable_cases(), *_env_cases(), *_tag_cases(), *_workload_cases())
ACG = CelTable(load_crd(), ACG_CASES)
"""The AcrContainerGroup CRD, as committed under crds/."""


# ------------------------------------------------------- conformance: how the server runs rules


def _rule(rule: str, message: str, **more: str) -> dict[str, str]:
    return {"rule": rule, "message": message, **more}


SIZE_IMMUTABLE = _rule("self.size == oldSelf.size", "size is immutable")
CONFORMANCE_GROUP = "conformance.acr-operator.dev"
CONFORMANCE_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"probes.{CONFORMANCE_GROUP}"},
    "spec": {
        "group": CONFORMANCE_GROUP,
        "scope": "Namespaced",
        "names": {"kind": "Probe", "plural": "probes", "singular": "probe", "listKind": "ProbeList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-validations": [
                                    _rule(
                                        "!has(self.sorted) || self.sorted.sum() <= 10",
                                        "the sum is at most 10",
                                        fieldPath=".sorted",
                                    )
                                ],
                                "properties": {
                                    # items of a listType=map list meet their old selves by key
                                    "keyed": {
                                        "type": "array",
                                        "maxItems": 5,
                                        "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["name"],
                                        "items": {
                                            "type": "object",
                                            "required": ["name", "size"],
                                            "properties": {
                                                "name": {"type": "string", "maxLength": 10},
                                                "size": {"type": "integer"},
                                            },
                                            "x-kubernetes-validations": [SIZE_IMMUTABLE],
                                        },
                                    },
                                    # map values meet theirs by key
                                    "counts": {
                                        "type": "object",
                                        "maxProperties": 5,
                                        "additionalProperties": {
                                            "type": "integer",
                                            "x-kubernetes-validations": [
                                                _rule("self >= oldSelf", "counts may only grow")
                                            ],
                                        },
                                    },
                                    "path": {
                                        "type": "string",
                                        "maxLength": 64,
                                        "x-kubernetes-validations": [
                                            _rule("!self.split('/').exists(p, p == '..')", "no .. segment")
                                        ],
                                    },
                                    "sorted": {
                                        "type": "array",
                                        "maxItems": 5,
                                        "items": {"type": "integer"},
                                        "x-kubernetes-validations": [
                                            _rule("self.isSorted()", "must be sorted")
                                        ],
                                    },
                                    "letters": {
                                        "type": "string",
                                        "maxLength": 20,
                                        "x-kubernetes-validations": [
                                            _rule("self.lowerAscii() == self", "lowercase only")
                                        ],
                                    },
                                    # a number is a double, also when written as an integer
                                    "ratio": {
                                        "type": "number",
                                        "x-kubernetes-validations": [_rule("self <= 1.0", "at most 1")],
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _keyed(*items: tuple[str, int]) -> dict[str, Any]:
    return {"keyed": [{"name": name, "size": size} for name, size in items]}


CONFORMANCE_CASES = (
    CelCase("keyed-created", _keyed(("a", 1)), True),
    CelCase(
        "keyed-size-changed",
        _keyed(("a", 2)),
        old=_keyed(("a", 1)),
        **_refused("spec.keyed[0]", "size is immutable"),
    ),
    CelCase("keyed-reordered", _keyed(("b", 2), ("a", 1)), True, old=_keyed(("a", 1), ("b", 2))),
    CelCase(
        "keyed-reordered-size-changed",
        _keyed(("b", 3), ("a", 1)),
        old=_keyed(("a", 1), ("b", 2)),
        **_refused("spec.keyed[0]", "size is immutable"),
    ),
    CelCase("keyed-item-added", _keyed(("a", 1), ("b", 5)), True, old=_keyed(("a", 1))),
    CelCase("keyed-item-renamed", _keyed(("b", 2)), True, old=_keyed(("a", 1))),
    CelCase("counts-grow", {"counts": {"x": 3}}, True, old={"counts": {"x": 2}}),
    CelCase("counts-new-key", {"counts": {"x": 2, "y": 0}}, True, old={"counts": {"x": 2}}),
    CelCase(
        "counts-shrink",
        {"counts": {"x": 1}},
        old={"counts": {"x": 2}},
        **_refused("spec.counts[x]", "only grow"),
    ),
    CelCase("path-plain", {"path": "a/b..c/d"}, True),
    CelCase("path-dot-dot", {"path": "a/../b"}, **_refused("spec.path", "no .. segment")),
    CelCase("sorted", {"sorted": [1, 2, 2]}, True),
    CelCase("unsorted", {"sorted": [2, 1]}, **_refused("spec.sorted", "must be sorted")),
    CelCase("sorted-sum-too-big", {"sorted": [5, 6]}, **_refused("spec.sorted", "the sum is at most 10")),
    CelCase("letters-lower", {"letters": "abc"}, True),
    CelCase("letters-upper", {"letters": "aBc"}, **_refused("spec.letters", "lowercase only")),
    CelCase("ratio-integer", {"ratio": 1}, True),
    CelCase("ratio-fraction", {"ratio": 0.5}, True),
    CelCase("ratio-too-big", {"ratio": 2}, **_refused("spec.ratio", "at most 1")),
)
CONFORMANCE = CelTable(CONFORMANCE_CRD, CONFORMANCE_CASES)


def uncorrelatable_variant() -> dict[str, Any]:
    """The conformance CRD with the keyed list's transition rule also on the items of an atomic list, which
    never meet their old selves: the server refuses the CRD."""
    crd = copy.deepcopy(CONFORMANCE_CRD)
    crd["metadata"]["name"] = "probes.uncorrelatable.acr-operator.dev"
    crd["spec"]["group"] = "uncorrelatable.acr-operator.dev"
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    atomic_items = copy.deepcopy(spec["properties"]["keyed"]["items"])
    spec["properties"]["atomic"] = {"type": "array", "maxItems": 5, "items": atomic_items}
    return crd


TABLES = (ACG, CONFORMANCE)
ALL_CASES = [(table, case) for table in TABLES for case in table.cases]
ALL_CASE_IDS = [f"{table.plural}:{case.id}" for table, case in ALL_CASES]
assert len(set(ALL_CASE_IDS)) == len(ALL_CASE_IDS), "case ids must be unique within a table"
