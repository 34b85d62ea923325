"""A change ECI refused for good is not sent again until something that could change the answer changes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from acr_eci_operator.controller import Resource
from acr_eci_operator.eci import EciError
from tests.unit.test_account_and_poll_faults import running_under_team_a


class RefusingUpdates:
    def __init__(self) -> None:
        self.updates = 0

    async def update_container_group(self, region_id: str, params: Mapping[str, str]) -> None:
        self.updates += 1
        raise EciError("UpdateContainerGroup", "InvalidParameter", "refused", http_status=400)


def test_a_wake_up_that_changes_nothing_does_not_send_a_refused_update_again() -> None:
    """Seen end to end under load: the spec change's watch event woke the worker while a reconcile (woken
    by an observation) was already sending that change; once ECI refused it, the pending wake-up ran the
    worker again and the same update went out a second time, in the same second."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        eci = RefusingUpdates()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        kube.body["spec"]["containers"][0]["image"] = "nginx:2"
        kube.body["metadata"]["generation"] = 2
        entry.resource = Resource.from_body(kube._bump())
        assert await ctl._reconcile(entry) is None  # terminal: waits for a change
        synced = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "InvalidParameter"), synced
        await ctl._reconcile(entry)  # a wake-up with nothing new (an observation, a late watch event)
        entry.desired = None  # built again (as after a referenced object's event with the same values)
        await ctl._reconcile(entry)
        assert eci.updates == 1
        synced = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Synced")
        assert synced["reason"] == "InvalidParameter", synced  # still shown
        ctl.resync()  # the periodic safety net asks once more (a quota raised, a policy granted)
        await ctl._reconcile(entry)
        assert eci.updates == 2
        kube.body["spec"]["containers"][0]["image"] = "nginx:3"
        kube.body["metadata"]["generation"] = 3
        await ctl._reconcile(entry)  # a new generation is a new request
        assert eci.updates == 3

    asyncio.run(run())
