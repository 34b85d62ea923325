"""Two replicas briefly both active (a hand-over) creating the same new resource, in process: fake
Kubernetes with resource versions, one fake ECI."""

from __future__ import annotations

import asyncio
from typing import Any

from acr_eci_operator.accounts import Accounts
from acr_eci_operator.controller import NO_STOCK, TAG_UID, Controller, Entry, Resource
from acr_eci_operator.credentials import credentials_from_env
from acr_eci_operator.eci import EciError
from tests.unit.test_account_and_poll_faults import ENV, SETTINGS, UID, FakeKube, noop
from tests.unit.test_restart_requests import ReadBefore


class StockEci:
    """Groups by ClientToken (a known token answers its group). Spot has no stock until `stock`."""

    def __init__(self) -> None:
        self.stock = False
        self.groups: dict[str, tuple[str, str]] = {}  # id -> (token, SpotStrategy)

    async def create_container_group(self, region_id: str, params: Any, give_up_on: Any = frozenset()) -> str:
        token = params["ClientToken"]
        for group_id, (held, _) in self.groups.items():
            if held == token:
                return group_id
        if params.get("SpotStrategy") not in (None, "NoSpot") and not self.stock:
            raise EciError("CreateContainerGroup", NO_STOCK, "no spot stock", http_status=403)
        group_id = f"eci-{len(self.groups) + 1}"
        self.groups[group_id] = (token, params.get("SpotStrategy"))
        return group_id

    async def find_container_groups_by_tag(self, region_id: str, key: str, value: str) -> list[Any]:
        return [
            {"ContainerGroupId": g, "Status": "Pending", "Tags": [{"Key": TAG_UID, "Value": UID}]}
            for g in self.groups
        ]


def test_two_replicas_first_create_with_spot_fallback_make_one_group() -> None:
    """A and B both read the new resource (status empty). A: spot, no stock, on demand (its own token)
    -> eci-1. Stock comes back. B, whose read predates A's writes, sent spot with the first token -> eci-2,
    written over eci-1, which ran on named by no status. B's createSent write is conditional on the
    version it read: it fails, B reads afresh and finds eci-1."""

    async def run() -> None:
        kube = FakeKube()
        kube.body["spec"]["spot"] = {"strategy": "SpotAsPriceGo", "fallbackToOnDemand": True}
        snapshot = kube._bump()
        eci = StockEci()
        ctls = []
        for view in (kube, ReadBefore(kube, snapshot)):
            ctl = Controller(
                SETTINGS, Accounts(SETTINGS, credentials_from_env(ENV)), view, noop, active=False
            )  # type: ignore[arg-type]
            entry = ctl.entries[UID] = Entry(Resource.from_body(snapshot))
            await ctl._account(entry)
            entry.account.clients["cn-beijing"] = eci  # type: ignore[union-attr, assignment]
            ctls.append((ctl, entry))
        (ctl_a, entry_a), (ctl_b, entry_b) = ctls
        await ctl_a._reconcile(entry_a)
        assert kube.body["status"]["containerGroupId"] == "eci-1"
        eci.stock = True
        await ctl_b._reconcile(entry_b)
        assert list(eci.groups) == ["eci-1"], (eci.groups, kube.body["status"]["containerGroupId"])

    asyncio.run(run())
