"""The local control plane is a real kube-apiserver: validation, status subresource, clean shutdown (of the
apiextensions-apiserver too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from local_control_plane.apiextensions import running_apiextensions
from local_control_plane.cluster import ControlPlane, running

pytestmark = pytest.mark.cluster

GROUP = "smoke.example.dev"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "string", "enum": ["small", "large"]},
                                    "instanceId": {"type": "string", "pattern": "^cri-[a-z0-9]+$"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def widgets(kube_api: client.ApiClient) -> Iterator[client.CustomObjectsApi]:
    extensions = client.ApiextensionsV1Api(kube_api)
    extensions.create_custom_resource_definition(CRD)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(f"widgets.{GROUP}")
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    wait_until(established)
    yield client.CustomObjectsApi(kube_api)
    extensions.delete_custom_resource_definition(f"widgets.{GROUP}")


def widget(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def create(api: client.CustomObjectsApi, body: dict[str, Any]) -> Any:
    return api.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", body)


def test_a_good_object_is_stored_as_sent(widgets: client.CustomObjectsApi) -> None:
    create(widgets, widget("good", {"size": "small", "instanceId": "cri-abc123"}))
    stored = widgets.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "good")
    assert stored["spec"] == {"size": "small", "instanceId": "cri-abc123"}
    assert stored["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({}, "spec.size", "Required value"),
        ({"size": "medium"}, "spec.size", "Unsupported value"),
        ({"size": "small", "instanceId": "acr-1"}, "spec.instanceId", "should match"),
    ],
    ids=["required", "enum", "pattern"],
)
def test_a_bad_object_is_refused_naming_the_field(
    widgets: client.CustomObjectsApi, spec: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ApiException) as refused:
        create(widgets, widget(f"bad-{uuid.uuid4().hex[:8]}", spec))
    assert refused.value.status == 422
    body = json.loads(refused.value.body)
    causes = body["details"]["causes"]
    assert [cause["field"] for cause in causes] == [field]
    assert reason in causes[0]["message"]


def test_status_is_a_subresource(widgets: client.CustomObjectsApi) -> None:
    create(widgets, widget("with-status", {"size": "large"}))
    # A status written through the main resource is ignored ...
    widgets.patch_namespaced_custom_object(
        GROUP, "v1", "default", "widgets", "with-status", {"status": {"phase": "Ignored"}}
    )
    stored = widgets.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "with-status")
    assert "status" not in stored
    # ... and one written through /status is kept, without touching the spec or the generation.
    widgets.patch_namespaced_custom_object_status(
        GROUP, "v1", "default", "widgets", "with-status", {"status": {"phase": "Ready"}}
    )
    stored = widgets.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "with-status")
    assert stored["status"] == {"phase": "Ready"}
    assert stored["metadata"]["generation"] == 1


def test_a_stale_resource_version_is_a_conflict(widgets: client.CustomObjectsApi) -> None:
    created = create(widgets, widget("conflicted", {"size": "small"}))
    widgets.patch_namespaced_custom_object(
        GROUP, "v1", "default", "widgets", "conflicted", {"spec": {"size": "large"}}
    )
    with pytest.raises(ApiException) as conflict:
        widgets.replace_namespaced_custom_object(GROUP, "v1", "default", "widgets", "conflicted", created)
    assert conflict.value.status == 409


# Both local apiservers (kube-apiserver 1.20 and the CEL-enforcing apiextensions-apiserver 1.36): (module,
# class, context manager).
SERVERS = [
    ("local_control_plane.cluster", "ControlPlane", running),
    ("local_control_plane.apiextensions", "ApiextensionsServer", running_apiextensions),
]


@pytest.mark.parametrize(("module", "kind", "context"), SERVERS, ids=[server[1] for server in SERVERS])
def test_stop_leaves_no_process_behind(module: str, kind: str, context: Any) -> None:
    with context() as plane:
        pids = plane.pids
        assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
        workdir = plane.workdir
    assert not any(pid_alive(pid) for pid in pids)
    assert workdir is not None and not workdir.exists()


@pytest.mark.parametrize(("module", "kind", "context"), SERVERS, ids=[server[1] for server in SERVERS])
def test_processes_die_with_a_killed_parent(tmp_path: Path, module: str, kind: str, context: Any) -> None:
    script = (
        "import sys, time\n"
        f"from {module} import {kind}\n"
        f"plane = {kind}(workdir=__import__('pathlib').Path(sys.argv[1])).start()\n"
        "print(' '.join(map(str, plane.pids)), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=10)


def test_the_admin_kubeconfig_is_cluster_admin_and_others_are_not(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubectl = ["kubectl", "--kubeconfig"]
    admin = subprocess.run(
        [*kubectl, str(control_plane.kubeconfig_path), "auth", "can-i", "*", "*"],
        capture_output=True,
        text=True,
    )
    assert admin.stdout.strip() == "yes"
    stranger = control_plane.kubeconfig_for("not-a-token", tmp_path / "stranger")
    refused = subprocess.run([*kubectl, str(stranger), "get", "namespaces"], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr or "must be logged in" in refused.stderr
