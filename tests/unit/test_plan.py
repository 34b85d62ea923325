"""`acr-eci-operator plan`: the golden parameters of every example (Secret and ConfigMap values as
placeholders), JSON, exit codes, and, against resources with the status the operator writes, the action."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from acr_eci_operator import manifests, mapping, models, planner
from acr_eci_operator.cli import main
from acr_eci_operator.controller import Resource, handled_fields, owner_tags
from acr_eci_operator.plan import PLACEHOLDER, Finding, Network, input_object_keys, plan_live
from tests.api.acg_testlib import EXAMPLES_DIR, example_names, example_objects, example_resource
from tests.api.test_api_mapping import DEFAULTS, parameters_for, seed_examples

ENV = {
    "ALIBABA_CLOUD_REGION_ID": DEFAULTS.region_id,
    "ECI_DEFAULT_SECURITY_GROUP_ID": str(DEFAULTS.security_group_id),
    "ECI_DEFAULT_VSWITCH_IDS": ",".join(DEFAULTS.v_switch_ids),
}
NETWORK = Network(DEFAULTS.region_id, DEFAULTS.security_group_id, DEFAULTS.v_switch_ids)
SECRET_VALUES = ("s3cr3t-Passw0rd", "example-key-material")
"""Values the examples keep in Secrets: never printed."""
UID = "0b5c2d4e-uid"


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALIBABA_CLOUD_REGION_ID", "ECI_DEFAULT_SECURITY_GROUP_ID", "ECI_DEFAULT_VSWITCH_IDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def planned(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--format", "json")
    assert code == 0
    result: list[dict[str, Any]] = json.loads(out)
    return result


def resolve(value: str, objects: mapping.Objects, content: bool) -> str:
    """The value a placeholder stands for in the example's own Secret or ConfigMap."""
    match = PLACEHOLDER.match(value)
    assert match is not None
    kind_name, _, key = value[len("<from ") : -1].partition("/")
    kind, name = kind_name.split(" ")
    data = objects[("Secret" if kind == "secret" else "ConfigMap", name)]
    assert data is not None
    raw = data[key]
    return base64.b64encode(raw).decode() if content else raw.decode()


@pytest.mark.parametrize("example", [name for name in example_names() if name != "acr-instances.yaml"])
def test_plan_prints_the_golden_parameters_of_every_example(
    example: str, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (finding,) = planned(capsys, str(EXAMPLES_DIR / example))
    name = example_resource(example)["metadata"]["name"]
    tags = {
        **owner_tags(Resource.from_body({"metadata": {"uid": UID, "namespace": "default", "name": name}}))
    }
    golden = parameters_for(example, client_token=f"{UID}-0", owner_tags=tags)
    shown = finding["parameters"]
    # The same parameters in the order the operator sends them; only the uid and the values read from
    # Secrets and ConfigMaps are placeholders, each naming the object and key the value comes from.
    assert list(shown) == list(golden)
    objects = example_objects(example)
    for key, value in shown.items():
        if PLACEHOLDER.match(value):
            assert resolve(value, objects, key.endswith(".Content")) == golden[key], key
        else:
            assert value.replace("<resource uid>", UID) == golden[key], key
    assert finding["error"] is None and finding["notes"] == []


@pytest.mark.parametrize(
    ("example", "seed_index"),
    [
        ("acr-registry-info-domains.yaml", 0),
        ("acr-registry-info-name.yaml", 1),
        ("acr-registry-info-id.yaml", 2),
    ],
)
def test_the_seed_examples_show_the_seed_documents_parameters(
    example: str, seed_index: int, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, str(EXAMPLES_DIR / example))
    for key, value in seed_examples()[seed_index].items():
        assert f"\n  {key} = {value}\n" in out
    assert "\n  RegionId = cn-beijing\n" in out and "\n  VSwitchId = vsw-a,vsw-b\n" in out


def test_secret_values_are_placeholders_and_file_contents_readable(
    operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, str(EXAMPLES_DIR / "image-registry-credentials.yaml"), str(EXAMPLES_DIR / "config-files.yaml")
    )
    assert code == 0
    assert "  ImageRegistryCredential.1.Password = <from secret registry-example-com/password>\n" in out
    assert "  Volume.2.ConfigFileVolume.ConfigFileToPath.1.Content = <from secret app-tls/tls.key>\n" in out
    assert (
        "  Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content = <from configmap app-config/app.yaml>\n"
        in out
    )
    assert "  Container.1.EnvironmentVar.2.Value = <from configmap app-config/LOG_LEVEL>\n" in out
    for secret in SECRET_VALUES:
        assert secret not in out
        assert base64.b64encode(secret.encode()).decode() not in out


def test_the_header_names_file_document_and_resource(
    operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "-n", "team-a", str(EXAMPLES_DIR / "config-files.yaml"))
    assert out.startswith(f"{EXAMPLES_DIR / 'config-files.yaml'}#2 team-a/config-files\n")
    assert "  Tag.2.Value = team-a\n" in out


def test_without_the_operators_settings_the_defaults_are_placeholders(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    (finding,) = planned(capsys, str(EXAMPLES_DIR / "acr-registry-info-id.yaml"))
    parameters = finding["parameters"]
    assert (
        parameters["RegionId"]
        == parameters["SecurityGroupId"]
        == parameters["VSwitchId"]
        == "<operator default>"
    )
    (finding,) = planned(
        capsys,
        str(EXAMPLES_DIR / "acr-registry-info-id.yaml"),
        "--region-id",
        "cn-shanghai",
        "--security-group-id",
        "sg-x",
        "--vswitch-ids",
        "vsw-1,vsw-2",
    )
    assert {k: finding["parameters"][k] for k in ("RegionId", "SecurityGroupId", "VSwitchId")} == {
        "RegionId": "cn-shanghai",
        "SecurityGroupId": "sg-x",
        "VSwitchId": "vsw-1,vsw-2",
    }


def test_a_bad_default_is_unusable_input(operator_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(EXAMPLES_DIR / "acr-registry-info-id.yaml"), "--vswitch-ids", "nope")
    assert code == 2 and "ECI_DEFAULT_VSWITCH_IDS" in err


def test_unreadable_input_and_no_resource_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, str(tmp_path / "missing.yaml"))[0] == 2
    (tmp_path / "bad.yaml").write_text("a: [\n")
    code, _, err = run(capsys, str(tmp_path / "bad.yaml"))
    assert code == 2 and "bad.yaml:" in err
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert run(capsys, str(tmp_path / "cm.yaml"))[0] == 2


INVALID = """\
apiVersion: eci.acr-operator.dev/v1alpha1
kind: AcrContainerGroup
metadata:
  name: web
spec:
  containers:
    - name: app
      image: nginx
      env:
        - name: TOKEN
          valueFrom:
            secretKeyRef: {name: api, key: token}
  restartPolicy: Sometimes
"""


def test_an_invalid_spec_exits_1_naming_the_field_and_line(
    operator_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "web.yaml").write_text(INVALID)
    code, out, _ = run(capsys, str(tmp_path / "web.yaml"))
    assert code == 1
    assert "invalid: spec.restartPolicy (line 13):" in out


def test_standard_input_and_a_whole_object_that_is_not_among_the_inputs(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = INVALID.replace("  restartPolicy: Sometimes\n", "").replace(
        "      env:\n", "      envFrom:\n        - secretRef: {name: everything}\n      env:\n"
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, _ = run(capsys, "-")
    assert code == 0
    assert out.startswith("-#0 default/web\n")
    assert "  Container.1.EnvironmentVar.1.Value = <from secret api/token>\n" in out
    assert (
        "  note: spec.containers[0].envFrom[0].secretRef: Secret everything is not among the inputs; "
        "the variables made from its keys are not shown\n" in out
    )


# -- live: the planner's action against the status the operator writes ------------------------------


def manifest(example: str, **spec: Any) -> manifests.Manifest:
    text = (EXAMPLES_DIR / example).read_text()
    (item,) = [m for m in manifests.parse(text, example) if m.is_acr_container_group]
    if not spec:
        return item
    body = {**item.body, "spec": {**item.body["spec"], **spec}}
    return manifests.Manifest(item.source, item.document, item.item, item.line, body, item.node)


def live_body(example: str, phase: str | None = "Running", **spec: Any) -> dict[str, Any]:
    """The resource as the operator leaves it after creating the group from the example (its Secrets and
    ConfigMaps read for real): status.applied, appliedHash and the rest as `_create` writes them."""
    resource = example_resource(example)
    body: dict[str, Any] = {
        **resource,
        "metadata": {**resource["metadata"], "namespace": "default", "uid": UID, "generation": 1},
        "spec": {"restartPolicy": "Always", "updateStrategy": "InPlace", **resource["spec"], **spec},
    }
    parsed = models.AcrContainerGroupSpec.from_dict(body["spec"])
    params = mapping.create_parameters(
        parsed,
        name=body["metadata"]["name"],
        annotations=body["metadata"].get("annotations") or {},
        defaults=DEFAULTS,
        objects=example_objects(example),
        client_token="-",
        owner_tags=owner_tags(Resource.from_body(body)),
    )
    desired = planner.desired_from(
        parsed,
        raw_spec=body["spec"],
        annotations=body["metadata"].get("annotations") or {},
        generation=1,
        create_params=params,
        account="LTAI-x",
    )
    body["status"] = {
        "containerGroupId": "eci-1",
        "regionId": "cn-beijing",
        "incarnation": 0,
        "applied": dict(desired.immutable),
        "appliedHash": desired.digest,
        "appliedLists": sorted(desired.removables),
        "updateCount": 0,
        "observedGeneration": 1,
        "account": "LTAI-x",
        **({"phase": phase} if phase else {}),
        **handled_fields(
            planner.handled_at_create(desired, planner.Known(), "eci-1"), "2026-12-02T10:00:00Z"
        ),
    }
    return body


def live(item: manifests.Manifest, body: dict[str, Any] | None, with_objects: bool = False) -> Finding:
    """Plan the manifest over the live body; `with_objects`: its file's Secrets and ConfigMaps are inputs too."""
    keys = {}
    if with_objects:
        keys = input_object_keys(
            manifests.parse((EXAMPLES_DIR / item.source).read_text(), item.source), "default"
        )
    return plan_live(item, "default", NETWORK, keys, body)


@pytest.mark.parametrize(
    "example", ["config-files.yaml", "image-registry-credentials.yaml", "spot-and-public-ip.yaml"]
)
@pytest.mark.parametrize("with_objects", [False, True])
def test_an_unchanged_manifest_is_nothing_even_when_it_reads_secrets(
    example: str, with_objects: bool
) -> None:
    finding = live(manifest(example), live_body(example), with_objects)
    assert (finding.action, finding.reason, finding.sent, finding.changes) == (
        "nothing",
        "UpToDate",
        None,
        {},
    )


def test_no_resource_is_a_create_with_the_create_parameters() -> None:
    finding = live(manifest("config-files.yaml"), None)
    assert finding.action == "create"
    assert finding.sent is not None and finding.sent["ClientToken"] == "<resource uid>-0"


def test_a_changed_image_is_an_update_naming_the_wire_parameter() -> None:
    containers = [{**example_resource("config-files.yaml")["spec"]["containers"][0], "image": "nginx:2"}]
    finding = live(manifest("config-files.yaml", containers=containers), live_body("config-files.yaml"), True)
    assert finding.action == "update"
    assert finding.changes == {
        "Container.1.Image": [
            "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
            "nginx:2",
        ]
    }
    assert finding.sent is not None
    assert finding.sent["ContainerGroupId"] == "eci-1" and finding.sent["UpdateType"] == "RenewUpdate"
    assert (
        finding.sent["Volume.2.ConfigFileVolume.ConfigFileToPath.1.Content"]
        == "<from secret app-tls/tls.key>"
    )
    assert finding.sent["ClientToken"].startswith(f"{UID}-u0-")


def test_a_changed_zone_is_refused_and_replaced_under_recreate() -> None:
    body = live_body("acr-registry-info-id.yaml", zoneId="cn-beijing-a")
    finding = live(manifest("acr-registry-info-id.yaml", zoneId="cn-beijing-b"), body)
    assert (finding.action, finding.reason, finding.fields) == (
        "refuse",
        "ImmutableFieldChanged",
        ("spec.zoneId",),
    )
    assert finding.failed and finding.sent is None
    recreate = {"zoneId": "cn-beijing-b", "updateStrategy": "Recreate"}
    finding = live(manifest("acr-registry-info-id.yaml", **recreate), body)
    assert (finding.action, finding.fields) == ("recreate", ("spec.zoneId",))
    assert finding.sent is not None and finding.sent["ZoneId"] == "cn-beijing-b"
    assert finding.sent["ClientToken"] == f"{UID}-1"


def test_without_an_observation_in_status_the_plan_is_to_observe() -> None:
    finding = live(manifest("acr-registry-info-id.yaml"), live_body("acr-registry-info-id.yaml", phase=None))
    assert (finding.action, finding.reason) == ("observe", "ObservationPending")


def test_a_finished_job_is_replaced_only_when_its_spec_changes() -> None:
    body = live_body("acr-registry-info-id.yaml", phase="Succeeded", restartPolicy="Never")
    assert live(manifest("acr-registry-info-id.yaml", restartPolicy="Never"), body).action == "nothing"
    changed = live(manifest("acr-registry-info-id.yaml", restartPolicy="Never", cpu=2), body)
    assert (changed.action, changed.reason) == ("recreate", "Recreating")


def with_annotation(item: manifests.Manifest, annotation: str, value: str) -> manifests.Manifest:
    metadata = {**item.body["metadata"], "annotations": {annotation: value}}
    body = {**item.body, "metadata": metadata}
    return manifests.Manifest(item.source, item.document, item.item, item.line, body, item.node)


def test_a_new_restartedAt_value_is_a_restart_of_the_live_group() -> None:
    body = live_body("acr-registry-info-id.yaml")
    item = with_annotation(manifest("acr-registry-info-id.yaml"), models.ANNOTATION_RESTARTED_AT, "t1")
    finding = live(item, body)
    assert (finding.action, finding.reason) == ("restart", "Restarting")
    assert finding.sent is not None and finding.sent["ContainerGroupId"] == "eci-1"
    assert finding.sent["ClientToken"].startswith(f"{UID}-r")
    # The value already handled: nothing.
    body["status"]["restart"]["requested"] = "t1"
    assert live(item, body).action == "nothing"


def test_a_status_of_the_last_release_is_planned_past_the_adoption_of_request_values() -> None:
    """The operator first records the annotation values (no ECI call) and plans on: plan shows what
    follows, not the record."""
    body = live_body("acr-registry-info-id.yaml")
    del body["status"]["restart"], body["status"]["recreate"]
    item = with_annotation(manifest("acr-registry-info-id.yaml"), models.ANNOTATION_RESTARTED_AT, "t1")
    assert live(item, body).action == "nothing"
    changed = with_annotation(
        manifest("acr-registry-info-id.yaml", zoneId="cn-beijing-b"), models.ANNOTATION_RESTARTED_AT, "t1"
    )
    assert live(changed, body).action == "refuse"


def test_the_namespace_of_a_live_plan_is_the_kubeconfig_contexts_as_kubectl_uses(tmp_path: Path) -> None:
    from acr_eci_operator.kube import current_namespace

    def kubeconfig(current: str) -> str:
        path = tmp_path / f"kubeconfig-{current}"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [
                        {"name": "scoped", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}},
                        {"name": "plain", "context": {"cluster": "c", "user": "u"}},
                    ],
                    "current-context": current,
                }
            )
        )
        return str(path)

    assert current_namespace(kubeconfig("scoped")) == "team-a"
    assert current_namespace(kubeconfig("plain")) is None
    assert current_namespace(str(tmp_path / "missing")) is None
