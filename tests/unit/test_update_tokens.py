"""Update ClientTokens over a group's life, in process (fake Kubernetes, a fake ECI that answers a token
it has seen without applying the update again, as ECI does)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from acr_eci_operator.controller import Controller, Entry, Resource, update_token
from tests.unit.test_account_and_poll_faults import UID, group, running_under_team_a


class Eci:
    def __init__(self) -> None:
        self.image = "nginx"
        self.tokens: dict[str, dict[str, str]] = {}
        self.sent: list[tuple[str, str]] = []

    async def update_container_group(self, region_id: str, params: dict[str, str]) -> None:
        token = params["ClientToken"]
        self.sent.append((params["Container.1.Image"], token))
        rest = {key: value for key, value in params.items() if key != "ClientToken"}
        if token in self.tokens:
            assert self.tokens[token] == rest  # else ECI answers IdempotentParameterMismatch
            return  # answered, nothing applied
        self.tokens[token] = rest
        self.image = params["Container.1.Image"]

    async def find_container_groups_by_tag(self, region_id: str, key: str, value: str) -> list[Any]:
        return [{**group("Running"), "CreationTime": "2026-12-01T00:00:00Z"}]


def edit(kube: Any, image: str) -> dict[str, Any]:
    kube.body["spec"]["containers"][0]["image"] = image
    kube.body["metadata"]["generation"] += 1
    return kube._bump()


async def settle(ctl: Controller, entry: Entry) -> None:
    for _ in range(2):
        (target,) = ctl.targets()
        ctl.observed(target, group("Running"))
        await ctl._reconcile(entry)


def test_an_update_after_the_group_was_adopted_back_is_applied() -> None:
    """nginx:2, :3, then :2 again (updates 0, 1, 2). ECI leaves the group out of its answers: judged
    lost, found by its uid tag and adopted back, the update count starting at 0 again. Rolling to :3 then
    sent update 1's token again, which ECI answered without applying: ECI stayed on :2 while status said
    :3, for good."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        entry.resource = Resource.from_body(kube._bump())
        eci = Eci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        for image in ("nginx:2", "nginx:3", "nginx:2"):
            edit(kube, image)
            await settle(ctl, entry)
            assert eci.image == image
        (target,) = ctl.targets()
        ctl.observed(target, None)  # not found by id: lost
        await ctl._reconcile(entry)  # found by its uid tag: adopted back
        assert kube.body["status"]["containerGroupId"] == "eci-1"
        await settle(ctl, entry)
        edit(kube, "nginx:3")
        await settle(ctl, entry)
        assert eci.image == "nginx:3", eci.sent

    asyncio.run(run())


def test_update_tokens_of_the_first_incarnation_are_those_of_the_last_release() -> None:
    """An update in flight across an upgrade is sent again with the same token (ECI applies it once)."""
    assert update_token(UID, 2, "eci-1", "d1") == update_token(UID, 2, "eci-1", "d1", 0)
    assert (
        update_token(UID, 2, "eci-1", "d1", 0) == f"{UID}-u2-{hashlib.sha256(b'eci-1|d1').hexdigest()[:12]}"
    )
    assert update_token(UID, 2, "eci-1", "d1", 1) != update_token(UID, 2, "eci-1", "d1", 0)
