"""Crash safety and economy: a SIGKILL mid-create, and a burst against a throttling, failing ECI."""

from __future__ import annotations

from typing import Any

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import GROUP, PLURAL, VERSION, Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, groups_for, phase_is, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


@pytest.mark.parametrize("restart", ["token-known", "token-maybe-forgotten", "status-of-last-release"])
def test_sigkill_right_after_the_create_was_sent_leaves_exactly_one_group(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, restart: str
) -> None:
    # ECI takes 2 s to answer the create: the operator dies while its request is in flight.
    eci_emulator.admin.set_fault("CreateContainerGroup", latency_seconds=2.0, rate=0.0)
    operator = start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    uid = body["metadata"]["uid"]
    wait_for(lambda: "creating container group" in operator.log(), what="the create being sent")
    operator.kill()
    # ECI still completes the create; the operator never saw the answer, so status has no group id.
    wait_for(lambda: eci_emulator.admin.requests("CreateContainerGroup"), what="ECI finishing the create")
    assert "containerGroupId" not in cluster.status("web")
    assert cluster.status("web")["createSent"]["incarnation"] == 0

    eci_emulator.admin.clear_faults()
    eci_emulator.admin.clear_requests()
    env = {}
    if restart == "token-maybe-forgotten":
        env["ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS"] = "0"  # the create was sent longer ago than that
    elif restart == "status-of-last-release":
        # The last release recorded no create: a status without createSent may hide one.
        cluster.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, cluster.namespace, PLURAL, "web", {"status": {"createSent": None}}
        )
    restarted = start_operator(**env)
    wait_for(phase_is(cluster, "web", "Running"))
    groups = groups_for(eci_emulator, uid)
    assert len(groups) == 1
    assert cluster.status("web")["containerGroupId"] == groups[0]["ContainerGroupId"]
    # Any create sent after the restart carried the same ClientToken, so ECI returned the same group.
    assert {r["parameters"]["ClientToken"] for r in eci_emulator.admin.requests("CreateContainerGroup")} <= {
        f"{uid}-0"
    }
    looked_up = [
        r
        for r in eci_emulator.admin.requests("DescribeContainerGroups")
        if r["parameters"].get("Tag.1.Value") == uid
    ]
    if restart == "token-known":
        # ECI still knows the token: the create is sent again and answered with the group it made.
        assert not looked_up
        assert "adopted group" not in restarted.log()
        assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 1
    else:
        assert looked_up
        assert "adopted group" in restarted.log()
        assert not eci_emulator.admin.requests("CreateContainerGroup")


def test_a_burst_of_50_against_throttling_and_20_percent_failures(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    admin = eci_emulator.admin
    admin.set_rate_limit("CreateContainerGroup", rate=10, burst=5)
    admin.set_rate_limit("DeleteContainerGroup", rate=10, burst=5)
    admin.set_fault("*", error_code="ServiceUnavailable", http_status=503, rate=0.2)
    start_operator()
    names = [f"burst-{index:02d}" for index in range(50)]
    uids = {name: cluster.apply(acg(name, web(), acrRegistryInfos=ACR))["metadata"]["uid"] for name in names}

    def all_running() -> bool:
        return all(cluster.status(name).get("phase") == "Running" for name in names)

    wait_for(all_running, timeout=240, interval=1.0, what="all 50 Running")
    requests = admin.requests()
    assert any(r["error_code"] == "Throttling.User" for r in requests), "the burst was never throttled"
    assert any(r["error_code"] == "ServiceUnavailable" for r in requests), "no fault was injected"
    live = admin.groups()
    for name, uid in uids.items():
        mine = [
            g
            for g in live
            if {t["Key"]: t["Value"] for t in g.get("Tags") or []}.get("acr-eci-operator/uid") == uid
        ]
        assert len(mine) == 1, f"{name} has {len(mine)} groups"
        assert cluster.status(name)["containerGroupId"] == mine[0]["ContainerGroupId"]

    for name in names:
        cluster.delete(name)
    wait_for(
        lambda: all(cluster.get(name) is None for name in names),
        timeout=240,
        interval=1.0,
        what="all deleted",
    )
    leftover: list[dict[str, Any]] = [g for g in admin.groups() if g["Status"] not in ("Terminating",)]
    assert leftover == []


def test_a_group_adopted_after_a_crash_is_checked_against_the_immutable_fields(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    # The create of zone a lands while the operator dies; the spec moves to zone b before it restarts.
    eci_emulator.admin.set_fault("CreateContainerGroup", latency_seconds=2.0, rate=0.0)
    operator = start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a"))
    wait_for(lambda: "creating container group" in operator.log(), what="the create being sent")
    operator.kill()
    wait_for(lambda: eci_emulator.admin.requests("CreateContainerGroup"), what="ECI finishing the create")
    eci_emulator.admin.clear_faults()
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})
    start_operator()
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "ImmutableFieldChanged")
    assert "spec.zoneId" in cluster.condition("web", "Synced")["message"]
    assert len(eci_emulator.admin.requests("CreateContainerGroup")) == 1
