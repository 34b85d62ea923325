"""Restart and recreate on request: the annotations eci.acr-operator.dev/restartedAt and recreatedAt, each
value carried out once, across a crash and an upgrade from the last release."""

from __future__ import annotations

from typing import Any

import pytest

from acr_eci_operator.models import ANNOTATION_RECREATED_AT, ANNOTATION_RESTARTED_AT
from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import GROUP, PLURAL, VERSION, Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, groups_for, polls_later, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

T1, T2 = "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"


def annotate(cluster: Cluster, name: str, annotation: str, value: str | None) -> None:
    cluster.patch(name, {"metadata": {"annotations": {annotation: value}}})


def restarts(eci: EmulatorFixture) -> list[dict[str, Any]]:
    return eci.admin.requests("RestartContainerGroup")


def restart_record(cluster: Cluster, name: str = "web") -> dict[str, Any]:
    return cluster.status(name).get("restart") or {}


def restart_count(eci: EmulatorFixture, group_id: str) -> int:
    group = eci.admin.group(group_id) or {}
    return int(group["Containers"][0]["RestartCount"])


def event_messages(cluster: Cluster, name: str, reason: str) -> list[str]:
    return [event.message or "" for event in cluster.events(name) if event.reason == reason]


def test_each_new_restartedAt_value_restarts_the_group_once(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    group_id = running(cluster)
    # Nothing asked yet: the record is there, so that a first value is known to be new.
    assert restart_record(cluster) == {
        "containerGroupId": group_id,
        "at": restart_record(cluster)["at"],
        "result": "NotNeeded",
    }

    annotate(cluster, "web", ANNOTATION_RESTARTED_AT, T1)
    wait_for(lambda: restart_record(cluster).get("result") == "Restarted", what="restart recorded")
    (sent,) = restarts(eci_emulator)
    assert sent["http_status"] == 200 and sent["parameters"]["ContainerGroupId"] == group_id
    record = restart_record(cluster)
    assert (record["requested"], record["containerGroupId"]) == (T1, group_id)
    synced = cluster.condition("web", "Synced")
    assert (synced["status"], synced["reason"]) == ("True", "Restarted")
    assert T1 in synced["message"]
    wait_for(lambda: event_messages(cluster, "web", "Restarted"), what="a Restarted event")
    assert group_id in event_messages(cluster, "web", "Restarted")[0]
    wait_for(lambda: cluster.status("web").get("phase") == "Running", what="Running again")
    wait_for(lambda: cluster.condition("web", "Ready").get("status") == "True", what="Ready again")
    polls_later(eci_emulator)
    assert len(restarts(eci_emulator)) == 1
    assert restart_count(eci_emulator, group_id) == 1
    assert cluster.status("web")["containerGroupId"] == group_id  # restarted in place, not replaced

    # Another value: one more restart; removing the annotation asks for nothing.
    annotate(cluster, "web", ANNOTATION_RESTARTED_AT, T2)
    wait_for(lambda: restart_record(cluster).get("requested") == T2, what="second restart")
    wait_for(lambda: restart_record(cluster).get("result") == "Restarted", what="second restart done")
    annotate(cluster, "web", ANNOTATION_RESTARTED_AT, None)
    wait_for(lambda: cluster.status("web").get("phase") == "Running", what="Running again")
    polls_later(eci_emulator)
    assert len(restarts(eci_emulator)) == 2
    assert len({r["parameters"]["ClientToken"] for r in restarts(eci_emulator)}) == 2


def test_a_restart_asked_before_the_group_existed_is_not_carried_out(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = acg("web", web(), acrRegistryInfos=ACR)
    body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
    cluster.apply(body)
    group_id = running(cluster)
    record = restart_record(cluster)
    assert (record["requested"], record["containerGroupId"], record["result"]) == (T1, group_id, "NotNeeded")
    polls_later(eci_emulator)
    assert restarts(eci_emulator) == []


def test_a_restart_asked_while_the_group_is_scheduling_waits_then_runs_once(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_timings(scheduling_seconds=3600)  # virtual seconds: Scheduling until we say
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.status("web").get("phase") == "Scheduling", what="Scheduling")
    annotate(cluster, "web", ANNOTATION_RESTARTED_AT, T1)
    wait_for(
        lambda: cluster.condition("web", "Synced").get("reason") == "Waiting", what="the restart waiting"
    )
    assert "restart" in cluster.condition("web", "Synced")["message"]
    polls_later(eci_emulator)
    assert restarts(eci_emulator) == []
    eci_emulator.admin.advance_clock(3600)
    wait_for(lambda: restart_record(cluster).get("result") == "Restarted", what="restart once Running")
    polls_later(eci_emulator)
    assert len(restarts(eci_emulator)) == 1


def test_sigkill_after_the_restart_reached_eci_does_not_restart_twice(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    group_id = running(cluster)
    # ECI restarts the group at once but its answer takes 3 s back: the operator dies before it arrives.
    eci_emulator.admin.set_timings(restarting_seconds=3600)  # Restarting until we say
    eci_emulator.admin.set_fault("RestartContainerGroup", response_delay_seconds=3.0, rate=0.0)
    annotate(cluster, "web", ANNOTATION_RESTARTED_AT, T1)
    wait_for(lambda: restarts(eci_emulator), what="ECI restarting the group")
    operator.kill()
    record = restart_record(cluster)
    assert (record["requested"], record["containerGroupId"], record["result"]) == (T1, group_id, "Sending")
    wait_for(lambda: (eci_emulator.admin.group(group_id) or {}).get("Status") == "Restarting")

    eci_emulator.admin.clear_faults()
    restarted = start_operator()
    # Still Restarting: the restart waits for Running; then it is sent again with the same token.
    wait_for(
        lambda: cluster.condition("web", "Synced").get("reason") == "Waiting", what="waiting for Running"
    )
    assert len(restarts(eci_emulator)) == 1
    eci_emulator.admin.advance_clock(3600)
    wait_for(lambda: restart_record(cluster).get("result") == "Restarted", what="restart recorded")
    assert "sent again with the same token" in restarted.log()
    sent = restarts(eci_emulator)
    assert len(sent) == 2 and all(r["http_status"] == 200 for r in sent)
    assert len({r["parameters"]["ClientToken"] for r in sent}) == 1
    wait_for(lambda: cluster.status("web").get("phase") == "Running", what="Running again")
    polls_later(eci_emulator)
    assert restart_count(eci_emulator, group_id) == 1  # ECI restarted it once
    assert len(restarts(eci_emulator)) == 2


def test_an_upgrade_from_the_last_release_restarts_nothing(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator()
    body = acg("web", web(), acrRegistryInfos=ACR)
    body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
    cluster.apply(body)
    group_id = running(cluster)
    operator.stop()
    # The status the last release wrote: no request records (it ignored the annotations).
    cluster.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, cluster.namespace, PLURAL, "web", {"status": {"restart": None, "recreate": None}}
    )
    assert "restart" not in cluster.status("web")

    start_operator()
    wait_for(lambda: restart_record(cluster).get("requested") == T1, what="the value adopted")
    assert restart_record(cluster)["result"] == "NotNeeded"
    wait_for(lambda: event_messages(cluster, "web", "RequestsAdopted"), what="a RequestsAdopted event")
    polls_later(eci_emulator)
    assert restarts(eci_emulator) == []

    # A value set after the upgrade is a request.
    annotate(cluster, "web", ANNOTATION_RESTARTED_AT, T2)
    wait_for(lambda: restart_record(cluster).get("result") == "Restarted", what="restart")
    assert [r["parameters"]["ContainerGroupId"] for r in restarts(eci_emulator)] == [group_id]


def test_recreatedAt_replaces_the_group_once_under_recreate_and_is_refused_in_place(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    created = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    uid = created["metadata"]["uid"]
    old = running(cluster)

    annotate(cluster, "web", ANNOTATION_RECREATED_AT, T1)
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "RecreateNotAllowed", what="refusal")
    assert "updateStrategy: Recreate" in cluster.condition("web", "Synced")["message"]
    polls_later(eci_emulator)
    assert eci_emulator.admin.requests("DeleteContainerGroup") == []

    cluster.patch("web", {"spec": {"updateStrategy": "Recreate"}})
    wait_for(
        lambda: (cluster.status("web").get("recreate") or {}).get("result") == "Recreated", what="recreated"
    )
    new = running(cluster)
    assert new != old
    record = cluster.status("web")["recreate"]
    assert (record["requested"], record["containerGroupId"]) == (T1, new)
    assert [
        r["parameters"]["ContainerGroupId"] for r in eci_emulator.admin.requests("DeleteContainerGroup")
    ] == [old]
    creates = [r for r in eci_emulator.admin.requests("CreateContainerGroup") if r["http_status"] == 200]
    assert [r["parameters"]["ClientToken"] for r in creates] == [f"{uid}-0", f"{uid}-1"]
    assert {r["parameters"]["ContainerGroupName"] for r in creates} == {"web"}
    assert [g["ContainerGroupId"] for g in groups_for(eci_emulator, uid)] == [new]
    assert any(old in message for message in event_messages(cluster, "web", "Recreating"))
    polls_later(eci_emulator)
    assert len(eci_emulator.admin.requests("DeleteContainerGroup")) == 1
    assert restarts(eci_emulator) == []
