"""Update ClientTokens over a group's life, in process (fake Kubernetes, a fake ECI that answers a token
it has seen without applying the update again, as ECI does)."""

from __future__ import annotations

import asyncio
import hashlib

from acr_eci_operator.controller import Resource, update_token
from tests.unit.test_account_and_poll_faults import UID, running_under_team_a
from tests.unit.test_two_replicas import UpdatingEci, edit, settle


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
        eci = UpdatingEci()
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
