"""Delete and finalize on their fault paths, in process (fake Kubernetes that really lets a deleting
object go once its finalizers are empty, fake ECI shared by two replicas): a replica finalizing while
another one's create is on its way, and a create after the resource was deleted."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from acr_eci_operator.controller import TAG_UID, Controller, Entry
from acr_eci_operator.errors import Conflict
from tests.unit.test_account_and_poll_faults import UID, FakeKube
from tests.unit.test_account_and_poll_faults import replica as another_replica


class Kube(FakeKube):
    """FakeKube that really deletes a deleting object once its finalizers are empty, and checks versions."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = False

    async def get(self, namespace: str, name: str) -> Any:
        return None if self.gone else copy.deepcopy(self.body)

    async def patch_status(self, namespace, name, status, resource_version=None):  # type: ignore[no-untyped-def]
        if self.gone:
            return None
        return await super().patch_status(namespace, name, status, resource_version)

    async def set_finalizers(self, namespace, name, finalizers, version):  # type: ignore[no-untyped-def]
        if self.gone:
            return None
        if version != self.body["metadata"]["resourceVersion"]:
            raise Conflict("409")
        self.body["metadata"]["finalizers"] = finalizers
        if not finalizers and self.body["metadata"].get("deletionTimestamp"):
            self.gone = True
            return copy.deepcopy(self.body)
        return self._bump()

    def delete(self) -> None:
        self.body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        self._bump()


class Eci:
    """One ECI account (team A) shared by both replicas; create may be held at a gate."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}
        self.gate: asyncio.Event | None = None
        self.creates = 0

    async def create_container_group(self, region_id, params, give_up_on=frozenset()):  # type: ignore[no-untyped-def]
        self.creates += 1
        if self.gate is not None:
            await self.gate.wait()  # in flight (rate limiter wait, ECI latency)
        gid = f"eci-{self.creates}"
        self.groups[gid] = {
            "ContainerGroupId": gid,
            "Status": "Pending",
            "RegionId": region_id,
            "Tags": [{"Key": TAG_UID, "Value": UID}],
        }
        return gid

    async def find_container_groups_by_tag(self, region_id, key, value):  # type: ignore[no-untyped-def]
        return [
            g for g in self.groups.values() if {t["Key"]: t["Value"] for t in g["Tags"]}.get(key) == value
        ]

    async def describe_container_groups(self, region_id, ids, retry=True):  # type: ignore[no-untyped-def]
        return [self.groups[i] for i in ids if i in self.groups]

    async def delete_container_group(self, region_id, gid):  # type: ignore[no-untyped-def]
        return self.groups.pop(gid, None) is not None


async def replica(kube: Kube, eci: Eci) -> tuple[Controller, Entry]:
    ctl, entry = await another_replica(kube, kube.body, eci)
    ctl.accounts.own.clients["cn-beijing"] = Eci()  # type: ignore[assignment]  # another account: sees nothing
    return ctl, entry


def test_a_group_created_while_another_replica_finalized_the_resource_is_deleted() -> None:
    """A (the replica handing over) has sent the create; B finalizes the deleted resource, finds no group
    yet and lets it go. A's create answers: its status write finds the resource gone. Forgetting it
    then left the group running with no resource; A deletes it."""

    async def run() -> None:
        kube, eci = Kube(), Eci()
        eci.gate = asyncio.Event()
        a, ea = await replica(kube, eci)  # old leader, still active during the hand-over
        creating = asyncio.create_task(a._reconcile(ea))
        while eci.creates == 0:
            await asyncio.sleep(0)  # A wrote createSent and its CreateContainerGroup is in flight
        assert "createSent" in kube.body["status"]
        kube.delete()  # kubectl delete
        b, eb = await replica(kube, eci)  # new leader
        await b._reconcile(eb)  # finalize: tag search finds nothing yet, finalizer dropped
        assert kube.gone
        eci.gate.set()
        await creating  # A's create answers eci-1; its status write is a 404: ResourceGone, forget
        assert eci.groups == {}, f"leaked: {list(eci.groups)} runs with no resource"

    asyncio.run(run())


def test_no_create_is_sent_once_the_record_write_shows_the_resource_deleted() -> None:
    """Deleted between the read and the createSent write: the write's answer says so, and a group made
    then was deleted by the next round (created and billed for nothing)."""

    async def run() -> None:
        kube, eci = Kube(), Eci()
        ctl, entry = await replica(kube, eci)
        patch = kube.patch_status

        async def deleted_meanwhile(ns, name, status, resource_version=None):  # type: ignore[no-untyped-def]
            if "createSent" in status:
                kube.delete()  # the user deleted the resource between the read and this write
            return await patch(ns, name, status, resource_version)

        kube.patch_status = deleted_meanwhile  # type: ignore[method-assign]
        await ctl._reconcile(entry)
        created = eci.creates
        await ctl._reconcile(entry)  # the next round finalizes: the group is deleted (waste, no leak)
        assert kube.gone and eci.groups == {}
        assert created == 0, "a group was created for a resource the write had just shown deleting"

    asyncio.run(run())
