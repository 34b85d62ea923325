"""The CRD on a real kube-apiserver (1.20): malformed resources refused with the field named, every
example accepted, defaults stored, status kept apart, and `kubectl explain` teaching the fields."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acr_eci_operator import models
from tests.api.acg_testlib import example_documents, example_names, example_resource
from tests.conftest import purge_namespace

pytestmark = pytest.mark.cluster

NGINX = "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"


@pytest.fixture(scope="module")
def namespace(kube_api: Any, acg_crd: dict[str, Any]) -> Iterator[str]:
    from kubernetes import client

    name = f"acg-api-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        purge_namespace(kube_api, name)


@pytest.fixture(scope="module")
def custom(kube_api: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube_api)


def create(custom: Any, namespace: str, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    kwargs = {"dry_run": "All"} if dry_run else {}
    result: dict[str, Any] = custom.create_namespaced_custom_object(
        models.GROUP, models.VERSION, namespace, models.PLURAL, body, **kwargs
    )
    return result


def resource(name: str, spec: Any, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": models.API_VERSION, "kind": models.KIND, "metadata": metadata}
    if spec is not None:
        body["spec"] = spec
    return body


def spec(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c1", "image": NGINX}], **fields}


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "c1", "image": NGINX, **fields}


SECRET_REF = {"name": "reg", "key": "password"}

MALFORMED: list[tuple[str, Any, str]] = [
    ("no-spec", None, "spec"),
    ("no-containers", {"restartPolicy": "Always"}, "spec.containers"),
    ("empty-containers", {"containers": []}, "spec.containers"),
    ("no-image", {"containers": [{"name": "c1"}]}, "spec.containers[0].image"),
    ("no-name", {"containers": [{"image": NGINX}]}, "spec.containers[0].name"),
    ("bad-container-name", spec(containers=[container(name="C_1")]), "spec.containers[0].name"),
    ("duplicate-containers", spec(containers=[container(), container()]), "spec.containers[1]"),
    (
        "bad-pull-policy",
        spec(containers=[container(imagePullPolicy="Sometimes")]),
        "spec.containers[0].imagePullPolicy",
    ),
    (
        "port-too-big",
        spec(containers=[container(ports=[{"containerPort": 65536}])]),
        "spec.containers[0].ports[0].containerPort",
    ),
    (
        "port-zero",
        spec(containers=[container(ports=[{"containerPort": 0}])]),
        "spec.containers[0].ports[0].containerPort",
    ),
    (
        "bad-protocol",
        spec(containers=[container(ports=[{"containerPort": 80, "protocol": "SCTP"}])]),
        "spec.containers[0].ports[0].protocol",
    ),
    (
        "duplicate-env",
        spec(containers=[container(env=[{"name": "A"}, {"name": "A"}])]),
        "spec.containers[0].env[1]",
    ),
    (
        "env-bad-field-ref",
        spec(
            containers=[
                container(env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
            ]
        ),
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
    ),
    (
        "volume-mount-relative-path",
        spec(
            containers=[container(volumeMounts=[{"name": "v", "mountPath": "etc"}])],
            volumes=[{"name": "v", "emptyDir": {}}],
        ),
        "spec.containers[0].volumeMounts[0].mountPath",
    ),
    (
        "capability-not-in-eci",
        spec(containers=[container(securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})]),
        "spec.containers[0].securityContext.capabilities.add[0]",
    ),
    (
        "too-many-volumes",
        spec(volumes=[{"name": f"v{i}", "emptyDir": {}} for i in range(21)]),
        "spec.volumes",
    ),
    (
        "mode-out-of-range",
        spec(volumes=[{"name": "v", "configMap": {"name": "c", "defaultMode": 1024}}]),
        "spec.volumes[0].configMap.defaultMode",
    ),
    (
        "probe-success-threshold",
        spec(containers=[container(readinessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2})]),
        "spec.containers[0].readinessProbe.successThreshold",
    ),
    ("container-cpu-zero", spec(containers=[container(cpu=0)]), "spec.containers[0].cpu"),
    ("init-no-image", spec(initContainers=[{"name": "init"}]), "spec.initContainers[0].image"),
    ("bad-restart-policy", spec(restartPolicy="Sometimes"), "spec.restartPolicy"),
    ("bad-deletion-policy", spec(deletionPolicy="Keep"), "spec.deletionPolicy"),
    ("bad-update-strategy", spec(updateStrategy="Replace"), "spec.updateStrategy"),
    ("group-name-hyphen", spec(containerGroupName="-bad"), "spec.containerGroupName"),
    ("group-name-short", spec(containerGroupName="a"), "spec.containerGroupName"),
    ("group-name-upper", spec(containerGroupName="Bad-Name"), "spec.containerGroupName"),
    ("group-name-long", spec(containerGroupName="a" * 129), "spec.containerGroupName"),
    # (0.1, not 0: apiserver 1.20 compares an integer with a fractional minimum after truncating the
    # minimum, so `cpu: 0` passes its schema; the operator's own check names spec.cpu for it.)
    ("cpu-below-eci-minimum", spec(cpu=0.1), "spec.cpu"),
    ("cpu-above-eci-maximum", spec(cpu=65), "spec.cpu"),
    ("memory-above-eci-maximum", spec(memory=1e9), "spec.memory"),
    (
        "env-value-too-long",
        spec(containers=[container(env=[{"name": "A", "value": "x" * 257}])]),
        "spec.containers[0].env[0].value",
    ),
    ("eleven-args", spec(containers=[container(args=["a"] * 11)]), "spec.containers[0].args"),
    ("memory-negative", spec(memory=-1), "spec.memory"),
    ("cpu-string", spec(cpu="two"), "spec.cpu"),
    ("bad-security-group", spec(securityGroupId="default"), "spec.securityGroupId"),
    ("no-vswitches", spec(vSwitchIds=[]), "spec.vSwitchIds"),
    ("eleven-vswitches", spec(vSwitchIds=[f"vsw-{i}" for i in range(11)]), "spec.vSwitchIds"),
    ("bad-vswitch", spec(vSwitchIds=["subnet-1"]), "spec.vSwitchIds[0]"),
    (
        "registry-no-instance-id",
        spec(acrRegistryInfos=[{"instanceName": "testabcd"}]),
        "spec.acrRegistryInfos[0].instanceId",
    ),
    (
        "registry-bad-instance-id",
        spec(acrRegistryInfos=[{"instanceId": "nwj395hgf6f3abcd"}]),
        "spec.acrRegistryInfos[0].instanceId",
    ),
    (
        "registry-bad-domain",
        spec(acrRegistryInfos=[{"instanceId": "cri-a", "domains": ["no spaces"]}]),
        "spec.acrRegistryInfos[0].domains[0]",
    ),
    (
        "registry-bad-region",
        spec(acrRegistryInfos=[{"instanceId": "cri-a", "regionId": "Beijing"}]),
        "spec.acrRegistryInfos[0].regionId",
    ),
    (
        "credential-inline-password",
        spec(
            imageRegistryCredentials=[{"server": "registry.example.com", "userName": "bob", "password": "x"}]
        ),
        "spec.imageRegistryCredentials[0].passwordSecretRef",
    ),
    (
        "credential-no-user",
        spec(imageRegistryCredentials=[{"server": "registry.example.com", "passwordSecretRef": SECRET_REF}]),
        "spec.imageRegistryCredentials[0].userName",
    ),
    ("too-many-tags", spec(tags={f"k{i}": "v" for i in range(18)}), "spec.tags"),
    ("tag-value-not-string", spec(tags={"team": 7}), "spec.tags.team"),
]


@pytest.mark.parametrize(("name", "body_spec", "field"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_resources_are_refused_naming_the_field(
    custom: Any, namespace: str, name: str, body_spec: Any, field: str
) -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        create(custom, namespace, resource(f"bad-{name}", body_spec))
    assert caught.value.status == 422, caught.value.body
    message = json.loads(caught.value.body)["message"]
    # 1.20 names a missing required field inside a list without the index (spec.containers.image).
    paths = {field, re.sub(r"\[\d+\]", "", field)}
    assert any(f"{path}:" in message or f"{path} " in message for path in paths), message


@pytest.mark.parametrize("example", example_names())
def test_every_example_is_accepted(kube_api: Any, custom: Any, namespace: str, example: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    for document in example_documents(example):
        if document["kind"] == "Secret":
            core.create_namespaced_secret(namespace, document)
    body = example_resource(example)
    assert create(custom, namespace, body, dry_run=True)["metadata"]["name"] == body["metadata"]["name"]
    stored = create(custom, namespace, body)
    parsed = models.AcrContainerGroupSpec.from_dict(stored["spec"])
    assert parsed == models.AcrContainerGroupSpec.from_dict(body["spec"])


def test_defaults_are_stored(custom: Any, namespace: str) -> None:
    stored = create(custom, namespace, resource("defaults", {"containers": [{"name": "c1", "image": NGINX}]}))
    assert stored["spec"] == {
        "containers": [{"name": "c1", "image": NGINX}],
        "restartPolicy": "Always",
        "deletionPolicy": "Delete",
        "updateStrategy": "InPlace",
    }
    explicit = create(
        custom,
        namespace,
        resource("explicit", spec(restartPolicy="Never", deletionPolicy="Orphan", updateStrategy="Recreate")),
    )
    assert (
        explicit["spec"]["restartPolicy"],
        explicit["spec"]["deletionPolicy"],
        explicit["spec"]["updateStrategy"],
    ) == ("Never", "Orphan", "Recreate")


def test_unknown_fields_are_pruned(custom: Any, namespace: str) -> None:
    body = resource("pruned", spec(password="inline", containers=[container(unknown=1)]))
    stored = create(custom, namespace, body)
    assert "password" not in stored["spec"]
    assert stored["spec"]["containers"] == [{"name": "c1", "image": NGINX}]


def test_status_is_a_subresource_and_keeps_the_operator_fields(custom: Any, namespace: str) -> None:
    create(custom, namespace, resource("with-status", spec()))
    status = {
        "containerGroupId": "eci-2zelg8vwnlzdhf8hv6f4",
        "regionId": "cn-beijing",
        "incarnation": 0,
        "applied": {"ContainerGroupName": "with-status", "VSwitchId": "vsw-a,vsw-b"},
        "appliedHash": "abc123",
        "lastEventTime": "2026-01-01T00:00:00Z",
        "phase": "Running",
        "intranetIp": "192.168.0.7",
        "observedGeneration": 1,
        "registries": [{"instanceId": "cri-nwj395hgf6f3abcd"}],
        "containers": [
            {
                "name": "c1",
                "ready": True,
                "restartCount": 0,
                "state": "Running",
                "reason": "Started",
                "message": "ok",
            }
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Running",
                "message": "all containers ready",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1,
            },
            {"type": "Synced", "status": "False", "reason": "InvalidParameter.Foo", "message": "bad"},
        ],
    }
    ignored = custom.patch_namespaced_custom_object(
        models.GROUP,
        models.VERSION,
        namespace,
        models.PLURAL,
        "with-status",
        {"status": {"phase": "Running"}},
    )
    assert "status" not in ignored
    patched = custom.patch_namespaced_custom_object_status(
        models.GROUP, models.VERSION, namespace, models.PLURAL, "with-status", {"status": status}
    )
    assert patched["status"] == status
    assert models.AcrContainerGroupStatus.from_dict(patched["status"]).to_dict() == status


def test_a_status_write_over_a_stale_version_is_refused_and_changes_nothing(
    kube_api: Any, custom: Any, namespace: str
) -> None:
    """The operator writes a restart's record only over the version it read (two replicas briefly both
    active must not each write one): the apiserver refuses the write with 409, which the operator's
    client turns into Conflict."""
    import asyncio

    from acr_eci_operator.errors import Conflict
    from acr_eci_operator.kube import Kube

    created = create(custom, namespace, resource("conditional", spec()))
    version = created["metadata"]["resourceVersion"]
    kube = Kube(kube_api)
    written = asyncio.run(
        kube.patch_status(namespace, "conditional", {"phase": "Scheduling"}, resource_version=version)
    )
    assert written is not None and written["status"]["phase"] == "Scheduling"
    with pytest.raises(Conflict):
        asyncio.run(
            kube.patch_status(namespace, "conditional", {"phase": "Running"}, resource_version=version)
        )
    stored = custom.get_namespaced_custom_object(
        models.GROUP, models.VERSION, namespace, models.PLURAL, "conditional"
    )
    assert stored["status"]["phase"] == "Scheduling"
    assert (
        asyncio.run(kube.patch_status(namespace, "conditional", {"phase": "Running"}))["status"]["phase"]
        == "Running"
    )  # type: ignore[index]


def test_empty_strings_are_stored(custom: Any, namespace: str) -> None:
    # Built with Go >= 1.16 and no patch, this apiserver took "" for null and refused it (kubernetes#99804);
    # local_control_plane/build-kube-apiserver.sh applies the upstream fix, and this proves it took.
    body = resource("empty-env", spec(containers=[container(env=[{"name": "A", "value": ""}])]))
    stored = create(custom, namespace, body)
    assert stored["spec"]["containers"][0]["env"] == [{"name": "A", "value": ""}]
    read_back = custom.get_namespaced_custom_object(
        models.GROUP, models.VERSION, namespace, models.PLURAL, "empty-env"
    )
    assert read_back["spec"]["containers"][0]["env"] == [{"name": "A", "value": ""}]


def kubectl() -> str | None:
    for candidate in (
        Path.home() / ".cache" / "acr-eci-operator" / "bin" / "kubectl",
        Path("/usr/bin/kubectl"),
    ):
        if candidate.exists():
            return str(candidate)
    return shutil.which("kubectl")


def test_kubectl_explain_shows_the_descriptions(control_plane: Any, acg_crd: dict[str, Any]) -> None:
    binary = kubectl()
    if binary is None:
        pytest.skip("no kubectl binary")
    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig_path)}
    # The apiserver publishes a new CRD's OpenAPI a moment after it is Established: poll.
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(
            [binary, "explain", "acg.spec.acrRegistryInfos"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode == 0 and "instanceId" in result.stdout:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"kubectl explain never showed the schema: {result.stdout}{result.stderr}")
        time.sleep(0.5)
    text = " ".join(result.stdout.split())
    assert "password" in text
    assert "ACR Enterprise Edition instances to pull images from without a password" in text
    assert "instanceId <string> -required-" in text
    assert "ID of the ACR Enterprise Edition instance, e.g. cri-nwj395hgf6f3abcd" in text
    assert "All of the instance's domains when empty." in text
