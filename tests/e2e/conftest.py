"""End-to-end fixtures: the real apiserver, the emulator over HTTP, and the real operator process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from eci_emulator.testing import container_params, prepare
from local_control_plane.cluster import ControlPlane, free_port
from tests.conftest import purge_namespace

GROUP, VERSION, PLURAL = "eci.acr-operator.dev", "v1alpha1", "acrcontainergroups"
REPO = Path(__file__).resolve().parents[2]
REGION = "cn-beijing"
OPERATOR_BIN = str(Path(sys.executable).with_name("acr-eci-operator"))
REGISTRY_PASSWORD = "s3cr3t-Passw0rd"
"""The password of registry.example.com at the emulator; the examples keep it in a Secret."""
LEAK_CANARIES = (REGISTRY_PASSWORD, "env-secret-value-7f3a")
"""Values that live only in Secrets: none may reach the operator's log."""


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll until predicate() is truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate} (last: {last!r})")


class Cluster:
    """Admin access to AcrContainerGroups in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "metadata": {**body["metadata"], "namespace": self.namespace}}
        if body["kind"] == "Secret":
            return self.core.create_namespaced_secret(self.namespace, body).to_dict()  # type: ignore[no-any-return]
        if body["kind"] == "ConfigMap":
            return self.core.create_namespaced_config_map(self.namespace, body).to_dict()  # type: ignore[no-any-return]
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURAL, body
        )

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def status(self, name: str) -> dict[str, Any]:
        return (self.get(name) or {}).get("status") or {}

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURAL, name, patch
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def events(self, name: str) -> list[Any]:
        items = self.core.list_namespaced_event(self.namespace).items
        return [
            e
            for e in items
            if e.involved_object.name == name and e.involved_object.kind == "AcrContainerGroup"
        ]

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        for entry in self.status(name).get("conditions") or []:
            if entry.get("type") == type_:
                return entry  # type: ignore[no-any-return]
        return {}


def create_group_directly(eci: Any, region: str, name: str, tags: Mapping[str, str] | None = None) -> str:
    """Create a group at the emulator through the SDK, as someone other than the operator would (its
    id is returned)."""
    params = {
        "RegionId": region,
        "ContainerGroupName": name,
        "SecurityGroupId": "sg-2zeh4cev9y7ulbrabcd",
        "VSwitchId": "vsw-2zejlv7xjnw61w6zabcd",
        **container_params(1, "web", "nginx:latest"),
    }
    for index, (key, value) in enumerate((tags or {}).items(), start=1):
        params[f"Tag.{index}.Key"] = key
        params[f"Tag.{index}.Value"] = value
    sdk = AcsClient(eci.access_key_id, eci.access_key_secret, region)
    answer = json.loads(sdk.do_action_with_exception(prepare(CreateContainerGroupRequest(), eci, params)))
    return str(answer["ContainerGroupId"])


def acg(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AcrContainerGroup",
        "metadata": {"name": name},
        "spec": {"containers": containers, **spec},
    }


def load_example(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((REPO / "examples" / name).read_text()) if doc]


class OperatorProcess:
    """One operator process: started with `start()`, stopped by pid with `stop()` or `kill()`."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.health_port = 0

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        self.health_port = free_port()
        argv = [*self.argv, "--liveness", f"http://127.0.0.1:{self.health_port}/healthz"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"operator exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.health_port}/healthz", timeout=1
                ) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"operator not healthy within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer handling, as a crash."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture(scope="session")
def crd_installed(kube_api: client.ApiClient) -> None:
    body = yaml.safe_load((REPO / "crds" / "acrcontainergroups.eci.acr-operator.dev.yaml").read_text())
    extensions = client.ApiextensionsV1Api(kube_api)
    try:
        extensions.create_custom_resource_definition(body)
    except ApiException as error:
        if error.status != 409:
            raise
        current = extensions.read_custom_resource_definition(body["metadata"]["name"])
        body["metadata"]["resourceVersion"] = current.metadata.resource_version
        extensions.replace_custom_resource_definition(body["metadata"]["name"], body)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(body["metadata"]["name"])
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    wait_for(established, what="CRD Established")


@pytest.fixture
def cluster(kube_api: client.ApiClient, crd_installed: None) -> Iterator[Cluster]:
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": namespace}})
    yield Cluster(kube_api, namespace)
    purge_namespace(kube_api, namespace)


@pytest.fixture
def operator_env(control_plane: ControlPlane, eci_emulator: Any) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "KUBECONFIG": str(control_plane.kubeconfig_path),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": eci_emulator.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": eci_emulator.access_key_secret,
        "ALIBABA_CLOUD_REGION_ID": REGION,
        "ECI_ENDPOINT": eci_emulator.url,
        "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-2zeh4cev9y7ulbrabcd",
        "ECI_DEFAULT_VSWITCH_IDS": "vsw-2zejlv7xjnw61w6zabcd",
        "ECI_POLL_INTERVAL_SECONDS": "0.5",
        "ACR_ECI_LOG_LEVEL": "DEBUG",
    }


@pytest.fixture
def start_operator(
    cluster: Cluster, operator_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(*args: str, **env: str) -> OperatorProcess:
        """Start the operator with these extra `run` arguments and environment variables."""
        process = OperatorProcess(
            [OPERATOR_BIN, "run", "--standalone", "--namespace", cluster.namespace, *args],
            {**operator_env, **env},
            tmp_path / "operator.log",
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
    log = (tmp_path / "operator.log").read_text(errors="replace")
    for secret in (operator_env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], *LEAK_CANARIES):
        assert secret not in log, "a credential appeared in the operator's log"
