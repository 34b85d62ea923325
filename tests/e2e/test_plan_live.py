"""`acr-eci-operator plan --live` as a process, against resources the real operator created and keeps (status
as it writes it): an unchanged manifest, a new image, an immutable edit with and without updateStrategy
Recreate, and a new resource; then the operator, given the change plan called an update, makes that update."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import OPERATOR_BIN, Cluster, load_example, wait_for
from tests.e2e.test_lifecycle import StartOperator

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

EXAMPLE = "config-files.yaml"
NAME = "config-files"
SECRET_VALUE = "example-key-material"
NEW_IMAGE = "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:latest"


def plan(
    operator_env: dict[str, str], cluster: Cluster, tmp_path: Path, documents: list[dict[str, Any]]
) -> tuple[int, dict[str, Any], str]:
    """Run `plan --live` over the documents (one file), with --kubeconfig and JSON, then with KUBECONFIG and
    text: the exit code, the AcrContainerGroup's JSON finding and the text."""
    path = tmp_path / f"manifest-{len(list(tmp_path.glob('manifest-*')))}.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    env = {**operator_env}
    kubeconfig = env.pop("KUBECONFIG")
    argv = [OPERATOR_BIN, "plan", "--live", "-n", cluster.namespace, str(path)]
    done = subprocess.run(
        [*argv, "--kubeconfig", kubeconfig, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = subprocess.run(
        argv,
        env={**env, "KUBECONFIG": kubeconfig},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == done.returncode, text.stderr
    for output in (done.stdout, done.stderr, text.stdout, text.stderr):
        assert SECRET_VALUE not in output
        assert base64.b64encode(SECRET_VALUE.encode()).decode() not in output
    (finding,) = json.loads(done.stdout)
    return done.returncode, finding, text.stdout


def with_spec(documents: list[dict[str, Any]], name: str = NAME, **spec: Any) -> list[dict[str, Any]]:
    changed = []
    for document in documents:
        if document["kind"] == "AcrContainerGroup":
            document = {
                **document,
                "metadata": {**document["metadata"], "name": name},
                "spec": {**document["spec"], **spec},
            }
        changed.append(document)
    return changed


def test_plan_names_the_operators_next_action_for_each_kind_of_change(
    cluster: Cluster,
    eci_emulator: EmulatorFixture,
    start_operator: StartOperator,
    operator_env: dict[str, str],
    tmp_path: Path,
) -> None:
    documents = load_example(EXAMPLE)
    code, finding, _ = plan(operator_env, cluster, tmp_path, documents)
    assert (code, finding["action"]) == (0, "create")
    assert finding["sent"]["ClientToken"] == "<resource uid>-0"

    start_operator()
    for document in documents:
        cluster.apply(document)
    wait_for(lambda: cluster.condition(NAME, "Ready").get("status") == "True", what=f"{NAME} Ready")
    uid = cluster.get(NAME)["metadata"]["uid"]  # type: ignore[index]

    code, finding, text = plan(operator_env, cluster, tmp_path, documents)
    assert (code, finding["action"], finding["reason"], finding["sent"]) == (0, "nothing", "UpToDate", None)
    assert f"#2 {cluster.namespace}/{NAME}\n  action: nothing (UpToDate)" in text

    # Without -n, a manifest naming no namespace is planned where kubectl would apply it: in the
    # kubeconfig's current context's namespace.
    kubeconfig = yaml.safe_load(Path(operator_env["KUBECONFIG"]).read_text())
    for context in kubeconfig["contexts"]:
        context["context"]["namespace"] = cluster.namespace
    scoped = tmp_path / "kubeconfig-with-namespace"
    scoped.write_text(yaml.safe_dump(kubeconfig))
    manifest = tmp_path / "no-namespace.yaml"
    manifest.write_text(yaml.safe_dump_all(documents))
    env = {key: value for key, value in operator_env.items() if key != "KUBECONFIG"}
    done = subprocess.run(
        [OPERATOR_BIN, "plan", "--live", "--kubeconfig", str(scoped), str(manifest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"#2 {cluster.namespace}/{NAME}\n  action: nothing (UpToDate)" in done.stdout

    containers = [{**documents[2]["spec"]["containers"][0], "image": NEW_IMAGE}]
    new_image = with_spec(documents, containers=containers)
    code, finding, text = plan(operator_env, cluster, tmp_path, new_image)
    assert (code, finding["action"]) == (0, "update")
    assert finding["changes"] == {
        "Container.1.Image": [
            "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0",
            NEW_IMAGE,
        ]
    }
    assert f"    Container.1.Image: {documents[2]['spec']['containers'][0]['image']} -> {NEW_IMAGE}\n" in text
    sent = finding["sent"]
    assert sent["ContainerGroupId"] == cluster.status(NAME)["containerGroupId"]
    assert sent["Volume.2.ConfigFileVolume.ConfigFileToPath.1.Content"] == "<from secret app-tls/tls.key>"

    code, finding, text = plan(operator_env, cluster, tmp_path, with_spec(documents, zoneId="cn-beijing-b"))
    assert (code, finding["action"], finding["reason"]) == (1, "refuse", "ImmutableFieldChanged")
    assert finding["fields"] == ["spec.zoneId"] and "spec.zoneId" in finding["message"]
    assert "  fields: spec.zoneId\n" in text

    recreate = with_spec(documents, zoneId="cn-beijing-b", updateStrategy="Recreate")
    code, finding, _ = plan(operator_env, cluster, tmp_path, recreate)
    assert (code, finding["action"], finding["fields"]) == (0, "recreate", ["spec.zoneId"])
    assert finding["sent"]["ClientToken"] == f"{uid}-1" and finding["sent"]["ZoneId"] == "cn-beijing-b"

    code, finding, _ = plan(operator_env, cluster, tmp_path, with_spec(documents, name="config-files-2"))
    assert (code, finding["action"]) == (0, "create")

    # Nothing above changed anything; the change plan called an update is one the operator sends as such.
    assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 1
    assert not eci_emulator.admin.requests("UpdateContainerGroup")
    cluster.patch(NAME, {"spec": {"containers": containers}})
    (update,) = wait_for(lambda: eci_emulator.admin.requests("UpdateContainerGroup"), what="the update")
    assert update["parameters"]["Container.1.Image"] == NEW_IMAGE
    assert not eci_emulator.admin.requests("DeleteContainerGroup")
