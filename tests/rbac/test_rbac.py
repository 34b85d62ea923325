"""The chart's RBAC, applied to the real apiserver, is enough for the operator and no more.

Each test renders the chart with the real helm binary, applies only its RBAC objects as admin, and then
acts as the ServiceAccount the rendered bindings name, authenticated by a bearer token the session's
control plane maps to `system:serviceaccount:NS:acr-eci-operator` (groups `system:serviceaccounts`,
`system:serviceaccounts:NS`, `system:authenticated`), exactly as a pod's token would be in a cluster.
The real `acr-eci-operator run` process runs under that identity against the ECI emulator.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from eci_emulator.pytest_plugin import EmulatorFixture
from local_control_plane.cluster import ControlPlane
from local_control_plane.pytest_plugin import NAMESPACED_SERVICE_ACCOUNT, OPERATOR_SERVICE_ACCOUNT
from tests.conftest import purge_namespace
from tests.e2e.conftest import GROUP, OPERATOR_BIN, PLURAL, VERSION, Cluster, OperatorProcess, load_example
from tests.rbac.conftest import RBAC_KINDS, ApplyRbac, IdentityClient, Render, can, ensure_namespace, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

FINALIZER = "eci.acr-operator.dev/finalizer"
SA_NAME = "acr-eci-operator"
ALL_NAMESPACES_SA = ("acr-eci-system", SA_NAME)  # what OPERATOR_SERVICE_ACCOUNT authenticates as
TEAM_A, TEAM_B = "team-a", "team-b"  # NAMESPACED_SERVICE_ACCOUNT is team-a's ServiceAccount
FORBIDDEN_IN_LOG = re.compile(r"forbidden|\b403\b", re.IGNORECASE)
LOG_TIMESTAMP = re.compile(r"^\[[^]]*\]")  # "[2026-01-02 03:04:05,403]": milliseconds are not a status

# What the identity may do in one namespace, flattened to (API group, resource, verb). Anything else
# the apiserver reports (besides the self-review rules every authenticated user has) fails the test.
CRD_READ = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
NAMESPACE_WATCH = {("", "namespaces", v) for v in ("list", "watch")}
PER_NAMESPACE = {
    *{(GROUP, "acrcontainergroups", v) for v in ("get", "list", "watch", "patch")},
    (GROUP, "acrcontainergroups/status", "patch"),
    *{("", resource, v) for resource in ("secrets", "configmaps") for v in ("get", "list", "watch")},
    ("", "events", "create"),
}
SELF_REVIEWS = {
    ("authorization.k8s.io", r, "create") for r in ("selfsubjectaccessreviews", "selfsubjectrulesreviews")
}


def test_service_accounts_match_the_session_tokens() -> None:
    """The rendered bindings below name these identities; the tokens must authenticate as them."""
    assert OPERATOR_SERVICE_ACCOUNT.user == "system:serviceaccount:acr-eci-system:acr-eci-operator"
    assert NAMESPACED_SERVICE_ACCOUNT.user == "system:serviceaccount:team-a:acr-eci-operator"
    for account, namespace in (
        (OPERATOR_SERVICE_ACCOUNT, "acr-eci-system"),
        (NAMESPACED_SERVICE_ACCOUNT, TEAM_A),
    ):
        assert set(account.groups) == {
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        }


# --- helpers ---------------------------------------------------------------------------------------


def rbac_objects(documents: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The RBAC objects of a render, after checking that every binding names the chart's ServiceAccount."""
    (account,) = [d for d in documents if d["kind"] == "ServiceAccount"]
    assert (account["metadata"]["namespace"], account["metadata"]["name"]) == (namespace, SA_NAME)
    objects = [d for d in documents if d["kind"] in RBAC_KINDS]
    for binding in (o for o in objects if o["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": namespace}]
    return objects


def status_of(call: Callable[[], Any]) -> int:
    """The HTTP status an API call answers (200 when it succeeds)."""
    try:
        call()
    except ApiException as error:
        return int(error.status)
    return 200


def not_forbidden(calls: dict[str, Callable[[], Any]]) -> dict[str, int]:
    """The calls that did NOT answer 403 Forbidden, with the status they answered."""
    statuses = {label: status_of(call) for label, call in calls.items()}
    return {label: status for label, status in statuses.items() if status != 403}


def granted_rules(identity: client.ApiClient, namespace: str) -> set[tuple[str, str, str]]:
    """SelfSubjectRulesReview: every (group, resource, verb) the identity holds in a namespace."""
    review = client.AuthorizationV1Api(identity).create_self_subject_rules_review(
        {"spec": {"namespace": namespace}}
    )
    assert not review.status.incomplete, review.status.evaluation_error
    granted: set[tuple[str, str, str]] = set()
    for rule in review.status.resource_rules:
        assert not rule.resource_names, rule  # no per-name rules without peering
        for group in rule.api_groups or []:
            for resource in rule.resources or []:
                for verb in rule.verbs:
                    assert "*" not in (group, resource, verb), rule
                    granted.add((group, resource, verb))
    return granted - SELF_REVIEWS


def registry_credentials_resource(suffix: str, api_key: str) -> tuple[list[dict[str, Any]], str]:
    """examples/image-registry-credentials.yaml, plus a second Secret read by an env var's secretKeyRef.

    Returns the objects to create (Secrets first) and the resource's name.
    """
    registry_secret, resource = load_example("image-registry-credentials.yaml")
    name = f"private-registry-{suffix}"
    env_secret_name = f"app-env-{suffix}"
    registry_secret["metadata"]["name"] = f"registry-example-com-{suffix}"
    resource["metadata"]["name"] = name
    (credential,) = resource["spec"]["imageRegistryCredentials"]
    credential["passwordSecretRef"]["name"] = registry_secret["metadata"]["name"]
    (container,) = resource["spec"]["containers"]
    container["env"] = [
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": env_secret_name, "key": "api-key"}}}
    ]
    env_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": env_secret_name},
        "stringData": {"api-key": api_key},
    }
    return [registry_secret, env_secret, resource], name


def group_tags(group: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in group.get("Tags") or []}


def groups_for(eci: EmulatorFixture, uid: str) -> list[dict[str, Any]]:
    return [g for g in eci.admin.groups() if group_tags(g).get("acr-eci-operator/uid") == uid]


def prove_lifecycle(cluster: Cluster, eci: EmulatorFixture, operator: OperatorProcess) -> None:
    """Create → Running + Synced, with both Secrets read and the namespace's credentials Secret served
    from; Events posted; delete → group and finalizer gone."""
    suffix = uuid.uuid4().hex[:8]
    api_key = f"api-key-{suffix}"
    objects, name = registry_credentials_resource(suffix, api_key)
    team_key = f"LTAI5tTeam{suffix}"
    eci.admin.add_access_key(team_key, f"team-secret-{suffix}")
    team_credentials = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "acr-eci-credentials"},
        "stringData": {"accessKeyId": team_key, "accessKeySecret": f"team-secret-{suffix}"},
    }
    objects = [team_credentials, *objects]
    created: dict[str, Any] = {}
    try:
        for body in objects:
            created = cluster.apply(body)
        uid = created["metadata"]["uid"]

        wait_for(lambda: cluster.status(name).get("phase") == "Running", timeout=60, what=f"{name} Running")
        wait_for(lambda: cluster.condition(name, "Synced").get("status") == "True", what=f"{name} Synced")
        assert FINALIZER in (cluster.get(name) or {})["metadata"]["finalizers"]

        (group,) = groups_for(eci, uid)
        assert group["ContainerGroupId"] == cluster.status(name)["containerGroupId"]
        assert group_tags(group)["acr-eci-operator/namespace"] == cluster.namespace
        (create,) = [
            r
            for r in eci.admin.requests("CreateContainerGroup")
            if r["parameters"].get("ClientToken", "").startswith(uid)
        ]
        parameters = create["parameters"]
        # Made with the namespace's own account, read from its acr-eci-credentials Secret.
        assert create["access_key_id"] == team_key
        # The env var's value came from a Secret the operator read with its own identity.
        assert parameters["Container.1.EnvironmentVar.1.Key"] == "API_KEY"
        assert parameters["Container.1.EnvironmentVar.1.Value"] == api_key
        # The registry password came from the other Secret: the emulator only pulls registry.example.com
        # with bob's right password (it redacts passwords in its log, so Running is the proof).
        assert parameters["ImageRegistryCredential.1.Server"] == "registry.example.com"
        assert parameters["ImageRegistryCredential.1.UserName"] == "bob"
        assert "ImageRegistryCredential.1.Password" in parameters

        group_id = group["ContainerGroupId"]
        created_event = wait_for(
            lambda: [
                e for e in cluster.events(name) if e.reason == "Created" and group_id in (e.message or "")
            ],
            what=f"the operator's Created Event on {name}",
        )
        assert created_event[0].type == "Normal"

        cluster.delete(name)
        wait_for(lambda: cluster.get(name) is None, timeout=60, what=f"{name} gone (finalizer removed)")
        wait_for(lambda: groups_for(eci, uid) == [], what="the group deleted at the emulator")
        (delete,) = [
            r
            for r in eci.admin.requests("DeleteContainerGroup")
            if r["parameters"].get("ContainerGroupId") == group["ContainerGroupId"]
        ]
        assert (delete["http_status"], delete["access_key_id"]) == (200, team_key)
    finally:
        remove_leftovers(cluster, objects)

    lines = operator.log().splitlines()
    forbidden_lines = [line for line in lines if FORBIDDEN_IN_LOG.search(LOG_TIMESTAMP.sub("", line))]
    assert forbidden_lines == []


def remove_leftovers(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    """As admin: drop what a failed test left behind (a stuck finalizer included), and the Secrets."""
    for body in objects:
        name = body["metadata"]["name"]
        try:
            if body["kind"] == "Secret":
                cluster.core.delete_namespaced_secret(name, cluster.namespace)
            elif cluster.get(name) is not None:
                cluster.patch(name, {"metadata": {"finalizers": None}})
                cluster.delete(name)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture
def operator_as(
    operator_env: dict[str, str], control_plane: ControlPlane, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start `acr-eci-operator run --standalone SCOPE...` with a kubeconfig holding only the given token."""
    started: list[OperatorProcess] = []

    def start(token: str, *scope: str) -> OperatorProcess:
        kubeconfig = control_plane.kubeconfig_for(token, tmp_path / f"operator-{token}.kubeconfig")
        process = OperatorProcess(
            [OPERATOR_BIN, "run", "--standalone", *scope],
            {**operator_env, "KUBECONFIG": str(kubeconfig)},
            tmp_path / f"operator-{token}.log",
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def shared_namespaces(kube_api: client.ApiClient) -> Iterator[None]:
    """team-a (the namespaced ServiceAccount's) and team-b (out of its scope), for this module only."""
    core = client.CoreV1Api(kube_api)
    for namespace in (TEAM_A, TEAM_B):
        ensure_namespace(core, namespace)
    yield
    for namespace in (TEAM_A, TEAM_B):
        purge_namespace(kube_api, namespace)


@pytest.fixture
def admin_secret(kube_api: client.ApiClient) -> Iterator[Callable[[str], str]]:
    """Create a Secret as admin in a namespace; deleted at teardown. Returns its name."""
    core = client.CoreV1Api(kube_api)
    made: list[tuple[str, str]] = []

    def make(namespace: str) -> str:
        name = f"not-for-the-operator-{uuid.uuid4().hex[:8]}"
        core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "stringData": {"key": "value"}})
        made.append((namespace, name))
        return name

    yield make
    for namespace, name in made:
        core.delete_namespaced_secret(name, namespace)


# --- all namespaces: one ClusterRole --------------------------------------------------------------


@pytest.fixture
def all_namespaces_rbac(render_chart: Render, apply_rbac: ApplyRbac) -> list[dict[str, Any]]:
    namespace, _ = ALL_NAMESPACES_SA
    objects = rbac_objects(render_chart(namespace), namespace)
    assert sorted(o["kind"] for o in objects) == ["ClusterRole", "ClusterRoleBinding"]
    apply_rbac(objects, OPERATOR_SERVICE_ACCOUNT.token)
    return objects


def test_all_namespaces_lifecycle_as_the_service_account(
    all_namespaces_rbac: list[dict[str, Any]],
    cluster: Cluster,
    eci_emulator: EmulatorFixture,
    operator_as: Callable[..., OperatorProcess],
) -> None:
    operator = operator_as(OPERATOR_SERVICE_ACCOUNT.token, "--all-namespaces")
    prove_lifecycle(cluster, eci_emulator, operator)


def test_all_namespaces_identity_holds_exactly_its_rules_and_nothing_else(
    all_namespaces_rbac: list[dict[str, Any]],
    cluster: Cluster,
    identity_client: IdentityClient,
    admin_secret: Callable[[str], str],
) -> None:
    ns = cluster.namespace
    identity = identity_client(OPERATOR_SERVICE_ACCOUNT.token)
    core, rbac = client.CoreV1Api(identity), client.RbacAuthorizationV1Api(identity)
    custom = client.CustomObjectsApi(identity)
    extensions = client.ApiextensionsV1Api(identity)
    admin_core = cluster.core
    secret = admin_secret(ns)
    admin_core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"k": "v"}})

    assert granted_rules(identity, ns) == CRD_READ | PER_NAMESPACE
    assert granted_rules(identity, "default") == CRD_READ | PER_NAMESPACE

    # Granted: reading and watching Secrets and ConfigMaps (what secretKeyRef, passwordSecretRef, envFrom
    # and config-file volumes read, watched so a change reaches ECI).
    assert status_of(lambda: core.read_namespaced_secret(secret, ns)) == 200
    assert status_of(lambda: core.list_namespaced_config_map(ns)) == 200
    assert status_of(lambda: custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)) == 200

    current = core.read_namespaced_secret(secret, ns)
    new_secret = {"metadata": {"name": "planted"}, "stringData": {"k": "v"}}
    escalate = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}
    admin_binding = {
        "metadata": {"name": "escalate"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": ALL_NAMESPACES_SA[0]}],
    }
    acg_body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AcrContainerGroup",
        "metadata": {"name": "planted"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }
    pod = {"metadata": {"name": "planted"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    assert (
        not_forbidden(
            {
                "create a secret": lambda: core.create_namespaced_secret(ns, new_secret),
                "update a secret": lambda: core.replace_namespaced_secret(secret, ns, current),
                "patch a secret": lambda: core.patch_namespaced_secret(secret, ns, {"data": {"x": "eA=="}}),
                "delete a secret": lambda: core.delete_namespaced_secret(secret, ns),
                "delete all secrets": lambda: core.delete_collection_namespaced_secret(ns),
                "create a configmap": lambda: core.create_namespaced_config_map(
                    ns, {"metadata": {"name": "planted"}}
                ),
                "patch a configmap": lambda: core.patch_namespaced_config_map(
                    "settings", ns, {"data": {"k": "changed"}}
                ),
                "create a pod": lambda: core.create_namespaced_pod(ns, pod),
                "list pods": lambda: core.list_namespaced_pod(ns),
                "create a namespace": lambda: core.create_namespace({"metadata": {"name": "planted"}}),
                "delete a namespace": lambda: core.delete_namespace(ns),
                "list namespaces": lambda: core.list_namespace(),
                "create a serviceaccount": lambda: core.create_namespaced_service_account(
                    ns, {"metadata": {"name": "planted"}}
                ),
                "list clusterroles": lambda: rbac.list_cluster_role(),
                "read its own clusterrole": lambda: rbac.read_cluster_role(SA_NAME),
                "widen its own clusterrole": lambda: rbac.patch_cluster_role(SA_NAME, escalate),
                "delete its own clusterrolebinding": lambda: rbac.delete_cluster_role_binding(SA_NAME),
                "bind cluster-admin": lambda: rbac.create_cluster_role_binding(admin_binding),
                "create a role": lambda: rbac.create_namespaced_role(
                    ns, {"metadata": {"name": "planted"}, **escalate}
                ),
                "create a rolebinding": lambda: rbac.create_namespaced_role_binding(ns, admin_binding),
                "create an AcrContainerGroup": lambda: custom.create_namespaced_custom_object(
                    GROUP, VERSION, ns, PLURAL, acg_body
                ),
                "delete AcrContainerGroups": lambda: custom.delete_collection_namespaced_custom_object(
                    GROUP, VERSION, ns, PLURAL
                ),
                "delete the CRD": lambda: extensions.delete_custom_resource_definition(f"{PLURAL}.{GROUP}"),
                "patch the CRD": lambda: extensions.patch_custom_resource_definition(
                    f"{PLURAL}.{GROUP}", {"metadata": {"labels": {"x": "y"}}}
                ),
            }
        )
        == {}
    )
    assert not can(identity, "impersonate", "users")
    assert not can(identity, "impersonate", "serviceaccounts", namespace=ns)
    # Nothing was planted or removed by the calls above.
    assert admin_core.read_namespaced_secret(secret, ns).data == current.data
    admin_core.delete_namespaced_config_map("settings", ns)


# --- a list of namespaces: a Role and RoleBinding in each -----------------------------------------


@pytest.fixture
def team_a_rbac(render_chart: Render, apply_rbac: ApplyRbac, shared_namespaces: None) -> list[dict[str, Any]]:
    # NAMESPACED_SERVICE_ACCOUNT is team-a/acr-eci-operator: released into team-a, serving team-a.
    objects = rbac_objects(render_chart(TEAM_A, f"watchNamespaces={{{TEAM_A}}}"), TEAM_A)
    kinds = sorted((o["kind"], o["metadata"].get("namespace")) for o in objects)
    assert kinds == [
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Role", TEAM_A),
        ("RoleBinding", TEAM_A),
    ]
    apply_rbac(objects, NAMESPACED_SERVICE_ACCOUNT.token)
    return objects


def test_namespace_list_lifecycle_as_the_service_account(
    team_a_rbac: list[dict[str, Any]],
    kube_api: client.ApiClient,
    eci_emulator: EmulatorFixture,
    operator_as: Callable[..., OperatorProcess],
) -> None:
    operator = operator_as(NAMESPACED_SERVICE_ACCOUNT.token, "--namespace", TEAM_A)
    prove_lifecycle(Cluster(kube_api, TEAM_A), eci_emulator, operator)


def test_namespace_list_identity_is_confined_to_its_namespaces(
    team_a_rbac: list[dict[str, Any]],
    kube_api: client.ApiClient,
    identity_client: IdentityClient,
    admin_secret: Callable[[str], str],
) -> None:
    identity = identity_client(NAMESPACED_SERVICE_ACCOUNT.token)
    core, rbac = client.CoreV1Api(identity), client.RbacAuthorizationV1Api(identity)
    custom = client.CustomObjectsApi(identity)
    own_secret, team_b_secret, default_secret = (
        admin_secret(TEAM_A),
        admin_secret(TEAM_B),
        admin_secret("default"),
    )
    outsider = Cluster(kube_api, TEAM_B)
    outsider_name = f"outsider-{uuid.uuid4().hex[:8]}"
    outsider.apply(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AcrContainerGroup",
            "metadata": {"name": outsider_name},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
        }
    )
    try:
        assert granted_rules(identity, TEAM_A) == CRD_READ | NAMESPACE_WATCH | PER_NAMESPACE
        assert granted_rules(identity, TEAM_B) == CRD_READ | NAMESPACE_WATCH
        assert granted_rules(identity, "default") == CRD_READ | NAMESPACE_WATCH

        assert status_of(lambda: core.read_namespaced_secret(own_secret, TEAM_A)) == 200
        assert status_of(lambda: custom.list_namespaced_custom_object(GROUP, VERSION, TEAM_A, PLURAL)) == 200

        patch = {"metadata": {"labels": {"x": "y"}}}
        assert (
            not_forbidden(
                {
                    "read a secret in team-b": lambda: core.read_namespaced_secret(team_b_secret, TEAM_B),
                    "read a secret in default": lambda: core.read_namespaced_secret(
                        default_secret, "default"
                    ),
                    "list secrets in team-b": lambda: core.list_namespaced_secret(TEAM_B),
                    "list configmaps in team-b": lambda: core.list_namespaced_config_map(TEAM_B),
                    "create a secret in team-a": lambda: core.create_namespaced_secret(
                        TEAM_A, {"metadata": {"name": "planted"}, "stringData": {"k": "v"}}
                    ),
                    "delete a secret in team-a": lambda: core.delete_namespaced_secret(own_secret, TEAM_A),
                    "list AcrContainerGroups in team-b": lambda: custom.list_namespaced_custom_object(
                        GROUP, VERSION, TEAM_B, PLURAL
                    ),
                    "list AcrContainerGroups in all namespaces": lambda: custom.list_cluster_custom_object(
                        GROUP, VERSION, PLURAL
                    ),
                    "read an AcrContainerGroup in team-b": lambda: custom.get_namespaced_custom_object(
                        GROUP, VERSION, TEAM_B, PLURAL, outsider_name
                    ),
                    "patch an AcrContainerGroup in team-b": lambda: custom.patch_namespaced_custom_object(
                        GROUP, VERSION, TEAM_B, PLURAL, outsider_name, patch
                    ),
                    "patch the status of one in team-b": lambda: custom.patch_namespaced_custom_object_status(
                        GROUP, VERSION, TEAM_B, PLURAL, outsider_name, {"status": {"phase": "Failed"}}
                    ),
                    "post an event in team-b": lambda: core.create_namespaced_event(
                        TEAM_B,
                        {
                            "metadata": {"name": "planted"},
                            "involvedObject": {"kind": "AcrContainerGroup", "name": outsider_name},
                        },
                    ),
                    "delete namespace team-a": lambda: core.delete_namespace(TEAM_A),
                    "delete namespace team-b": lambda: core.delete_namespace(TEAM_B),
                    "create a configmap in team-a": lambda: core.create_namespaced_config_map(
                        TEAM_A, {"metadata": {"name": "planted"}}
                    ),
                    "create a pod in team-a": lambda: core.create_namespaced_pod(
                        TEAM_A,
                        {
                            "metadata": {"name": "planted"},
                            "spec": {"containers": [{"name": "c", "image": "x"}]},
                        },
                    ),
                    "read its own role": lambda: rbac.read_namespaced_role(SA_NAME, TEAM_A),
                    "widen its own role": lambda: rbac.patch_namespaced_role(
                        SA_NAME,
                        TEAM_A,
                        {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]},
                    ),
                    "create a rolebinding in team-b": lambda: rbac.create_namespaced_role_binding(
                        TEAM_B,
                        {
                            "metadata": {"name": "planted"},
                            "roleRef": {
                                "apiGroup": "rbac.authorization.k8s.io",
                                "kind": "Role",
                                "name": SA_NAME,
                            },
                            "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": TEAM_A}],
                        },
                    ),
                }
            )
            == {}
        )
        assert client.CoreV1Api(kube_api).read_namespaced_secret(own_secret, TEAM_A).data is not None
    finally:
        outsider.delete(outsider_name)
