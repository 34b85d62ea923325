"""Convergence under faults: every resource reaches its declared state by itself.

Each test names the fault path it drives (the numbers are those of the convergence issue); time is
driven with the emulator's clock and the operator's settings (retry cap, poll interval), not sleeps.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import (
    GROUP,
    OPERATOR_BIN,
    PLURAL,
    REGION,
    REPO,
    VERSION,
    Cluster,
    OperatorProcess,
    acg,
    create_group_directly,
    wait_for,
)
from tests.e2e.test_lifecycle import (
    ACR,
    NGINX,
    StartOperator,
    created,
    groups_for,
    orphaned_groups,
    phase_is,
    polls_later,
    tags,
    web,
)
from tests.e2e.test_semantics import secret

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

FAST_RETRY = {"ACR_ECI_RETRY_CAP_SECONDS": "1"}


def env_of(eci: EmulatorFixture, group_id: str) -> dict[str, str]:
    group = eci.admin.group(group_id) or {}
    return {e["Key"]: e["Value"] for e in group["Containers"][0].get("EnvironmentVars") or []}


def ready(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.condition(name, "Ready")


def ready_at(cluster: Cluster, name: str, generation: int) -> bool:
    condition = ready(cluster, name)
    return condition.get("status") == "True" and condition.get("observedGeneration") == generation


def generation_of(cluster: Cluster, name: str) -> int:
    return int((cluster.get(name) or {})["metadata"]["generation"])


# ---------------------------------------------------------------------------------------------------- 1


def test_1_a_recreate_started_by_the_poller_is_retried_until_eci_has_stock(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator(**FAST_RETRY)
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    lost = cluster.status("web")["containerGroupId"]

    # A spot reclaim, then no stock for 8 creates in a row: more than one call's own retries.
    eci_emulator.admin.set_fault(
        "CreateContainerGroup", error_code="OperationDenied.NoStock", http_status=400, times=8
    )
    eci_emulator.admin.expire_group(lost)
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "OperationDenied.NoStock")
    wait_for(phase_is(cluster, "web", "Running"), timeout=90, what="the group re-created once ECI has stock")
    assert cluster.status("web")["containerGroupId"] != lost
    attempts = eci_emulator.admin.requests("CreateContainerGroup")
    assert [r["error_code"] for r in attempts[1:]].count("OperationDenied.NoStock") == 8
    assert attempts[-1]["error_code"] == ""
    assert cluster.condition("web", "Synced")["status"] == "True"


# ---------------------------------------------------------------------------------------------------- 2


def test_2_sigkill_while_scheduling_then_an_edit_is_applied_once_the_group_runs(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_timings(scheduling_seconds=3600)  # virtual seconds: Scheduling until we say
    operator = start_operator()
    cluster.apply(acg("web", web(env=[{"name": "V", "value": "1"}]), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.status("web").get("containerGroupId"), what="the group id in status")
    wait_for(phase_is(cluster, "web", "Scheduling"))
    operator.kill()
    group_id = cluster.status("web")["containerGroupId"]

    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "2"}])}})
    start_operator()
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "Waiting", what="the update waiting")
    eci_emulator.admin.advance_clock(3600)
    wait_for(lambda: ready_at(cluster, "web", 2), what="Ready at generation 2")
    assert env_of(eci_emulator, group_id) == {"V": "2"}
    assert len(eci_emulator.admin.requests("UpdateContainerGroup")) == 1
    assert len(created(eci_emulator)) == 1


def test_2_a_group_lost_while_its_spec_is_refused_is_still_observed_and_replaced(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a"))
    wait_for(phase_is(cluster, "web", "Running"))
    operator.stop()
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})  # refused: immutable, InPlace
    start_operator()
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "ImmutableFieldChanged")
    group_id = cluster.status("web")["containerGroupId"]

    # The group is still observed: when it is lost, the new one is made from the current spec (a new
    # group may take the new zone), and the refusal is over.
    eci_emulator.admin.delete_group(group_id)
    wait_for(
        lambda: cluster.status("web").get("containerGroupId") not in (None, group_id), what="a new group"
    )
    wait_for(lambda: ready_at(cluster, "web", 2), what="the new group Ready")
    assert created(eci_emulator)[-1]["parameters"]["ZoneId"] == "cn-beijing-b"
    assert cluster.condition("web", "Synced")["status"] == "True"
    assert "ContainerGroupLost" in {e.reason for e in cluster.events("web")}


# ---------------------------------------------------------------------------------------------------- 3


def test_3_a_finished_job_is_not_run_again_when_a_secret_rotates_and_the_operator_restarts(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator()
    cluster.apply(secret("token", value="first-value"))
    job = web(
        env=[
            {"name": "ECI_EMULATOR_EXIT_CODE", "value": "0"},
            {"name": "ECI_EMULATOR_RUN_SECONDS", "value": "0.5"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "value"}}},
        ]
    )
    cluster.apply(acg("job", job, acrRegistryInfos=ACR, restartPolicy="Never"))
    wait_for(phase_is(cluster, "job", "Succeeded"))
    operator.stop()

    cluster.core.patch_namespaced_secret(
        "token", cluster.namespace, {"stringData": {"value": "second-value"}}
    )
    cluster.patch("job", {"metadata": {"labels": {"team": "batch"}}})
    start_operator()
    polls_later(eci_emulator, 5)
    assert len(created(eci_emulator)) == 1
    assert not eci_emulator.admin.requests("DeleteContainerGroup")
    assert cluster.status("job")["phase"] == "Succeeded"

    # A change of spec after it finished runs it again.
    cluster.patch("job", {"spec": {"cpu": 2.0}})
    wait_for(lambda: len(created(eci_emulator)) == 2, what="the job run again for the new generation")


# ---------------------------------------------------------------------------------------------------- 4


def test_4_an_image_rolled_back_and_forward_again_is_applied(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(env=[{"name": "V", "value": "1"}]), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    group_id = cluster.status("web")["containerGroupId"]
    for value in ("2", "1", "2"):
        cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": value}])}})
        generation = generation_of(cluster, "web")
        wait_for(lambda: ready_at(cluster, "web", generation), what=f"generation {generation} Ready")  # noqa: B023
        assert env_of(eci_emulator, group_id) == {"V": value}
    tokens = [r["parameters"]["ClientToken"] for r in eci_emulator.admin.requests("UpdateContainerGroup")]
    assert len(tokens) == len(set(tokens)) == 3


def test_4_an_update_after_a_recreate_gets_its_own_token(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(
        acg("web", web(env=[{"name": "V", "value": "1"}]), acrRegistryInfos=ACR, updateStrategy="Recreate")
    )
    wait_for(phase_is(cluster, "web", "Running"))
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "2"}])}})
    wait_for(lambda: ready_at(cluster, "web", 2))
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})  # replaced under Recreate
    wait_for(lambda: ready_at(cluster, "web", 3))
    new_id = cluster.status("web")["containerGroupId"]
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "3"}])}})
    wait_for(lambda: ready_at(cluster, "web", 4))
    assert env_of(eci_emulator, new_id) == {"V": "3"}
    assert all(r["error_code"] == "" for r in eci_emulator.admin.requests("UpdateContainerGroup"))


# ---------------------------------------------------------------------------------------------------- 5


def test_5_an_observation_taken_before_an_update_never_announces_the_new_generation_ready(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, kube_api: client.ApiClient
) -> None:
    start_operator()
    cluster.apply(acg("web", web(env=[{"name": "V", "value": "1"}]), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    # ECI stays Updating until the clock moves; every Describe answer arrives 1 s late, so one that
    # began before the update is always in flight when the update is accepted.
    eci_emulator.admin.set_timings(updating_seconds=3600)
    eci_emulator.admin.set_fault("DescribeContainerGroups", response_delay_seconds=1.0, rate=1.0)
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def record() -> None:
        stream = watch.Watch()
        custom = client.CustomObjectsApi(kube_api)
        for event in stream.stream(
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            cluster.namespace,
            PLURAL,
            timeout_seconds=30,
        ):
            seen.append(event["object"])
            if stop.is_set():
                stream.stop()

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "2"}])}})
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "Updated")
    wait_for(phase_is(cluster, "web", "Updating"), what="the Updating phase observed")
    polls_later(eci_emulator, 4)  # answers to Describes that began before the update have all landed
    ready_too_early = [
        body["metadata"]["resourceVersion"]
        for body in seen
        for condition in (body.get("status") or {}).get("conditions") or []
        if condition["type"] == "Ready"
        and condition["status"] == "True"
        and condition.get("observedGeneration") == 2
    ]
    assert ready_too_early == []
    eci_emulator.admin.clear_faults()
    eci_emulator.admin.advance_clock(3600)
    wait_for(lambda: ready_at(cluster, "web", 2))
    stop.set()


# ---------------------------------------------------------------------------------------------------- 6


@pytest.mark.parametrize("code", ["IncorrectStatus", "OperationConflict"])
def test_6_a_group_moving_between_phases_is_retried(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, code: str
) -> None:
    start_operator(**FAST_RETRY)
    cluster.apply(acg("web", web(env=[{"name": "V", "value": "1"}]), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    eci_emulator.admin.set_fault("UpdateContainerGroup", error_code=code, http_status=400, times=2)
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "2"}])}})
    wait_for(lambda: ready_at(cluster, "web", 2), what="the update applied after the transient refusals")
    codes = [r["error_code"] for r in eci_emulator.admin.requests("UpdateContainerGroup")]
    assert codes == [code, code, ""]


# ---------------------------------------------------------------------------------------------------- 7


def peering_setup(kube_api: client.ApiClient, namespace: str, name: str) -> None:
    extensions = client.ApiextensionsV1Api(kube_api)
    for crd in yaml.safe_load_all((REPO / "charts/acr-eci-operator/crds/kopf-peerings.yaml").read_text()):
        if not crd:
            continue
        try:
            extensions.create_custom_resource_definition(crd)
        except client.exceptions.ApiException as error:
            if error.status != 409:
                raise
    custom = client.CustomObjectsApi(kube_api)

    def create() -> bool:
        try:
            custom.create_namespaced_custom_object(
                "kopf.dev",
                "v1",
                namespace,
                "kopfpeerings",
                {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": name}},
            )
        except client.exceptions.ApiException as error:
            if error.status == 404:
                return False  # the CRD is not served yet
            if error.status != 409:
                raise
        return True

    wait_for(create, what="the KopfPeering object")


def role(replica: OperatorProcess) -> str:
    """The replica's role by the last transition it logged: active, paused, or none yet."""
    lines = [line for line in replica.log().splitlines() if "this replica is " in line]
    if not lines:
        return "none"
    return "active" if "this replica is active" in lines[-1] else "paused"


def describes_by(eci: EmulatorFixture, key: str) -> int:
    return sum(1 for r in eci.admin.requests("DescribeContainerGroups") if r["access_key_id"] == key)


def test_7_of_two_peered_replicas_one_works_and_the_other_takes_over_when_it_dies(
    cluster: Cluster,
    eci_emulator: EmulatorFixture,
    operator_env: dict[str, str],
    kube_api: client.ApiClient,
    tmp_path: Path,
) -> None:
    peering_setup(kube_api, cluster.namespace, "acr-eci")
    keys = {"a": ("LTAI-replica-a", "secret-replica-a"), "b": ("LTAI-replica-b", "secret-replica-b")}
    replicas: dict[str, OperatorProcess] = {}
    for name, (key_id, key_secret) in keys.items():
        eci_emulator.add_access_key(key_id, key_secret)
        env = {
            **operator_env,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": key_secret,
            "ECI_POLL_INTERVAL_SECONDS": "1",
            "ACR_ECI_PEERING_LIFETIME_SECONDS": "3",
        }
        argv = [OPERATOR_BIN, "run", "--peering", "acr-eci", "--namespace", cluster.namespace]
        replicas[name] = OperatorProcess(argv, env, tmp_path / f"replica-{name}.log")
    try:
        for replica in replicas.values():
            replica.start()
        custom = client.CustomObjectsApi(kube_api)

        def peers() -> dict[str, Any]:
            body = custom.get_namespaced_custom_object(
                "kopf.dev", "v1", cluster.namespace, "kopfpeerings", "acr-eci"
            )
            return dict(body.get("status") or {})

        wait_for(lambda: len(peers()) == 2, what="both replicas in the peering object")
        # The active one is the one with the higher priority (the identity carries the pid).
        highest = max(peers().items(), key=lambda item: int(item[1]["priority"]))[0]
        active = next(n for n, r in replicas.items() if f"/{r.process.pid}/" in highest)  # type: ignore[union-attr]
        standby = "b" if active == "a" else "a"
        wait_for(
            lambda: (role(replicas[active]), role(replicas[standby])) == ("active", "paused"),
            what="the roles taken",
        )
        cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
        wait_for(phase_is(cluster, "web", "Running"))
        before = describes_by(eci_emulator, keys[standby][0])
        polls_later(eci_emulator, 3)
        assert describes_by(eci_emulator, keys[standby][0]) == before, "the paused replica polled ECI"

        replicas[active].kill()
        killed = time.monotonic()
        wait_for(
            lambda: describes_by(eci_emulator, keys[standby][0]) > before,
            timeout=30,
            what="the other replica polling",
        )
        # The dead replica's peering entry lives 3 s; polling resumes within one 1 s interval after (plus
        # slack for a loaded machine: kopf resumes its watch, the resource is listed again and observed).
        took = time.monotonic() - killed
        assert took < 3 + 1 + 5, took

        group_id = cluster.status("web")["containerGroupId"]
        eci_emulator.admin.delete_group(group_id)
        wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, group_id))
        wait_for(phase_is(cluster, "web", "Running"))
        polls_later(eci_emulator, 3)
        uid = (cluster.get("web") or {})["metadata"]["uid"]
        assert len(groups_for(eci_emulator, uid)) == 1
        lost_events = [e for e in cluster.events("web") if e.reason == "ContainerGroupLost"]
        assert len(lost_events) == 1
        ours = [
            e for e in cluster.events("web") if (e.message or "").startswith("created ECI container group")
        ]
        assert len(ours) == 2
    finally:
        for replica in replicas.values():
            replica.stop()
    for replica in replicas.values():
        for _, key_secret in keys.values():
            assert key_secret not in replica.log()


# ---------------------------------------------------------------------------------------------------- 8


def health(operator: OperatorProcess) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def test_8_liveness_fails_when_polls_stop_completing(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    # ECI answers nothing for 60 s and the operator was told to wait that long: polls stop completing.
    operator = start_operator(ECI_READ_TIMEOUT_SECONDS="90")
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    assert health(operator)[0] == 200
    for action in ("DescribeContainerGroups", "DescribeContainerGroupStatus"):
        eci_emulator.admin.set_fault(action, latency_seconds=60.0, rate=1.0)
    wait_for(lambda: health(operator)[0] == 500, timeout=30, interval=1.0, what="/healthz failing")


def test_8_a_failed_describe_loses_its_batch_not_the_region(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    first = start_operator(ECI_POLL_INTERVAL_SECONDS="2")
    names = [f"web-{index:02d}" for index in range(21)]  # two Describe batches: 20 + 1
    for name in names:
        cluster.apply(acg(name, web(), acrRegistryInfos=ACR))
    wait_for(lambda: all(cluster.status(n).get("phase") == "Running" for n in names), timeout=120)
    first.stop()
    # A new process describes every group it holds once (it has seen none); one of those calls fails.
    eci_emulator.admin.set_fault("DescribeContainerGroups", error_code="ServiceUnavailable", times=1)
    operator = start_operator(ECI_POLL_INTERVAL_SECONDS="2")
    wait_for(lambda: "polling" in operator.log() and "failed" in operator.log(), what="a failed batch")
    polls_later(eci_emulator, 6)
    failed = [line for line in operator.log().splitlines() if "polling" in line and "failed" in line]
    assert len(failed) == 1
    assert "polling 20 groups" in failed[0] or "polling 1 groups" in failed[0]


# ---------------------------------------------------------------------------------------------------- 9


def test_9_ready_turns_unknown_when_the_group_cannot_be_observed(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    for action in ("DescribeContainerGroups", "DescribeContainerGroupStatus"):
        eci_emulator.admin.set_fault(action, error_code="ServiceUnavailable", rate=1.0)
    wait_for(lambda: ready(cluster, "web").get("reason") == "ObservationFailed", what="Ready Unknown")
    assert ready(cluster, "web")["status"] == "Unknown"
    eci_emulator.admin.clear_faults()
    wait_for(lambda: ready(cluster, "web").get("status") == "True", what="Ready again")


def test_9_a_crash_loop_and_a_failing_init_container_make_ready_false(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_timings(restart_backoff_seconds=3600)  # stays in CrashLoopBackOff
    start_operator()
    crashing = web(
        env=[
            {"name": "ECI_EMULATOR_EXIT_CODE", "value": "1"},
            {"name": "ECI_EMULATOR_RUN_SECONDS", "value": "0.2"},
        ]
    )
    cluster.apply(acg("crash", crashing, acrRegistryInfos=ACR))
    init = [
        {
            "name": "migrate",
            "image": NGINX,
            "env": [
                {"name": "ECI_EMULATOR_EXIT_CODE", "value": "3"},
                {"name": "ECI_EMULATOR_RUN_SECONDS", "value": "0.2"},
            ],
        }
    ]
    cluster.apply(acg("init", web(), acrRegistryInfos=ACR, initContainers=init, restartPolicy="Never"))
    wait_for(lambda: ready(cluster, "crash").get("reason") == "CrashLoopBackOff", what="CrashLoopBackOff")
    assert ready(cluster, "crash")["status"] == "False"
    assert cluster.status("crash")["phase"] == "Running"
    wait_for(
        lambda: ready(cluster, "init").get("reason") == "InitContainerFailed", what="InitContainerFailed"
    )
    assert "migrate" in ready(cluster, "init")["message"]


# --------------------------------------------------------------------------------------------------- 10


def test_10_a_group_missing_from_one_answer_is_confirmed_before_it_is_recreated(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    group_id = cluster.status("web")["containerGroupId"]
    eci_emulator.admin.hide_group(group_id, times=1)
    polls_later(eci_emulator, 5)
    assert cluster.status("web")["containerGroupId"] == group_id
    assert len(created(eci_emulator)) == 1
    assert not [e for e in cluster.events("web") if e.reason == "ContainerGroupLost"]


def test_10_delete_removes_every_group_with_the_uid_tag(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    uid = body["metadata"]["uid"]
    wait_for(phase_is(cluster, "web", "Running"))
    # A stray group carrying our uid tag (as a create that another replica sent, say).
    create_group_directly(eci_emulator, REGION, "stray", {"acr-eci-operator/uid": uid})
    assert len(groups_for(eci_emulator, uid)) == 2
    cluster.delete("web")
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    assert [g for g in groups_for(eci_emulator, uid) if g["Status"] != "Terminating"] == []


def test_10_orphaning_a_group_with_the_most_tags_stays_within_ecis_limit(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    user_tags = {f"k{index}": "v" for index in range(17)}
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR, tags=user_tags, deletionPolicy="Orphan"))
    wait_for(phase_is(cluster, "web", "Running"))
    cluster.delete("web")
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    (group,) = orphaned_groups(eci_emulator, body["metadata"]["uid"])
    assert len(tags(group)) == 20
    assert all(r["error_code"] == "" for r in eci_emulator.admin.requests("UpdateContainerGroup"))


# --------------------------------------------------------------------------------------------------- 11


def test_11_memory_follows_the_live_set(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator()
    names = [f"web-{index}" for index in range(4)]
    for name in names:
        cluster.apply(acg(name, web(), acrRegistryInfos=ACR))
    wait_for(lambda: all(cluster.status(n).get("phase") == "Running" for n in names))
    wait_for(lambda: (health(operator)[1] or {}).get("poller", {}).get("resources") == 4, timeout=30)
    for name in names[:3]:
        cluster.delete(name)
    # One resource let go by hand: its finalizer removed while the operator still holds it.
    cluster.delete(names[3])
    cluster.patch(names[3], {"metadata": {"finalizers": None}})
    wait_for(lambda: all(cluster.get(n) is None for n in names))
    wait_for(
        lambda: (health(operator)[1] or {}).get("poller", {}).get("resources") == 0,
        timeout=30,
        what="nothing held for deleted resources",
    )
    assert (health(operator)[1] or {})["poller"]["seenEvents"] == 0


# ------------------------------------------------------------------------------------------- upgrade


def test_a_resource_written_by_the_last_release_converges_without_its_group_being_touched(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    first = start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    polls_later(eci_emulator)
    first.stop()
    # Rewrite the resource as the last release left it: kopf's bookkeeping annotation, no updateCount,
    # Synced UpToDate from its resume handler (status fields exactly as that release wrote them).
    stored = cluster.status("web")
    uid = body["metadata"]["uid"]
    last_release = {
        key: stored[key]
        for key in (
            "containerGroupId",
            "regionId",
            "incarnation",
            "applied",
            "appliedHash",
            "registries",
            "phase",
            "observedGeneration",
            "intranetIp",
            "containers",
            "lastEventTime",
        )
        if key in stored
    }
    conditions = [c for c in stored["conditions"] if c["type"] != "Synced"]
    conditions.append(
        {
            "type": "Synced",
            "status": "True",
            "reason": "UpToDate",
            "message": f"container group {stored['containerGroupId']} matches generation 1",
            "lastTransitionTime": "2026-11-01T00:00:00Z",
            "observedGeneration": 1,
        }
    )
    last_release["conditions"] = conditions
    last_release["updateCount"] = None
    cluster.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, cluster.namespace, PLURAL, "web", {"status": last_release}
    )
    spec = (cluster.get("web") or {})["spec"]
    annotation = json.dumps({"spec": spec, "metadata": {}})
    cluster.patch(
        "web", {"metadata": {"annotations": {"eci.acr-operator.dev/last-handled-configuration": annotation}}}
    )
    assert "updateCount" not in cluster.status("web")
    eci_emulator.admin.clear_requests()

    start_operator()
    polls_later(eci_emulator, 5)
    mutating = [
        r["action"]
        for r in eci_emulator.admin.requests()
        if r["action"] in ("CreateContainerGroup", "UpdateContainerGroup", "DeleteContainerGroup")
    ]
    assert mutating == []
    assert ready_at(cluster, "web", 1)
    assert cluster.condition("web", "Synced")["reason"] == "UpToDate"
    assert groups_for(eci_emulator, uid)[0]["ContainerGroupId"] == stored["containerGroupId"]

    # And the next change is applied under the new token scheme.
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "2"}])}})
    wait_for(lambda: ready_at(cluster, "web", 2))
    (update,) = eci_emulator.admin.requests("UpdateContainerGroup")
    assert update["parameters"]["ClientToken"].startswith(f"{uid}-u0-")


# ------------------------------------------------------------------------------------ review findings


def test_10_a_group_missed_by_two_answers_in_a_row_is_adopted_back_not_duplicated(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    group_id = cluster.status("web")["containerGroupId"]
    eci_emulator.admin.hide_group(group_id, times=2)  # the batch answer and the confirmation both miss it
    polls_later(eci_emulator, 10)
    assert cluster.status("web")["containerGroupId"] == group_id
    assert len(groups_for(eci_emulator, body["metadata"]["uid"])) == 1
    assert len(created(eci_emulator)) == 1
    assert len([e for e in cluster.events("web") if e.reason == "ContainerGroupLost"]) <= 1
    wait_for(lambda: ready_at(cluster, "web", 1))


def test_a_refused_update_is_not_sent_again_at_every_poll(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(env=[{"name": "V", "value": "1"}]), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    eci_emulator.admin.set_fault("UpdateContainerGroup", error_code="InvalidParameter", http_status=400)
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "V", "value": "2"}])}})
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "InvalidParameter")
    polls_later(eci_emulator, 10)
    assert len(eci_emulator.admin.requests("UpdateContainerGroup")) == 1


def test_ready_is_false_while_a_replacement_cannot_be_created(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a", updateStrategy="Recreate"))
    wait_for(phase_is(cluster, "web", "Running"))
    eci_emulator.admin.set_fault("CreateContainerGroup", error_code="QuotaExceeded", http_status=400)
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "QuotaExceeded")
    ready = cluster.condition("web", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Recreating")
    assert not cluster.status("web").get("containerGroupId")
