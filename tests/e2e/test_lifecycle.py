"""The real `acr-eci-operator run` process against the real apiserver and the emulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, OperatorProcess, acg, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

NGINX = "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"
ACR = [{"instanceId": "cri-nwj395hgf6f3abcd"}]
StartOperator = Callable[..., OperatorProcess]


def web(image: str = NGINX, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": "web", "image": image, **extra}]


def tags(group: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in group.get("Tags") or []}


def groups_for(eci: EmulatorFixture, uid: str) -> list[dict[str, Any]]:
    return [g for g in eci.admin.groups() if tags(g).get("acr-eci-operator/uid") == uid]


def orphaned_groups(eci: EmulatorFixture, uid: str) -> list[dict[str, Any]]:
    """Groups let go by deletionPolicy Orphan: their uid tag says `orphaned-<uid>`."""
    return [g for g in eci.admin.groups() if tags(g).get("acr-eci-operator/uid") == f"orphaned-{uid}"]


def poll_count(eci: EmulatorFixture) -> int:
    """The poll calls the emulator received: listings (DescribeContainerGroupStatus, also asking what
    changed) and descriptions by id (DescribeContainerGroups)."""
    return len(eci.admin.requests("DescribeContainerGroupStatus")) + len(
        eci.admin.requests("DescribeContainerGroups")
    )


def polls_later(eci: EmulatorFixture, count: int = 3) -> None:
    """Wait until the operator has polled ECI `count` more times."""
    polls = poll_count(eci)
    wait_for(lambda: poll_count(eci) >= polls + count, what=f"{count} polls")


def phase_is(cluster: Cluster, name: str, phase: str) -> Callable[[], bool]:
    return lambda: cluster.status(name).get("phase") == phase


def test_create_reaches_running_with_status_and_conditions(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    created = cluster.apply(acg("web", web(), acrRegistryInfos=ACR, tags={"team": "payments"}))
    uid = created["metadata"]["uid"]
    wait_for(phase_is(cluster, "web", "Running"), what="phase Running")
    wait_for(lambda: cluster.condition("web", "Ready").get("status") == "True", what="Ready True")

    status = cluster.status("web")
    (group,) = groups_for(eci_emulator, uid)
    assert status["containerGroupId"] == group["ContainerGroupId"]
    assert status["intranetIp"] == group["IntranetIp"]
    assert status["observedGeneration"] == 1
    assert status["registries"] == [{"instanceId": "cri-nwj395hgf6f3abcd"}]
    assert status["containers"][0]["name"] == "web" and status["containers"][0]["ready"] is True
    ready, synced = cluster.condition("web", "Ready"), cluster.condition("web", "Synced")
    assert (ready["reason"], ready["observedGeneration"]) == ("Running", 1)
    assert (synced["status"], synced["observedGeneration"]) == ("True", 1)
    assert tags(group) == {
        "acr-eci-operator/uid": uid,
        "acr-eci-operator/namespace": cluster.namespace,
        "acr-eci-operator/name": "web",
        "team": "payments",
    }
    (create,) = eci_emulator.admin.requests("CreateContainerGroup")
    assert create["parameters"]["ClientToken"] == f"{uid}-0"
    assert create["parameters"]["AcrRegistryInfo.1.InstanceId"] == "cri-nwj395hgf6f3abcd"
    # ECI's events are re-posted on the resource, once each, however often the poller sees them.
    group_id = group["ContainerGroupId"]

    def reposted() -> list[str]:
        return [e.reason for e in cluster.events("web") if (e.message or "").startswith(f"{group_id}: ")]

    eci_events = eci_emulator.admin.group(group_id)["Events"]  # type: ignore[index]
    assert {"Scheduled", "Pulled", "Started"} <= {event["Reason"] for event in eci_events}
    wait_for(lambda: len(reposted()) == len(eci_events), what="every ECI event re-posted")
    polls_later(eci_emulator)
    assert sorted(reposted()) == sorted(event["Reason"] for event in eci_events)
    # kopf's own bookkeeping is not in status.
    assert set(status) <= {
        "containerGroupId", "regionId", "incarnation", "applied", "appliedHash", "appliedLists", "updateCount", "lastEventTime", "phase",
        "intranetIp", "internetIp", "observedGeneration", "registries", "containers", "conditions", "account",
        "createSent", "restart", "recreate",
    }  # fmt: skip


def running(cluster: Cluster, name: str = "web") -> str:
    """Wait until the resource's group is Running; its id."""
    wait_for(lambda: cluster.status(name).get("phase") == "Running", what=f"{name} Running")
    return str(cluster.status(name)["containerGroupId"])


def created(eci: EmulatorFixture) -> list[dict[str, Any]]:
    return [r for r in eci.admin.requests("CreateContainerGroup") if r["http_status"] == 200]


def event_reasons(cluster: Cluster, name: str) -> set[str]:
    return {event.reason for event in cluster.events(name)}


def test_a_failing_pull_shows_its_reason_on_the_resource(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("no-acr", web()))  # an ACR EE image, but no AcrRegistryInfo entry
    wait_for(
        lambda: cluster.condition("no-acr", "Ready").get("reason") in ("ErrImagePull", "ImagePullBackOff")
    )

    ready = cluster.condition("no-acr", "Ready")
    assert ready["status"] == "False"
    assert "cri-nwj395hgf6f3abcd" in ready["message"] or "testabcd" in ready["message"]
    container = cluster.status("no-acr")["containers"][0]
    assert container["state"] == "Waiting" and container["reason"] in ("ErrImagePull", "ImagePullBackOff")
    # Warned before the create: the image's domain is an ACR EE instance no entry covers.
    access = cluster.condition("no-acr", "RegistryAccess")
    assert (access["status"], access["reason"]) == ("False", "AcrRegistryInfoMissing")
    assert "spec.containers[0].image" in access["message"]
    wait_for(lambda: {"AcrRegistryInfoMissing", "Failed"} <= event_reasons(cluster, "no-acr"), what="events")
    assert cluster.status("no-acr")["phase"] == "Pending"


def test_a_mutable_change_updates_the_group_in_place(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    group_id = cluster.status("web")["containerGroupId"]

    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "MODE", "value": "prod"}]), "memory": 4}})
    wait_for(
        lambda: cluster.condition("web", "Synced").get("observedGeneration") == 2, what="generation 2 synced"
    )
    wait_for(phase_is(cluster, "web", "Running"))

    (update,) = eci_emulator.admin.requests("UpdateContainerGroup")
    assert update["http_status"] == 200
    assert update["parameters"]["ContainerGroupId"] == group_id
    assert update["parameters"]["Container.1.EnvironmentVar.1.Key"] == "MODE"
    assert update["parameters"]["Container.1.EnvironmentVar.1.Value"] == "prod"
    assert update["parameters"]["Memory"] == "4.0"
    status = cluster.status("web")
    assert status["containerGroupId"] == group_id and status["observedGeneration"] == 2
    assert len(created(eci_emulator)) == 1
    assert "Updated" in event_reasons(cluster, "web")


def test_an_immutable_change_is_refused_with_the_field_named(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a"))
    wait_for(phase_is(cluster, "web", "Running"))
    group_id = cluster.status("web")["containerGroupId"]

    # The test apiserver (1.20) ignores the CRD's CEL immutability rules, so the operator must refuse.
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "ImmutableFieldChanged")

    synced = cluster.condition("web", "Synced")
    assert synced["status"] == "False" and "spec.zoneId" in synced["message"]
    assert synced["observedGeneration"] == 2
    assert cluster.status("web")["containerGroupId"] == group_id
    assert len(created(eci_emulator)) == 1
    assert not eci_emulator.admin.requests("DeleteContainerGroup")
    assert not eci_emulator.admin.requests("UpdateContainerGroup")

    # Reverting the change heals it.
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-a"}})
    wait_for(lambda: cluster.condition("web", "Synced").get("status") == "True")


def test_recreate_replaces_the_group_under_a_new_client_token(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(
        acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a", updateStrategy="Recreate")
    )
    uid = body["metadata"]["uid"]
    wait_for(phase_is(cluster, "web", "Running"))
    old_id = cluster.status("web")["containerGroupId"]

    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})
    wait_for(
        lambda: cluster.status("web").get("containerGroupId") not in (None, old_id), what="a new group id"
    )
    wait_for(phase_is(cluster, "web", "Running"))

    status = cluster.status("web")
    assert status["incarnation"] == 1
    (delete,) = eci_emulator.admin.requests("DeleteContainerGroup")
    assert delete["parameters"]["ContainerGroupId"] == old_id
    first, second = created(eci_emulator)
    assert (first["parameters"]["ClientToken"], second["parameters"]["ClientToken"]) == (
        f"{uid}-0",
        f"{uid}-1",
    )
    assert second["parameters"]["ZoneId"] == "cn-beijing-b"
    assert [g["ContainerGroupId"] for g in groups_for(eci_emulator, uid)] == [status["containerGroupId"]]
    assert "Recreating" in event_reasons(cluster, "web")


@pytest.mark.parametrize("restart_policy", ["Always", "OnFailure"])
def test_a_group_deleted_behind_our_back_is_recreated(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, restart_policy: str
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR, restartPolicy=restart_policy))
    wait_for(phase_is(cluster, "web", "Running"))
    old_id = cluster.status("web")["containerGroupId"]

    eci_emulator.admin.delete_group(old_id)
    wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, old_id), what="a new group")
    wait_for(phase_is(cluster, "web", "Running"))

    assert cluster.status("web")["incarnation"] == 1
    assert len(groups_for(eci_emulator, body["metadata"]["uid"])) == 1
    assert "ContainerGroupLost" in event_reasons(cluster, "web")


def test_an_expired_spot_group_is_recreated(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    old_id = cluster.status("web")["containerGroupId"]

    eci_emulator.admin.expire_group(old_id)
    wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, old_id), what="a new group")
    wait_for(phase_is(cluster, "web", "Running"))
    assert cluster.status("web")["incarnation"] == 1


@pytest.mark.parametrize("restart_policy", ["Never", "OnFailure"])
def test_a_group_that_succeeded_keeps_its_final_status_when_it_vanishes(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, restart_policy: str
) -> None:
    operator = start_operator()
    job = web(
        env=[
            {"name": "ECI_EMULATOR_EXIT_CODE", "value": "0"},
            {"name": "ECI_EMULATOR_RUN_SECONDS", "value": "0.5"},
        ]
    )
    cluster.apply(acg("job", job, acrRegistryInfos=ACR, restartPolicy=restart_policy))
    wait_for(phase_is(cluster, "job", "Succeeded"))
    group_id = cluster.status("job")["containerGroupId"]
    assert cluster.condition("job", "Ready")["reason"] == "Succeeded"
    assert cluster.status("job")["containers"][0]["exitCode"] == 0

    eci_emulator.admin.delete_group(group_id)
    wait_for(
        lambda: "keeping its final status" in operator.log(), what="the operator noticing the group is gone"
    )
    polls_later(eci_emulator)
    status = cluster.status("job")
    assert (status["phase"], status["containerGroupId"]) == ("Succeeded", group_id)
    assert cluster.condition("job", "Ready")["reason"] == "Succeeded"
    assert len(created(eci_emulator)) == 1


def test_a_failed_never_group_is_not_run_again(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    job = web(
        env=[
            {"name": "ECI_EMULATOR_EXIT_CODE", "value": "3"},
            {"name": "ECI_EMULATOR_RUN_SECONDS", "value": "0.3"},
        ]
    )
    cluster.apply(acg("job", job, acrRegistryInfos=ACR, restartPolicy="Never"))
    wait_for(phase_is(cluster, "job", "Failed"))
    assert cluster.status("job")["containers"][0]["exitCode"] == 3
    assert cluster.condition("job", "Ready")["status"] == "False"
    assert len(created(eci_emulator)) == 1


def test_delete_removes_the_group_then_the_finalizer(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    assert "eci.acr-operator.dev/finalizer" in (cluster.get("web") or {})["metadata"]["finalizers"]
    group_id = cluster.status("web")["containerGroupId"]

    cluster.delete("web")
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    (delete,) = eci_emulator.admin.requests("DeleteContainerGroup")
    assert delete["parameters"]["ContainerGroupId"] == group_id and delete["http_status"] == 200
    assert groups_for(eci_emulator, body["metadata"]["uid"]) == []


def test_orphan_leaves_the_group_running_and_tagged(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR, deletionPolicy="Orphan"))
    wait_for(phase_is(cluster, "web", "Running"))

    cluster.delete("web")
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    assert not eci_emulator.admin.requests("DeleteContainerGroup")
    uid = body["metadata"]["uid"]
    assert groups_for(eci_emulator, uid) == []  # no resource owns it any more
    (group,) = orphaned_groups(eci_emulator, uid)
    assert tags(group)["acr-eci-operator/name"] == "web"
    # The tag update passes through Updating; the group keeps running.
    wait_for(lambda: orphaned_groups(eci_emulator, uid)[0]["Status"] == "Running")


def test_a_delete_that_cannot_succeed_keeps_the_finalizer_until_orphaned(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    eci_emulator.admin.set_fault("DeleteContainerGroup", error_code="Forbidden.RAM", http_status=403)

    cluster.delete("web")
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "Forbidden.RAM", what="Synced False")
    synced = cluster.condition("web", "Synced")
    assert "deletionPolicy: Orphan" in synced["message"]
    assert cluster.get("web") is not None
    assert len(groups_for(eci_emulator, body["metadata"]["uid"])) == 1

    # The way out the condition names: orphan the terminating resource.
    cluster.patch("web", {"spec": {"deletionPolicy": "Orphan"}})
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    assert len(orphaned_groups(eci_emulator, body["metadata"]["uid"])) == 1


def test_changing_an_operator_default_does_not_flag_existing_groups(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    first = start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))  # security group and vSwitch from the defaults
    wait_for(phase_is(cluster, "web", "Running"))
    assert cluster.condition("web", "Synced")["reason"] == "Created"
    first.stop()

    start_operator(ECI_DEFAULT_SECURITY_GROUP_ID="sg-another0default", ECI_DEFAULT_VSWITCH_IDS="vsw-another")
    polls_later(eci_emulator)
    synced = cluster.condition("web", "Synced")
    assert (synced["status"], synced["reason"]) == ("True", "Created")
    assert len(created(eci_emulator)) == 1
    assert not eci_emulator.admin.requests("UpdateContainerGroup")


def test_a_schedule_failed_group_is_replaced_when_its_spec_changes(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_fault("CreateContainerGroup", schedule_failure_rate=1.0, rate=0.0)
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a"))
    wait_for(phase_is(cluster, "web", "ScheduleFailed"))
    failed_id = cluster.status("web")["containerGroupId"]
    assert cluster.condition("web", "Ready")["status"] == "False"

    # Another zone: immutable on a live group, but this one has ended, so a new one is made (InPlace).
    eci_emulator.admin.clear_faults()
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})
    wait_for(phase_is(cluster, "web", "Running"))
    assert cluster.status("web")["containerGroupId"] != failed_id
    assert created(eci_emulator)[-1]["parameters"]["ZoneId"] == "cn-beijing-b"


def test_a_restart_over_resources_in_sync_writes_nothing(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    first = start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    polls_later(eci_emulator)
    first.stop()
    settled = (cluster.get("web") or {})["metadata"]["resourceVersion"]

    start_operator()
    # Poll calls are made only for tracked groups: three more mean the resource was resumed and polled.
    polls_later(eci_emulator)
    assert (cluster.get("web") or {})["metadata"]["resourceVersion"] == settled
    assert len(created(eci_emulator)) == 1
