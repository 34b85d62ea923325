"""DescribeContainerGroups listing: NextToken paging and the filters."""

from __future__ import annotations

import json
from collections.abc import Callable

from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupStatusRequest import (
    DescribeContainerGroupStatusRequest,
)

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import Call


def test_paging_with_next_token(
    call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]
) -> None:
    created = [create(name=f"group-{n}") for n in range(45)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"Limit": 20, **({"NextToken": token} if token else {})}
        answer = call(DescribeContainerGroupsRequest, **params)
        assert answer["TotalCount"] == 45
        seen += [group["ContainerGroupId"] for group in answer["ContainerGroups"]]
        pages += 1
        token = answer["NextToken"]
        if not token:
            break
    assert pages == 3
    assert seen == created


def test_ids_with_unknown_ones_return_the_known(call: Call, create: Callable[..., str]) -> None:
    group_id = create()
    answer = call(
        DescribeContainerGroupsRequest, ContainerGroupIds=json.dumps([group_id, "eci-gone0000000000000000"])
    )
    assert [group["ContainerGroupId"] for group in answer["ContainerGroups"]] == [group_id]


def test_filters(call: Call, eci_emulator: EmulatorFixture, create: Callable[..., str]) -> None:
    tagged = create(
        name="tagged", **{"Tag.1.Key": "acr-eci-operator/uid", "Tag.1.Value": "u-1"}, VSwitchId="vsw-a"
    )
    create(name="other", **{"Tag.1.Key": "acr-eci-operator/uid", "Tag.1.Value": "u-2"})
    by_tag = call(
        DescribeContainerGroupsRequest, **{"Tag.1.Key": "acr-eci-operator/uid", "Tag.1.Value": "u-1"}
    )
    assert [group["ContainerGroupId"] for group in by_tag["ContainerGroups"]] == [tagged]
    by_key = call(DescribeContainerGroupsRequest, **{"Tag.1.Key": "acr-eci-operator/uid"})
    assert by_key["TotalCount"] == 2
    assert call(DescribeContainerGroupsRequest, ContainerGroupName="other")["TotalCount"] == 1
    assert call(DescribeContainerGroupsRequest, VSwitchId="vsw-a")["TotalCount"] == 1
    assert call(DescribeContainerGroupsRequest, Status="Scheduling")["TotalCount"] == 2
    eci_emulator.advance_clock(1)
    assert call(DescribeContainerGroupsRequest, Status="Running")["TotalCount"] == 2
    data = call(
        DescribeContainerGroupStatusRequest, **{"Tag.1.Key": "acr-eci-operator/uid", "Tag.1.Value": "u-2"}
    )
    assert len(data["Data"]) == 1
