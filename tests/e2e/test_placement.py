"""Workloads II end to end: public access, spot (fallback, reclaim), instance types in preference order,
immutable placement edits refused by name. What reached ECI is read from the emulator."""

from __future__ import annotations

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, polls_later, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def running(cluster: Cluster, name: str = "web") -> str:
    wait_for(lambda: cluster.status(name).get("phase") == "Running", what=f"{name} Running")
    return str(cluster.status(name)["containerGroupId"])


def created(eci: EmulatorFixture) -> list[dict[str, str]]:
    return [dict(request["parameters"]) for request in eci.admin.requests("CreateContainerGroup")]


def test_an_eip_group_shows_its_internet_ip(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, eip={"autoCreate": True, "bandwidth": 10}))
    running(cluster)
    (params,) = created(eci_emulator)
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
    assert len(created(eci_emulator)) == 1
