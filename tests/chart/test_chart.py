"""The Helm chart, rendered by the real helm binary and checked object by object."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from acr_eci_operator.credentials import (
    KIND_ACCESS_KEY_FILES,
    KIND_OIDC_ROLE,
    KIND_RAM_ROLE,
    CredentialValues,
    credentials_from_env,
    source_from_env,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "acr-eci-operator"
CRD_FILE = "acrcontainergroups.eci.acr-operator.dev.yaml"
RELEASE_NAMESPACE = "acr-eci-system"  # as the template fixture renders it
FULLNAME = "rel-acr-eci-operator"
CREDENTIAL_ENV = {"ACR_ECI_CREDENTIALS_DIR"}
"""By default the credentials are the Secret's keys as files, in the directory this variable names."""
SETTING_ENV = {
    "ALIBABA_CLOUD_REGION_ID",
    "ECI_ENDPOINT",
    "ECI_DEFAULT_SECURITY_GROUP_ID",
    "ECI_DEFAULT_VSWITCH_IDS",
    "ECI_POLL_INTERVAL_SECONDS",
    "ECI_STATUS_POLL_INTERVAL_SECONDS",
    "ECI_MUTATE_RATE_PER_SECOND",
    "ECI_MUTATE_BURST",
    "ECI_DESCRIBE_RATE_PER_SECOND",
    "ECI_DESCRIBE_BURST",
    "ECI_RATE_LIMITS",
    "ACR_ECI_LOG_FORMAT",
    "ACR_ECI_LOG_LEVEL",
    "ACR_ECI_WATCH_SECRETS",
}
FULL_VALUES: dict[str, Any] = {
    "region": "cn-beijing",
    "eci": {
        "endpoint": "http://eci-emulator.test:8085",
        "defaultSecurityGroupId": "sg-2ze0example",
        "defaultVSwitchIds": ["vsw-2zea", "vsw-2zeb"],
        "pollIntervalSeconds": 30,
        "statusPollIntervalSeconds": 1.5,
        "rateLimits": {
            "mutatePerSecond": 8,
            "mutateBurst": 50,
            "describePerSecond": 0.5,
            "describeBurst": 10,
            "actions": "CreateContainerGroup=10/50",
        },
    },
    "log": {"format": "json", "level": "DEBUG"},
    "requireNamespaceCredentials": True,
}
NAMESPACES = ["team-a", "team-b"]

Manifest = list[dict[str, Any]]
Template = Callable[..., Manifest]
HelmRun = Callable[..., subprocess.CompletedProcess[str]]
ValuesWriter = Callable[[dict[str, Any]], Path]


def find(manifest: Manifest, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in manifest if obj["kind"] == kind]


def only(manifest: Manifest, kind: str) -> dict[str, Any]:
    objects = find(manifest, kind)
    assert len(objects) == 1, f"expected one {kind}, got {len(objects)}"
    return objects[0]


def operator_container(manifest: Manifest) -> dict[str, Any]:
    containers = only(manifest, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def env_of(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in operator_container(manifest)["env"]}


def rules_of(manifest: Manifest, kind: str) -> list[dict[str, Any]]:
    return [rule for role in find(manifest, kind) for rule in role["rules"]]


def grants(rules: list[dict[str, Any]], resource: str) -> set[str]:
    return {verb for rule in rules if resource in rule["resources"] for verb in rule["verbs"]}


# -- lint --------------------------------------------------------------------------------------------


def test_lint_strict_with_default_values(run_helm: HelmRun) -> None:
    result = run_helm("lint", "--strict", CHART_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_strict_with_a_namespace_list_and_peering(run_helm: HelmRun, write_values: ValuesWriter) -> None:
    values = write_values({**FULL_VALUES, "watchNamespaces": NAMESPACES, "replicas": 2})
    result = run_helm("lint", "--strict", CHART_DIR, "-f", values)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the pod -----------------------------------------------------------------------------------------


def test_pod_runs_non_root_read_only_without_privileges(template: Template) -> None:
    manifest = template()
    pod = only(manifest, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(manifest)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security.get("privileged", False) is False
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    assert pod["serviceAccountName"] == FULLNAME


def test_probes_hit_kopf_health_endpoint(template: Template) -> None:
    container = operator_container(template())
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    args = container["args"]
    assert args[args.index("--liveness") + 1] == "http://0.0.0.0:8080/healthz"


def test_image_defaults_to_app_version_and_can_be_overridden(template: Template) -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == "0.1.0"
    assert operator_container(template())["image"] == "acr-eci-operator:0.1.0"
    custom = template({"image": {"repository": "registry.example.com/ops/acr-eci-operator", "tag": "v9"}})
    assert operator_container(custom)["image"] == "registry.example.com/ops/acr-eci-operator:v9"


def test_scheduling_values_reach_the_pod(template: Template) -> None:
    values = {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "podAnnotations": {"example.com/team": "platform"},
        "priorityClassName": "system-cluster-critical",
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
    }
    manifest = template(values)
    pod_template = only(manifest, "Deployment")["spec"]["template"]
    pod = pod_template["spec"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod_template["metadata"]["annotations"] == values["podAnnotations"]
    assert operator_container(manifest)["resources"] == values["resources"]


# -- settings and credentials ------------------------------------------------------------------------


def test_env_names_and_values_follow_the_operator_settings(template: Template) -> None:
    env = env_of(template(FULL_VALUES))
    assert set(env) == CREDENTIAL_ENV | SETTING_ENV | {"POD_ID"}
    values = {name: entry.get("value") for name, entry in env.items()}
    assert values["ALIBABA_CLOUD_REGION_ID"] == "cn-beijing"
    assert values["ECI_ENDPOINT"] == "http://eci-emulator.test:8085"
    assert values["ECI_DEFAULT_SECURITY_GROUP_ID"] == "sg-2ze0example"
    assert values["ECI_DEFAULT_VSWITCH_IDS"] == "vsw-2zea,vsw-2zeb"
    assert values["ECI_POLL_INTERVAL_SECONDS"] == "30"
    assert values["ECI_STATUS_POLL_INTERVAL_SECONDS"] == "1.5"
    assert values["ECI_MUTATE_RATE_PER_SECOND"] == "8"
    assert values["ECI_MUTATE_BURST"] == "50"
    assert values["ECI_DESCRIBE_RATE_PER_SECOND"] == "0.5"
    assert values["ECI_DESCRIBE_BURST"] == "10"
    assert values["ECI_RATE_LIMITS"] == "CreateContainerGroup=10/50"
    assert values["ACR_ECI_LOG_FORMAT"] == "json"
    assert values["ACR_ECI_LOG_LEVEL"] == "DEBUG"
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_defaults_match_the_operator_defaults_and_leave_optional_settings_out(template: Template) -> None:
    env = env_of(template())
    assert {name: entry.get("value") for name, entry in env.items() if name in SETTING_ENV} == {
        "ECI_POLL_INTERVAL_SECONDS": "60",
        "ECI_STATUS_POLL_INTERVAL_SECONDS": "2.5",
        "ACR_ECI_LOG_FORMAT": "text",
        "ACR_ECI_LOG_LEVEL": "INFO",
        "ACR_ECI_WATCH_SECRETS": "true",
    }


def volume(manifest: Manifest, name: str) -> dict[str, Any]:
    volumes = only(manifest, "Deployment")["spec"]["template"]["spec"]["volumes"]
    (found,) = [entry for entry in volumes if entry["name"] == name]
    return found  # type: ignore[no-any-return]


def mounts_of(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {mount["name"]: mount for mount in operator_container(manifest)["volumeMounts"]}


def project(manifest: Manifest, secrets: dict[str, dict[str, str]], root: Path) -> dict[str, str]:
    """Do what the kubelet does with the credentials volume (a projected volume of Secret sources, an
    optional one's missing keys skipped) into `root`; return the operator's environment with the
    directory variable pointing there."""
    mount = mounts_of(manifest)["credentials"]
    for source in volume(manifest, "credentials")["projected"]["sources"]:
        data = secrets.get(source["secret"]["name"])
        optional = source["secret"].get("optional", False)
        assert data is not None or optional, (
            f"Secret {source['secret']['name']} is missing: the pod would not start"
        )
        for item in source["secret"]["items"]:
            if item["key"] not in (data or {}):
                assert optional, f"key {item['key']} is missing: the pod would not start"
                continue
            (root / item["path"]).write_text((data or {})[item["key"]])
    env = {name: entry["value"] for name, entry in env_of(manifest).items() if "value" in entry}
    assert env["ACR_ECI_CREDENTIALS_DIR"] == mount["mountPath"] and mount["readOnly"] is True
    return {**env, "ACR_ECI_CREDENTIALS_DIR": str(root)}


@pytest.mark.parametrize(
    "values",
    [{}, {"credentials": {"accessKeyId": "LTAI5tExampleKeyId", "accessKeySecret": "example-secret-value"}}],
    ids=["existing-secret", "inline-credentials"],
)
def test_credentials_are_the_secret_mounted_as_files_never_env(
    template: Template, values: dict[str, Any], tmp_path: Path
) -> None:
    manifest = template(values)
    env = env_of(manifest)
    assert not {
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
    } & set(env)
    assert not any("secretKeyRef" in (entry.get("valueFrom") or {}) for entry in env.values())
    sources = volume(manifest, "credentials")["projected"]["sources"]
    assert [source["secret"]["name"] for source in sources] == [f"{FULLNAME}-credentials"] * 2
    secret = {"accessKeyId": "LTAI-one", "accessKeySecret": "secret-one"}
    operator_env = project(manifest, {f"{FULLNAME}-credentials": secret}, tmp_path)
    # The operator reads exactly these files: an AccessKey, no token (the optional key is absent).
    credentials = credentials_from_env(operator_env)
    assert credentials.kind == KIND_ACCESS_KEY_FILES
    assert credentials.current() == CredentialValues("LTAI-one", "secret-one")


def test_an_upgraded_release_with_env_from_secret_values_renders_a_working_setup(
    template: Template, tmp_path: Path
) -> None:
    # The values of a release made before the Secret was mounted as files (env from secretKeyRef): an
    # existing Secret with its own key names, an STS token among them.
    previous = {
        "region": "cn-beijing",
        "credentials": {
            "existingSecret": "alibaba-cloud",
            "keys": {"accessKeyId": "id", "accessKeySecret": "secret", "securityToken": "sts"},
        },
    }
    manifest = template(previous)
    assert find(manifest, "Secret") == []
    secret = {"id": "STS.key", "secret": "key-secret", "sts": "the-token"}
    operator_env = project(manifest, {"alibaba-cloud": secret}, tmp_path)
    credentials = credentials_from_env(operator_env)
    assert credentials.current() == CredentialValues("STS.key", "key-secret", "the-token")


def test_a_role_assumed_with_the_access_key(template: Template, tmp_path: Path) -> None:
    role = "acs:ram::1234567890123456:role/eci-operator"
    manifest = template(
        {
            "credentials": {
                "roleArn": role,
                "roleSessionName": "op",
                "stsEndpoint": "sts-vpc.cn-beijing.aliyuncs.com",
            }
        }
    )
    secret = {"accessKeyId": "LTAI-one", "accessKeySecret": "secret-one"}
    operator_env = project(manifest, {f"{FULLNAME}-credentials": secret}, tmp_path)
    source = source_from_env(operator_env)
    assert (source.kind, source.role_arn, source.role_session_name) == (KIND_RAM_ROLE, role, "op")
    assert source.sts_endpoint.host == "sts-vpc.cn-beijing.aliyuncs.com"
    assert source.base is not None and source.base.kind == KIND_ACCESS_KEY_FILES


RRSA_ROLE = "acs:ram::1234567890123456:role/eci-operator"
RRSA_PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee"


def test_rrsa_with_the_charts_own_projected_token(template: Template) -> None:
    manifest = template(
        {
            "credentials": {
                "source": "rrsa",
                "rrsa": {
                    "roleArn": RRSA_ROLE,
                    "oidcProviderArn": RRSA_PROVIDER,
                    "tokenExpirationSeconds": 7200,
                },
                "stsEndpoint": "sts-vpc.cn-beijing.aliyuncs.com",
            }
        }
    )
    (token,) = volume(manifest, "rrsa-token")["projected"]["sources"]
    assert token == {
        "serviceAccountToken": {"audience": "sts.aliyuncs.com", "expirationSeconds": 7200, "path": "token"}
    }
    mount = mounts_of(manifest)["rrsa-token"]
    assert mount["readOnly"] is True and "credentials" not in mounts_of(manifest)
    env = {name: entry["value"] for name, entry in env_of(manifest).items() if "value" in entry}
    assert "ACR_ECI_CREDENTIALS_DIR" not in env
    source = source_from_env(env)
    assert (source.kind, source.role_arn, source.oidc_provider_arn) == (
        KIND_OIDC_ROLE,
        RRSA_ROLE,
        RRSA_PROVIDER,
    )
    assert source.oidc_token_file == f"{mount['mountPath']}/token"
    assert source.sts_endpoint.host == "sts-vpc.cn-beijing.aliyuncs.com"
    assert find(manifest, "Secret") == []
    assert "annotations" not in only(manifest, "ServiceAccount")["metadata"]


def test_rrsa_through_acks_pod_identity_webhook(template: Template) -> None:
    manifest = template(
        {
            "credentials": {"source": "rrsa", "rrsa": {"roleName": "eci-operator"}},
            "serviceAccount": {"annotations": {"team": "platform"}},
        }
    )
    annotations = only(manifest, "ServiceAccount")["metadata"]["annotations"]
    assert annotations == {"team": "platform", "pod-identity.alibabacloud.com/role-name": "eci-operator"}
    # The webhook injects the token and the variables: the chart adds none, and mounts no Secret.
    assert set(mounts_of(manifest)) == {"tmp"}
    assert not {
        name for name in env_of(manifest) if name.startswith("ALIBABA_CLOUD_") and "REGION" not in name
    }
    assert "ACR_ECI_CREDENTIALS_DIR" not in env_of(manifest)


def test_changed_inline_credentials_do_not_roll_the_pods(template: Template) -> None:
    def pod_annotations(values: dict[str, Any]) -> dict[str, str]:
        deployment = only(template(values), "Deployment")
        return dict(deployment["spec"]["template"]["metadata"].get("annotations") or {})

    # The files follow the Secret: no checksum that would restart the operator.
    assert pod_annotations({"credentials": {"accessKeyId": "LTAI-a", "accessKeySecret": "secret-a"}}) == {}
    assert pod_annotations({"podAnnotations": {"team": "x"}}) == {"team": "x"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"credentials": {"accessKeyId": "LTAI5tExampleKeyId"}}, "must be given together"),
        (
            {"credentials": {"existingSecret": "s", "accessKeyId": "a", "accessKeySecret": "b"}},
            "not both",
        ),
        ({"credentials": {"source": "rrsa"}}, "credentials.source=rrsa needs"),
        (
            {"credentials": {"source": "rrsa", "rrsa": {"roleArn": RRSA_ROLE}}},
            "credentials.source=rrsa needs",
        ),
        (
            {"credentials": {"source": "rrsa", "rrsa": {"roleName": "r", "roleArn": RRSA_ROLE}}},
            "not both",
        ),
        (
            {"credentials": {"source": "rrsa", "rrsa": {"roleName": "r"}, "existingSecret": "s"}},
            "uses no Secret",
        ),
        (
            {
                "credentials": {"source": "rrsa", "rrsa": {"roleName": "r"}},
                "serviceAccount": {"create": False, "name": "x"},
            },
            "annotate your own ServiceAccount",
        ),
        ({"credentials": {"source": "vault"}}, "/credentials/source"),
        ({"credentials": {"roleArn": "eci-operator"}}, "/credentials/roleArn"),
    ],
)
def test_inconsistent_credentials_are_refused(
    run_helm: HelmRun, write_values: ValuesWriter, values: dict[str, Any], message: str
) -> None:
    result = run_helm("template", "rel", CHART_DIR, "-f", write_values(values))
    assert result.returncode != 0
    assert message in result.stderr


# -- watch scope and RBAC ----------------------------------------------------------------------------

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "all-namespaces-peering": {"replicas": 3},
    "namespace-list": {"watchNamespaces": NAMESPACES},
    "namespace-list-peering": {"watchNamespaces": NAMESPACES, "replicas": 2},
}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rbac_has_no_wildcards(template: Template, values: dict[str, Any]) -> None:
    manifest = template(values)
    for kind in ("ClusterRole", "Role"):
        for rule in rules_of(manifest, kind):
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert not any("*" in item for item in rule.get(field, [])), f"{kind} rule {rule}"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rbac_binds_the_operator_service_account(template: Template, values: dict[str, Any]) -> None:
    manifest = template(values)
    service_account = only(manifest, "ServiceAccount")
    assert service_account["metadata"] == {**service_account["metadata"], "name": FULLNAME}
    bindings = find(manifest, "ClusterRoleBinding") + find(manifest, "RoleBinding")
    assert bindings
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NAMESPACE}
        ]


def test_all_namespaces_scope(template: Template) -> None:
    manifest = template()
    args = operator_container(manifest)["args"]
    assert args == [
        "--all-namespaces", "--standalone", "--liveness", "http://0.0.0.0:8080/healthz",
        "--metrics-address", "0.0.0.0:8081",
    ]  # fmt: skip
    assert find(manifest, "Role") == [] and find(manifest, "RoleBinding") == []
    rules = rules_of(manifest, "ClusterRole")
    assert grants(rules, "acrcontainergroups") == {"get", "list", "watch", "patch"}
    assert grants(rules, "acrcontainergroups/status") == {"patch"}
    assert grants(rules, "acrcontainergroups/finalizers") == set()
    assert grants(rules, "secrets") == {"get", "list", "watch"}
    assert grants(rules, "configmaps") == {"get", "list", "watch"}
    assert grants(rules, "events") == {"create"}
    assert grants(rules, "customresourcedefinitions") == {"list", "watch"}
    assert grants(rules, "namespaces") == set()
    event_groups = {group for rule in rules if "events" in rule["resources"] for group in rule["apiGroups"]}
    assert event_groups == {""}


def test_namespace_list_scope_uses_roles_per_namespace(template: Template) -> None:
    manifest = template({"watchNamespaces": NAMESPACES})
    args = operator_container(manifest)["args"]
    assert args == [
        "--namespace", "team-a", "--namespace", "team-b", "--standalone",
        "--liveness", "http://0.0.0.0:8080/healthz", "--metrics-address", "0.0.0.0:8081",
    ]  # fmt: skip
    roles = {role["metadata"]["namespace"]: role for role in find(manifest, "Role")}
    bindings = {binding["metadata"]["namespace"]: binding for binding in find(manifest, "RoleBinding")}
    assert set(roles) == set(bindings) == set(NAMESPACES)
    for namespace in NAMESPACES:
        rules = roles[namespace]["rules"]
        assert grants(rules, "acrcontainergroups") == {"get", "list", "watch", "patch"}
        assert grants(rules, "acrcontainergroups/status") == {"patch"}
        assert grants(rules, "secrets") == {"get", "list", "watch"}
        assert grants(rules, "configmaps") == {"get", "list", "watch"}
        assert bindings[namespace]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": roles[namespace]["metadata"]["name"],
        }
    cluster_rules = rules_of(manifest, "ClusterRole")
    assert {resource for rule in cluster_rules for resource in rule["resources"]} == {
        "customresourcedefinitions",
        "namespaces",
    }
    assert grants(cluster_rules, "namespaces") == {"list", "watch"}
    assert grants(cluster_rules, "secrets") == set()
    assert grants(cluster_rules, "configmaps") == set()


def test_secrets_read_by_name_only_without_the_secret_watch(template: Template) -> None:
    manifest = template({"watchSecrets": False})
    rules = rules_of(manifest, "ClusterRole")
    assert grants(rules, "secrets") == {"get"}
    assert grants(rules, "configmaps") == {"get", "list", "watch"}
    env = {item["name"]: item.get("value") for item in operator_container(manifest)["env"]}
    assert env["ACR_ECI_WATCH_SECRETS"] == "false"
    assert {item["name"]: item.get("value") for item in operator_container(template())["env"]}[
        "ACR_ECI_WATCH_SECRETS"
    ] == "true"


def test_no_peering_with_one_replica(template: Template) -> None:
    for values in ({}, {"watchNamespaces": NAMESPACES}):
        manifest = template(values)
        kinds = {obj["kind"] for obj in manifest}
        assert not kinds & {"ClusterKopfPeering", "KopfPeering", "CustomResourceDefinition"}
        rules = rules_of(manifest, "ClusterRole") + rules_of(manifest, "Role")
        assert all("kopf.dev" not in rule["apiGroups"] for rule in rules)
        deployment = only(manifest, "Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        args = operator_container(manifest)["args"]
        assert "--standalone" in args and "--peering" not in args


def test_peering_cluster_wide_with_several_replicas(template: Template) -> None:
    manifest = template({"replicas": 3})
    peering = only(manifest, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert peering["metadata"]["name"] == FULLNAME
    assert find(manifest, "KopfPeering") == []
    args = operator_container(manifest)["args"]
    assert "--standalone" not in args
    assert args[args.index("--peering") + 1] == FULLNAME
    assert only(manifest, "Deployment")["spec"]["replicas"] == 3
    rules = [rule for rule in rules_of(manifest, "ClusterRole") if "kopf.dev" in rule["apiGroups"]]
    assert rules == [
        {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"], "verbs": ["list", "watch"]},
        {
            "apiGroups": ["kopf.dev"],
            "resources": ["clusterkopfpeerings"],
            "resourceNames": [FULLNAME],
            "verbs": ["get", "patch"],
        },
    ]


def test_peering_per_namespace_with_several_replicas(template: Template) -> None:
    manifest = template({"replicas": 2, "watchNamespaces": NAMESPACES, "peering": {"name": "acr-eci"}})
    peerings = find(manifest, "KopfPeering")
    assert sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings) == [
        ("team-a", "acr-eci"),
        ("team-b", "acr-eci"),
    ]
    assert find(manifest, "ClusterKopfPeering") == []
    args = operator_container(manifest)["args"]
    assert args[args.index("--peering") + 1] == "acr-eci"
    for role in find(manifest, "Role"):
        assert grants(role["rules"], "kopfpeerings") == {"get", "list", "watch", "patch"}
    assert all("kopf.dev" not in rule["apiGroups"] for rule in rules_of(manifest, "ClusterRole"))


# -- the operator accepts what the chart renders ----------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_operator_cli_parses_the_rendered_args(template: Template, values: dict[str, Any]) -> None:
    from acr_eci_operator.cli import build_parser

    manifest = template(values)
    container = operator_container(manifest)
    assert "command" not in container, "the image's ENTRYPOINT is `acr-eci-operator run`"
    args = build_parser().parse_args(["run", *container["args"]])
    assert args.namespace == values.get("watchNamespaces", [])
    assert args.all_namespaces is not bool(values.get("watchNamespaces"))
    assert args.standalone is (values.get("replicas", 1) == 1)
    assert args.peering == (FULLNAME if values.get("replicas", 1) > 1 else None)
    assert args.liveness == "http://0.0.0.0:8080/healthz"
    assert args.require_namespace_credentials is bool(values.get("requireNamespaceCredentials"))


@pytest.mark.parametrize("values", [{"region": "cn-beijing"}, FULL_VALUES], ids=["minimal", "full"])
def test_operator_settings_accept_the_rendered_env(template: Template, values: dict[str, Any]) -> None:
    from acr_eci_operator.settings import Settings

    env = env_of(template(values))
    from_secret = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tExampleKeyId",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "x",
    }
    plain = {name: entry["value"] for name, entry in env.items() if "value" in entry}
    settings = Settings.from_env({**plain, **from_secret})
    assert settings.region_id == "cn-beijing"


# -- values.schema.json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"replicas": 0}, "/replicas"),
        ({"replicas": "two"}, "/replicas"),
        ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ({"log": {"format": "xml"}}, "/log/format"),
        ({"log": {"level": "TRACE"}}, "/log/level"),
        ({"eci": {"endpoint": "ftp://eci.example.com/path"}}, "/eci/endpoint"),
        ({"region": "Beijing"}, "/region"),
        ({"eci": {"rateLimits": {"mutateBurst": 0}}}, "/eci/rateLimits/mutateBurst"),
        ({"eci": {"defaultVSwitchIds": ["subnet-1"]}}, "/eci/defaultVSwitchIds/0"),
        ({"credentials": {"accessKeyID": "typo"}}, "accessKeyID"),
        ({"regionId": "cn-beijing"}, "regionId"),
    ],
)
def test_schema_rejects_bad_values(
    run_helm: HelmRun, write_values: ValuesWriter, values: dict[str, Any], field: str
) -> None:
    result = run_helm("template", "rel", CHART_DIR, "-f", write_values(values))
    assert result.returncode != 0, f"accepted {values}"
    assert "schema" in result.stderr.lower() or "at '" in result.stderr
    assert field in result.stderr, result.stderr


def test_schema_is_strict_at_the_top_level() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert set(defaults) <= set(schema["properties"])


# -- CRDs --------------------------------------------------------------------------------------------


def test_chart_crd_is_identical_to_the_repository_crd() -> None:
    repo_crd = REPO_ROOT / "crds" / CRD_FILE
    chart_crd = CHART_DIR / "crds" / CRD_FILE
    assert repo_crd.is_file(), f"{repo_crd} is missing"
    assert chart_crd.is_file(), f"{chart_crd} is missing: copy {repo_crd} there"
    assert chart_crd.read_bytes() == repo_crd.read_bytes(), f"{chart_crd} differs from {repo_crd}: copy it"


def test_chart_ships_kopf_peering_crds() -> None:
    text = (CHART_DIR / "crds" / "kopf-peerings.yaml").read_text()
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    names = {(doc["metadata"]["name"], doc["spec"]["scope"]) for doc in documents}
    assert names == {("clusterkopfpeerings.kopf.dev", "Cluster"), ("kopfpeerings.kopf.dev", "Namespaced")}
