"""Real workloads end to end: configuration files and variables from Secrets and ConfigMaps (watched, so a
change reaches ECI), probes as the resource and Argo CD show them, create-only settings, a graceful stop.

What reached ECI is read from the emulator's admin API (`group_spec`: files decoded, per mount path).
"""

from __future__ import annotations

from typing import Any

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.argocd.test_argocd_health import health_of
from tests.e2e.conftest import LEAK_CANARIES, Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, polls_later, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

SECRET_VALUE = LEAK_CANARIES[1]
"""A Secret value the operator's log must never show (the fixture checks it after each test)."""


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def files(eci: EmulatorFixture, group_id: str) -> dict[str, str]:
    """The configuration files the group's first container sees, by absolute path."""
    spec = eci.admin.group_spec(group_id) or {}
    return {path: entry["Content"] for path, entry in spec["Containers"][0]["Files"].items()}


def test_a_secret_file_reaches_eci_and_a_change_of_the_secret_updates_the_group(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(secret("app-tls", **{"tls.key": SECRET_VALUE}))
    volume = {"name": "tls", "secret": {"secretName": "app-tls", "defaultMode": 0o400}}
    mount = {"name": "tls", "mountPath": "/etc/tls", "readOnly": True}
    cluster.apply(acg("web", web(volumeMounts=[mount]), acrRegistryInfos=ACR, volumes=[volume]))
    group_id = running(cluster)
    assert files(eci_emulator, group_id) == {"/etc/tls/tls.key": SECRET_VALUE}
    volume_spec = (eci_emulator.admin.group_spec(group_id) or {})["Volumes"][0]
    assert volume_spec["ConfigFileVolume"]["Files"][0]["Mode"] == "0400"

    cluster.core.patch_namespaced_secret("app-tls", cluster.namespace, {"stringData": {"tls.key": "rotated"}})
    wait_for(lambda: files(eci_emulator, group_id) == {"/etc/tls/tls.key": "rotated"}, what="the new file")
    assert cluster.status("web")["containerGroupId"] == group_id  # updated in place
    (update,) = eci_emulator.admin.requests("UpdateContainerGroup")
    assert "Volume.1.ConfigFileVolume.DefaultMode" not in update["parameters"]  # create-only
    wait_for(lambda: cluster.condition("web", "Synced").get("status") == "True", what="Synced")
    assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 1


def test_config_map_variables_follow_the_config_map_but_a_finished_job_does_not_run_again(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(config_map("settings", LOG_LEVEL="info", MODE="fast"))
    env = [
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LOG_LEVEL"}}},
        {"name": "ECI_EMULATOR_RUN_SECONDS", "value": "1"},
    ]
    job = web(env=env, envFrom=[{"prefix": "CFG_", "configMapRef": {"name": "settings"}}])
    cluster.apply(acg("web", job, acrRegistryInfos=ACR, restartPolicy="Never"))
    wait_for(lambda: cluster.status("web").get("phase") == "Succeeded", what="the job finished")
    group_id = str(cluster.status("web")["containerGroupId"])
    (create,) = eci_emulator.admin.requests("CreateContainerGroup")
    sent = {
        create["parameters"][key]: create["parameters"].get(key.replace(".Key", ".Value"))
        for key in create["parameters"]
        if key.startswith("Container.1.EnvironmentVar.") and key.endswith(".Key")
    }
    assert sent == {
        "CFG_LOG_LEVEL": "info",
        "CFG_MODE": "fast",
        "LEVEL": "info",
        "ECI_EMULATOR_RUN_SECONDS": "1",
    }

    cluster.core.patch_namespaced_config_map("settings", cluster.namespace, {"data": {"LOG_LEVEL": "debug"}})
    polls_later(eci_emulator)
    assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 1
    assert not eci_emulator.admin.requests("UpdateContainerGroup")
    assert cluster.status("web")["containerGroupId"] == group_id


def test_a_missing_config_map_is_named_and_its_creation_heals_the_resource(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator(ACR_ECI_RETRY_CAP_SECONDS="600")
    volume = {
        "name": "config",
        "configMap": {"name": "later", "items": [{"key": "app.yaml", "path": "app.yaml"}]},
    }
    mount = {"name": "config", "mountPath": "/etc/app"}
    cluster.apply(acg("web", web(volumeMounts=[mount]), acrRegistryInfos=ACR, volumes=[volume]))
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "ConfigMapNotFound", what="named")
    synced = cluster.condition("web", "Synced")
    assert synced["status"] == "False"
    assert "spec.volumes[0].configMap" in synced["message"] and "'later'" in synced["message"]
    assert not eci_emulator.admin.requests("CreateContainerGroup")

    cluster.apply(config_map("later", **{"other": "x"}))  # still no app.yaml: the key is named
    wait_for(
        lambda: (
            "spec.volumes[0].configMap.items[0].key" in cluster.condition("web", "Synced").get("message", "")
        ),
        what="the missing key named",
    )
    cluster.core.patch_namespaced_config_map("later", cluster.namespace, {"data": {"app.yaml": "a: 1\n"}})
    # Healed by the watch on the ConfigMap, not by a retry (the retry cap is long).
    group_id = running(cluster)
    assert files(eci_emulator, group_id) == {"/etc/app/app.yaml": "a: 1\n"}


def test_a_failing_readiness_probe_shows_not_ready_with_the_probe_reason_and_progressing(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    probe = {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 1}
    containers = web(readinessProbe=probe, env=[{"name": "ECI_EMULATOR_READINESS_FAILS", "value": "true"}])
    cluster.apply(acg("web", containers, acrRegistryInfos=ACR))
    running(cluster)
    wait_for(lambda: cluster.condition("web", "Ready").get("reason") == "ReadinessProbeFailed", what="named")
    ready = cluster.condition("web", "Ready")
    assert ready["status"] == "False" and "Readiness probe failed" in ready["message"]
    assert health_of(cluster.get("web") or {})["status"] == "Progressing"


def test_a_failing_liveness_probe_loop_shows_degraded(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    probe = {"tcpSocket": {"port": 80}, "periodSeconds": 1, "failureThreshold": 1}
    containers = web(livenessProbe=probe, env=[{"name": "ECI_EMULATOR_LIVENESS_FAILS", "value": "true"}])
    cluster.apply(acg("web", containers, acrRegistryInfos=ACR))
    running(cluster)
    wait_for(lambda: cluster.condition("web", "Ready").get("reason") == "CrashLoopBackOff", timeout=90)
    wait_for(lambda: cluster.status("web")["containers"][0]["restartCount"] >= 2, what="restarts counted")
    # The container alternates between running and backing off, as a Pod's does: Degraded while it waits.
    wait_for(lambda: health_of(cluster.get("web") or {})["status"] == "Degraded", what="Degraded")


def test_a_create_only_setting_is_refused_by_name_in_place_and_replaces_under_recreate(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    containers = web(securityContext={"runAsUser": 1000, "runAsGroup": 1000})
    cluster.apply(acg("web", containers, acrRegistryInfos=ACR, terminationGracePeriodSeconds=45))
    group_id = running(cluster)
    changed = web(securityContext={"runAsUser": 1000, "runAsGroup": 2000})
    cluster.patch("web", {"spec": {"containers": changed}})
    wait_for(
        lambda: cluster.condition("web", "Synced").get("reason") == "ImmutableFieldChanged", what="refused"
    )
    assert "spec.containers[web].securityContext.runAsGroup" in cluster.condition("web", "Synced")["message"]
    polls_later(eci_emulator)
    assert not eci_emulator.admin.requests("UpdateContainerGroup")

    cluster.patch("web", {"spec": {"updateStrategy": "Recreate"}})
    wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, group_id), what="replaced")
    new_id = str(cluster.status("web")["containerGroupId"])
    spec = eci_emulator.admin.group_spec(new_id) or {}
    assert spec["Containers"][0]["SecurityContext"]["RunAsGroup"] == 2000
    # The old group was stopped gracefully: its grace period recorded with the delete.
    (deletion,) = [d for d in eci_emulator.admin.deletions() if d["ContainerGroupId"] == group_id]
    assert deletion["GracePeriodSeconds"] == 45


def test_delete_gives_the_grace_period_and_runs_pre_stop(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    pre_stop = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}}
    cluster.apply(acg("web", web(lifecycle=pre_stop), acrRegistryInfos=ACR, terminationGracePeriodSeconds=30))
    group_id = running(cluster)
    cluster.delete("web")
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    (deletion,) = eci_emulator.admin.deletions()
    assert deletion["ContainerGroupId"] == group_id and deletion["GracePeriodSeconds"] == 30
    assert deletion["Containers"][0]["PreStop"] is not None
