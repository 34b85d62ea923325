"""Fixtures for the RBAC tests: the chart's rendered RBAC applied to the real apiserver, and clients that
authenticate as the ServiceAccount tokens the session control plane accepts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from local_control_plane.cluster import ControlPlane
from tests.chart.conftest import CHART_DIR, HelmRun, helm, run_helm  # noqa: F401  (fixtures)
from tests.e2e.conftest import cluster, crd_installed, operator_env, wait_for  # noqa: F401  (fixtures)

RELEASE = "acr-eci-operator"
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")

Render = Callable[..., list[dict[str, Any]]]
ApplyRbac = Callable[[list[dict[str, Any]], str], None]
IdentityClient = Callable[[str], client.ApiClient]


@pytest.fixture
def render_chart(run_helm: HelmRun) -> Render:  # noqa: F811
    """`helm template acr-eci-operator <chart> --namespace NS --set region=cn-beijing --set ...`, parsed."""

    def render(namespace: str, *sets: str) -> list[dict[str, Any]]:
        args: list[str] = ["--set", "region=cn-beijing"]
        for value in sets:
            args += ["--set", value]
        result = run_helm("template", RELEASE, CHART_DIR, "--namespace", namespace, *args)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return render


def ensure_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as error:
        if error.status != 409:
            raise


def _create(rbac: client.RbacAuthorizationV1Api, body: dict[str, Any]) -> None:
    kind, namespace = body["kind"], body["metadata"].get("namespace")
    if kind == "ClusterRole":
        rbac.create_cluster_role(body)
    elif kind == "ClusterRoleBinding":
        rbac.create_cluster_role_binding(body)
    elif kind == "Role":
        rbac.create_namespaced_role(namespace, body)
    elif kind == "RoleBinding":
        rbac.create_namespaced_role_binding(namespace, body)
    else:  # pragma: no cover - the caller filters
        raise ValueError(kind)


def _delete(rbac: client.RbacAuthorizationV1Api, body: dict[str, Any]) -> None:
    kind, name, namespace = body["kind"], body["metadata"]["name"], body["metadata"].get("namespace")
    try:
        if kind == "ClusterRole":
            rbac.delete_cluster_role(name)
        elif kind == "ClusterRoleBinding":
            rbac.delete_cluster_role_binding(name)
        elif kind == "Role":
            rbac.delete_namespaced_role(name, namespace)
        elif kind == "RoleBinding":
            rbac.delete_namespaced_role_binding(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise


def _exists(rbac: client.RbacAuthorizationV1Api, body: dict[str, Any]) -> bool:
    kind, name, namespace = body["kind"], body["metadata"]["name"], body["metadata"].get("namespace")
    try:
        if kind == "ClusterRole":
            rbac.read_cluster_role(name)
        elif kind == "ClusterRoleBinding":
            rbac.read_cluster_role_binding(name)
        elif kind == "Role":
            rbac.read_namespaced_role(name, namespace)
        else:
            rbac.read_namespaced_role_binding(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def can(api_client: client.ApiClient, verb: str, resource: str, group: str = "", namespace: str = "") -> bool:
    """SelfSubjectAccessReview: what the apiserver's RBAC authorizer answers for this client now."""
    review = client.AuthorizationV1Api(api_client).create_self_subject_access_review(
        {
            "spec": {
                "resourceAttributes": {
                    "verb": verb,
                    "resource": resource,
                    "group": group,
                    "namespace": namespace,
                }
            }
        }
    )
    return bool(review.status.allowed)


@pytest.fixture
def identity_client(control_plane: ControlPlane, tmp_path: Path) -> Iterator[IdentityClient]:
    """An ApiClient authenticated with one of the session's extra bearer tokens."""
    made: list[client.ApiClient] = []

    def make(token: str) -> client.ApiClient:
        path = control_plane.kubeconfig_for(token, tmp_path / f"kubeconfig-{uuid.uuid4().hex[:8]}")
        api_client = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
        made.append(api_client)
        return api_client

    yield make
    for api_client in made:
        api_client.close()


@pytest.fixture
def apply_rbac(
    kube_api: client.ApiClient,
    identity_client: IdentityClient,
    crd_installed: None,  # noqa: F811
) -> Iterator[ApplyRbac]:
    """Apply rendered RBAC objects as admin (namespaces first); delete them all again at teardown.

    `apply(objects, token)` waits until the token's identity is allowed to watch AcrContainerGroups
    (the RBAC authorizer sees new bindings through an informer, a moment later). Teardown waits until it
    is no longer allowed, so the cluster-scoped objects of one test never leak into the next.
    """
    rbac = client.RbacAuthorizationV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    applied: list[dict[str, Any]] = []
    probes: list[tuple[client.ApiClient, str]] = []

    def apply(objects: list[dict[str, Any]], token: str) -> None:
        identity = identity_client(token)
        namespaces = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")})
        # Where the identity may watch its resource once the RBAC is in: a watched namespace, or any.
        probe = namespaces[0] if any(o["kind"] == "Role" for o in objects) else ""
        assert not can(identity, "watch", "acrcontainergroups", "eci.acr-operator.dev", probe), (
            "the identity already has access before the chart's RBAC is applied"
        )
        for namespace in namespaces:
            ensure_namespace(core, namespace)
        for body in objects:
            assert body["kind"] in RBAC_KINDS, body["kind"]
            _create(rbac, body)
            applied.append(body)
        probes.append((identity, probe))
        wait_for(
            lambda: can(identity, "watch", "acrcontainergroups", "eci.acr-operator.dev", probe),
            timeout=30,
            what="the applied RBAC to take effect",
        )

    yield apply
    for body in reversed(applied):
        _delete(rbac, body)
    wait_for(lambda: not any(_exists(rbac, body) for body in applied), timeout=30, what="RBAC deleted")
    for identity, probe in probes:
        wait_for(
            lambda: not can(identity, "watch", "acrcontainergroups", "eci.acr-operator.dev", probe),  # noqa: B023
            timeout=30,
            what="the deleted RBAC to stop granting",
        )
