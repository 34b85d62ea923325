"""Change-driven polling end to end: a quiet group costs one DescribeContainerGroupStatus with SinceSecond
per status interval (for all groups of an account and region), and a change, even one that is only an
event, reaches the resource within that interval, long before the full listing."""

from __future__ import annotations

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, polls_later, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

CHANGES_ONLY = {"ECI_POLL_INTERVAL_SECONDS": "600", "ECI_STATUS_POLL_INTERVAL_SECONDS": "0.5"}
"""A full listing at start, then none for 10 minutes: what the resource learns, it learns from changes."""


def test_quiet_groups_cost_one_call_per_interval_and_a_change_arrives_within_it(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator(**CHANGES_ONLY)
    spot = {"strategy": "SpotAsPriceGo", "durationHours": 0}
    for name in ("web-a", "web-b", "web-c"):
        cluster.apply(acg(name, web(), acrRegistryInfos=ACR, spot=spot))
    group_ids = [running(cluster, name) for name in ("web-a", "web-b", "web-c")]
    eci_emulator.admin.advance_clock(30)  # every change is now older than any SinceSecond asked for
    polls_later(eci_emulator, 4)

    eci_emulator.admin.clear_requests()
    polls_later(eci_emulator, 6)
    quiet = eci_emulator.admin.requests()
    assert {request["action"] for request in quiet} == {"DescribeContainerGroupStatus"}
    assert all("SinceSecond" in request["parameters"] for request in quiet)
    assert all("ContainerGroupIds" not in request["parameters"] for request in quiet)

    # An event alone (ECI's advance warning of a spot reclaim) is a change: it arrives by SinceSecond.
    eci_emulator.admin.reclaim_spot(group_ids[1], after_seconds=180)
    wait_for(
        lambda: "SpotToBeReleased" in {event.reason for event in cluster.events("web-b")},
        timeout=15,
        what="the warning on the resource",
    )
    described = [
        request["parameters"]["ContainerGroupIds"]
        for request in eci_emulator.admin.requests("DescribeContainerGroups")
    ]
    assert described and all(ids == f'["{group_ids[1]}"]' for ids in described)
    assert not {"SpotToBeReleased"} & {event.reason for event in cluster.events("web-a")}


def test_a_group_deleted_behind_the_operators_back_is_noticed_by_the_full_listing(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator(ECI_POLL_INTERVAL_SECONDS="3", ECI_STATUS_POLL_INTERVAL_SECONDS="0.5")
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    group_id = running(cluster)
    eci_emulator.admin.delete_group(group_id)
    wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, group_id), what="replaced")
    lost = [event for event in cluster.events("web") if event.reason == "ContainerGroupLost"]
    assert lost and group_id in lost[0].message
    # Confirmed by id before it counted as gone.
    assert any(
        group_id in str(request["parameters"].get("ContainerGroupIds"))
        for request in eci_emulator.admin.requests("DescribeContainerGroups")
    )
