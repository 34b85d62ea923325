"""Workloads II end to end: public access, spot (fallback, reclaim), instance types in preference order,
immutable placement edits refused by name. What reached ECI is read from the emulator."""

from __future__ import annotations

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, polls_later, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def create_requests(eci: EmulatorFixture) -> list[dict[str, str]]:
    """The parameters of every CreateContainerGroup the emulator received, refused ones included."""
    return [dict(request["parameters"]) for request in eci.admin.requests("CreateContainerGroup")]


def test_an_eip_group_shows_its_internet_ip(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, eip={"autoCreate": True, "bandwidth": 10}))
    running(cluster)
    (params,) = create_requests(eci_emulator)
    assert (params["AutoCreateEip"], params["EipBandwidth"]) == ("true", "10")
    wait_for(lambda: cluster.status("web").get("internetIp"), what="the internet IP in status")


def test_an_immutable_placement_edit_is_refused_by_name(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    spot = {"strategy": "SpotAsPriceGo"}
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, spot=spot, hostName="web-a"))
    running(cluster)
    assert cluster.status("web")["capacity"] == "Spot"
    # The 1.20 test apiserver does not run the CRD's CEL rules: the operator's own check answers.
    cluster.patch("web", {"spec": {"hostName": "web-b"}})
    wait_for(
        lambda: cluster.condition("web", "Synced").get("reason") == "ImmutableFieldChanged", what="refused"
    )
    assert "spec.hostName" in cluster.condition("web", "Synced")["message"]
    polls_later(eci_emulator)
    assert not eci_emulator.admin.requests("UpdateContainerGroup")
    assert len(create_requests(eci_emulator)) == 1


def test_without_spot_stock_the_fallback_runs_an_on_demand_group(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    eci_emulator.admin.set_stock(spot=True, available=False)  # no spot anywhere
    spot = {"strategy": "SpotAsPriceGo", "fallbackToOnDemand": True}
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, spot=spot))
    group_id = running(cluster)
    assert cluster.status("web")["capacity"] == "OnDemand"
    first, second = create_requests(eci_emulator)
    assert (first["SpotStrategy"], second["SpotStrategy"]) == ("SpotAsPriceGo", "NoSpot")
    assert second["ClientToken"].endswith("-od")
    assert (eci_emulator.admin.group_spec(group_id) or {})["SpotStrategy"] == "NoSpot"
    assert "SpotFallback" in {event.reason for event in cluster.events("web")}


def spot_fallback_resource() -> dict[str, object]:
    spot = {"strategy": "SpotAsPriceGo", "fallbackToOnDemand": True}
    return acg("web", web(), acrRegistryInfos=ACR, spot=spot)


def test_a_spot_group_eci_accepted_but_could_not_place_is_replaced_on_demand(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    # ECI accepts the spot create and only later reports it ScheduleFailed for want of stock.
    eci_emulator.admin.set_fault("CreateContainerGroup", schedule_failure_rate=1.0, rate=0.0, times=1)
    start_operator()
    cluster.apply(spot_fallback_resource())
    group_id = running(cluster)
    status = cluster.status("web")
    assert status["capacity"] == "OnDemand" and "nextCapacity" not in status
    first, second = create_requests(eci_emulator)
    uid = (cluster.get("web") or {})["metadata"]["uid"]
    assert (first["SpotStrategy"], first["ClientToken"]) == ("SpotAsPriceGo", f"{uid}-0")
    assert (second["SpotStrategy"], second["ClientToken"]) == ("NoSpot", f"{uid}-1-od")
    assert (eci_emulator.admin.group_spec(group_id) or {})["SpotStrategy"] == "NoSpot"
    (deleted,) = eci_emulator.admin.deletions()
    assert deleted["ContainerGroupId"] != group_id
    assert {"SpotFallback"} <= {event.reason for event in cluster.events("web")}


def test_a_restart_while_the_unplaced_spot_group_is_deleted_still_creates_on_demand(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_fault("CreateContainerGroup", schedule_failure_rate=1.0, rate=0.0, times=1)
    eci_emulator.admin.set_fault("DeleteContainerGroup", latency_seconds=30.0, rate=0.0, times=1)
    operator = start_operator()
    cluster.apply(spot_fallback_resource())
    # Written before the delete of the ScheduleFailed spot group is sent (which then hangs).
    wait_for(lambda: cluster.status("web").get("nextCapacity") == "OnDemand", what="the fallback decided")
    operator.kill()
    start_operator()
    running(cluster)
    assert cluster.status("web")["capacity"] == "OnDemand"
    spot_strategies = [params["SpotStrategy"] for params in create_requests(eci_emulator)]
    assert spot_strategies == ["SpotAsPriceGo", "NoSpot"]


def test_spot_without_fallback_waits_for_stock_and_names_the_reason(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    eci_emulator.admin.set_stock(spot=True, available=False)
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, spot={"strategy": "SpotAsPriceGo"}))
    wait_for(
        lambda: cluster.condition("web", "Synced").get("reason") == "OperationDenied.NoStock", what="named"
    )
    assert all(params["SpotStrategy"] == "SpotAsPriceGo" for params in create_requests(eci_emulator))
    eci_emulator.admin.set_stock(spot=True, available=True)
    running(cluster)
    assert cluster.status("web")["capacity"] == "Spot"


def test_the_first_instance_type_without_stock_gives_way_to_the_second(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    eci_emulator.admin.set_stock(instance_type="ecs.c6.large", available=False)
    types = ["ecs.c6.large", "ecs.g6.large"]
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, instanceTypes=types))
    group_id = running(cluster)
    (params,) = create_requests(eci_emulator)
    assert params["InstanceType"] == "ecs.c6.large,ecs.g6.large"
    assert (eci_emulator.admin.group_spec(group_id) or {})["InstanceType"] == "ecs.g6.large"
    assert cluster.status("web")["applied"]["instanceTypes"] == "ecs.c6.large,ecs.g6.large"


def test_a_reclaimed_spot_group_is_replaced_and_the_resource_says_why(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    spot = {"strategy": "SpotAsPriceGo", "durationHours": 0}
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, spot=spot))
    group_id = running(cluster)
    eci_emulator.admin.reclaim_spot(group_id, after_seconds=180)  # the warning now, the reclaim in 3 min
    wait_for(
        lambda: "SpotToBeReleased" in {e.reason for e in cluster.events("web")}, what="the warning event"
    )
    assert cluster.status("web")["containerGroupId"] == group_id
    eci_emulator.admin.advance_clock(181)
    wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, group_id), what="replaced")
    lost = [e for e in cluster.events("web") if e.reason == "ContainerGroupLost"]
    assert lost and "reclaimed" in lost[0].message
    running(cluster)


def test_the_active_deadline_ends_the_group_failed(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, activeDeadlineSeconds=60))
    group_id = running(cluster)
    eci_emulator.admin.advance_clock(61)
    wait_for(lambda: cluster.status("web").get("phase") == "Failed", what="Failed")
    assert cluster.condition("web", "Ready")["reason"] == "DeadlineExceeded"
    polls_later(eci_emulator)
    assert cluster.status("web")["containerGroupId"] == group_id  # ended, not run again
    eci_emulator.admin.advance_clock(3601)  # ECI forgets ended groups after about an hour
    polls_later(eci_emulator)
    assert len(create_requests(eci_emulator)) == 1
    assert cluster.condition("web", "Synced").get("reason") != "ContainerGroupLost"


def test_a_matched_image_cache_shows_in_status_and_an_auto_created_eip_goes_with_the_group(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    image = web()[0]["image"]
    eci_emulator.admin.add_image_cache("imc-web1", [image])
    spec = {"imageCache": {"autoMatch": True}, "eip": {"autoCreate": True}}
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, **spec))
    group_id = running(cluster)
    wait_for(lambda: cluster.status("web").get("imageCache") == "imc-web1", what="the cache in status")
    cluster.delete("web")
    wait_for(lambda: cluster.get("web") is None, what="deleted")
    (eip,) = [e for e in eci_emulator.admin.eips() if e["ContainerGroupId"] == group_id]
    assert eip["AutoCreated"] and eip["Status"] == "Released"
