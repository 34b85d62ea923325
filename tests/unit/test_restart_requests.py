"""Restart requests in process: what the controller writes around RestartContainerGroup, with a fake
Kubernetes and a fake ECI."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from acr_eci_operator import controller as controller_module
from acr_eci_operator.controller import TAG_UID, Resource, restart_token
from acr_eci_operator.eci import EciError
from acr_eci_operator.models import ANNOTATION_RECREATED_AT, ANNOTATION_RESTARTED_AT
from tests.unit.test_account_and_poll_faults import (
    UID,
    FakeKube,
    group,
    replica,
    running_under_team_a,
)

T1 = "2026-12-02T10:00:00Z"


class RestartingEci:
    def __init__(self) -> None:
        self.restarts: list[tuple[str, str]] = []

    async def restart_container_group(self, region_id: str, group_id: str, client_token: str) -> None:
        self.restarts.append((group_id, client_token))


class OldCrdKube(FakeKube):
    """An apiserver whose CRD predates status.restart and status.recreate (Helm does not upgrade CRDs):
    it prunes them from every status write."""

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        kept = {key: value for key, value in status.items() if key not in ("restart", "recreate")}
        return await super().patch_status(namespace, name, kept)


def test_a_crd_that_prunes_the_request_records_stops_the_work_and_sends_no_restart() -> None:
    """With an outdated CRD the records never stick: without this check the planner adopts the values
    again at every round (a status write each time, a reconcile that never settles), and a restart would
    be sent with no record of it written first."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        old = OldCrdKube()
        old.body, old.secret, old.version = kube.body, kube.secret, kube.version
        ctl.kube = old  # type: ignore[assignment]
        eci = RestartingEci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        old.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
        entry.resource = Resource.from_body(old._bump())
        writes = old.version
        delay = await ctl._reconcile(entry)
        synced = next(c for c in old.body["status"]["conditions"] if c["type"] == "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "CrdOutdated"), synced
        assert "crds/" in synced["message"]
        assert delay is None  # waits for a change (the CRD applied, then any edit or the resync)
        assert old.version - writes <= 2
        assert eci.restarts == []

    asyncio.run(run())


def test_a_restart_is_recorded_before_it_is_sent_and_after() -> None:
    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        eci = RestartingEci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        statuses: list[dict[str, Any]] = []
        patch_status = kube.patch_status

        async def recording(
            namespace: str, name: str, status: dict[str, Any], **kwargs: Any
        ) -> dict[str, Any]:
            statuses.append(status)
            return await patch_status(namespace, name, status, **kwargs)

        kube.patch_status = recording  # type: ignore[method-assign]
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
        entry.resource = Resource.from_body(kube._bump())
        await ctl._reconcile(entry)
        ((group_id, token),) = eci.restarts
        assert group_id == "eci-1" and token.startswith("uid-1-r") and len(token) <= 64
        sending, done = (s["restart"] for s in statuses if "restart" in s)
        assert (sending["requested"], sending["result"]) == (T1, "Sending")
        assert (done["requested"], done["result"], done["at"]) == (T1, "Restarted", sending["at"])
        assert kube.body["status"]["phase"] == "Restarting"

    asyncio.run(run())


def test_a_crd_that_prunes_the_request_records_still_serves_a_resource_that_asks_for_none() -> None:
    """Helm does not upgrade CRDs. A resource without request annotations has nothing a lost record could
    repeat: it is served as before (its records kept in memory), settles, and only a request value stops
    the work (the test above)."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        old = OldCrdKube()
        old.body, old.secret, old.version = kube.body, kube.secret, kube.version
        ctl.kube = old  # type: ignore[assignment]
        entry.resource = Resource.from_body(old._bump())
        await ctl._reconcile(entry)
        synced = next(c for c in old.body["status"]["conditions"] if c["type"] == "Synced")
        assert synced["reason"] != "CrdOutdated", synced
        writes = old.version
        await ctl._reconcile(entry)
        assert old.version == writes  # settled: the pruned records are not written again

    asyncio.run(run())


class RefusingEci(RestartingEci):
    """ECI refuses every restart with a terminal 4xx (a RAM policy without eci:RestartContainerGroup)."""

    async def restart_container_group(self, region_id: str, group_id: str, client_token: str) -> None:
        self.restarts.append((group_id, client_token))
        raise EciError("RestartContainerGroup", "Forbidden.RAM", "not authorized", http_status=403)


def test_a_restart_ecis_refuses_for_good_is_not_sent_again_and_leaves_no_record_sending() -> None:
    """A terminal 4xx changed nothing at ECI. Left Sending, the record is carried out again at every
    reconcile (each resync, each observation that changes), and removing the annotation cannot withdraw
    it (a Sending record is sent again whatever the annotation says): Synced stays False for good."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        eci = RefusingEci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
        entry.resource = Resource.from_body(kube._bump())
        assert await ctl._reconcile(entry) is None  # terminal: waits for a change
        synced = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "Forbidden.RAM"), synced
        record = kube.body["status"]["restart"]
        assert (record["requested"], record["result"]) == (T1, "NotApplicable"), record
        await ctl._reconcile(entry)  # the resync
        kube.body["metadata"]["annotations"] = {}
        entry.resource = Resource.from_body(kube._bump())
        await ctl._reconcile(entry)
        assert len(eci.restarts) == 1, eci.restarts

    asyncio.run(run())


class AdoptingBackEci(RestartingEci):
    """ECI left eci-1 out of its answers (judged lost), then finds it again by its uid tag."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def find_container_groups_by_tag(
        self, region_id: str, key: str, value: str
    ) -> list[dict[str, Any]]:
        self.calls.append("find")
        return [{**group("Running"), "CreationTime": "2026-12-01T00:00:00Z"}]

    async def update_container_group(self, region_id: str, params: dict[str, str]) -> None:
        self.calls.append("update")

    async def create_container_group(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the group found by its tag is adopted, not created again")


def test_a_restart_sending_for_a_group_judged_lost_then_adopted_back_is_still_carried_out() -> None:
    """The restart record was written Sending and the process stopped before the call. ECI then left the
    group out of two answers: judged lost, and found again by its tag when re-created. It is the same
    group, which never started after the value: the restart is still owed (README: never not at all)."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        eci = AdoptingBackEci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        at = "2026-12-02T10:00:05Z"
        kube.body["status"]["restart"] = {
            "requested": T1,
            "containerGroupId": "eci-1",
            "at": at,
            "result": "Sending",
        }
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
        entry.resource = Resource.from_body(kube._bump())
        (target,) = ctl.targets()
        ctl.observed(target, None)  # confirmed absent by id
        for _ in range(3):
            await ctl._reconcile(entry)  # lost, adopted back, updated to the spec: observed again each time
            (target,) = ctl.targets()
            ctl.observed(target, group("Running"))
        assert eci.calls == ["find", "update"], eci.calls
        assert kube.body["status"]["containerGroupId"] == "eci-1"
        assert eci.restarts == [("eci-1", restart_token(UID, "eci-1", T1, at))]
        assert kube.body["status"]["restart"]["result"] == "Restarted"

    asyncio.run(run())


def test_a_value_set_again_after_another_is_a_new_restart_even_within_the_same_second() -> None:
    """A, then B, then A again: three values, three restarts. The token digests the group, the value and
    the record's time, to the second: when all three come within one second (a group that restarts
    quickly, and an early poll), the second A had the first A's token, and ECI answers it without
    restarting, while status says Restarted."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        eci = RestartingEci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        for value in (T1, "B", T1):
            kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: value}
            entry.resource = Resource.from_body(kube._bump())
            await ctl._reconcile(entry)
            (target,) = ctl.targets()
            assert ctl.observed(target, group("Running"))  # back already
            await ctl._reconcile(entry)
        assert len(eci.restarts) == 3
        assert len({token for _, token in eci.restarts}) == 3, eci.restarts

    asyncio.run(run())


def test_a_value_set_before_eci_answered_the_create_asks_for_nothing() -> None:
    """README: a value set before ECI answered the group's create asks for nothing (the group starts
    after it). The create records the values as handled; it took them from the annotations read when the
    reconcile began, so a value that arrived (by the watch) during the call was then carried out as a
    restart of the brand-new group."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()

        class CreatingEci(RestartingEci):
            async def create_container_group(self, region_id: str, params: Any, **_: Any) -> str:
                kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
                ctl.seen(kube._bump())  # the watch delivers the edit while ECI creates the group
                return "eci-1"

        eci = CreatingEci()
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
        kube.body["status"] = {}
        entry.resource = Resource.from_body(kube._bump())
        for _ in range(3):
            await ctl._reconcile(entry)
            (target,) = ctl.targets()
            ctl.observed(target, group("Running"))
        record = kube.body["status"]["restart"]
        assert (record["requested"], record["result"]) == (T1, "NotNeeded"), record
        assert eci.restarts == []

    asyncio.run(run())


class ReadBefore:
    """Another replica's view of the same apiserver whose first read was answered before the first
    replica's writes (both got the resource's new value at once)."""

    def __init__(self, kube: FakeKube, snapshot: dict[str, Any]) -> None:
        self.kube, self.snapshot = kube, snapshot

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kube, name)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        snapshot, self.snapshot = self.snapshot, None
        return copy.deepcopy(snapshot) if snapshot is not None else await self.kube.get(namespace, name)


def test_two_replicas_both_active_for_a_moment_send_one_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    """During a hand-over two replicas can both act on the new value. The token digests the record's time:
    had each written a record of its own (seconds apart), ECI would have had two tokens and restarted the
    group twice. The record is written only over the version read: the second replica's write fails, it
    reads the first one's record, and its token, if it sends at all, is the same."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(controller_module.time, "time", lambda: now[0])

    async def run() -> None:
        ctl_a, entry_a, kube = await running_under_team_a()
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
        snapshot = kube._bump()
        entry_a.resource = Resource.from_body(snapshot)
        view_b = ReadBefore(kube, snapshot)
        ctl_b, entry_b = await replica(view_b, snapshot, running=True)  # its own poll saw the group too
        eci = RestartingEci()
        for entry in (entry_a, entry_b):
            assert entry.account is not None
            entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]

        await ctl_a._reconcile(entry_a)
        assert kube.body["status"]["restart"]["result"] == "Restarted"
        now[0] += 5  # the second replica writes its record seconds later
        for _ in range(3):
            await ctl_b._reconcile(entry_b)
        assert len(eci.restarts) >= 1
        assert len({token for _, token in eci.restarts}) == 1, eci.restarts
        assert kube.body["status"]["restart"]["result"] == "Restarted"

    asyncio.run(run())


class GatedEci(RestartingEci):
    """Records every restart; the first call waits for `gate` (a slow answer: the token bucket's wait,
    retries within the call)."""

    def __init__(self, log: list[tuple[str, str]], gate: asyncio.Event | None = None) -> None:
        super().__init__()
        self.restarts, self.gate = log, gate

    async def restart_container_group(self, region_id: str, group_id: str, client_token: str) -> None:
        self.restarts.append((group_id, client_token))
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()


def test_a_slow_replicas_outcome_is_not_written_over_a_newer_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas both active. B records T1 and sends it; its answer is slow. A sends T1 again with B's
    token (ECI answers without restarting), records it done, then carries out T2. B's answer comes: its
    outcome for T1, written over A's record of T2, made T2 look unhandled, and T2 was sent again with a
    new token (a second restart). The outcome is written only while status holds the call's own record."""
    t2 = "2026-12-02T10:05:00Z"
    now = [1_800_000_000.0]
    monkeypatch.setattr(controller_module.time, "time", lambda: now[0])

    async def run() -> None:
        ctl_a, entry_a, kube = await running_under_team_a()
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: T1}
        snapshot = kube._bump()
        entry_a.resource = Resource.from_body(snapshot)
        ctl_b, entry_b = await replica(kube, snapshot, running=True)
        sent: list[tuple[str, str]] = []
        gate = asyncio.Event()
        assert entry_a.account is not None and entry_b.account is not None
        entry_a.account.clients["cn-beijing"] = GatedEci(sent)  # type: ignore[assignment]
        entry_b.account.clients["cn-beijing"] = GatedEci(sent, gate)  # type: ignore[assignment]

        b = asyncio.create_task(ctl_b._reconcile(entry_b))
        while not sent:
            await asyncio.sleep(0)
        await ctl_a._reconcile(entry_a)
        assert kube.body["status"]["restart"]["result"] == "Restarted"
        now[0] += 60
        kube.body["metadata"]["annotations"] = {ANNOTATION_RESTARTED_AT: t2}
        kube._bump()
        (target,) = ctl_a.targets()
        assert ctl_a.observed(target, group("Running"))
        await ctl_a._reconcile(entry_a)
        assert kube.body["status"]["restart"]["requested"] == t2
        gate.set()
        await b
        record = kube.body["status"]["restart"]
        assert (record["requested"], record["result"]) == (t2, "Restarted"), record
        now[0] += 5
        for _ in range(2):
            (target,) = ctl_a.targets()
            ctl_a.observed(target, group("Running"))
            await ctl_a._reconcile(entry_a)
        t1_tokens = {token for _, token in sent[:2]}
        t2_tokens = {token for _, token in sent[2:]}
        assert len(t1_tokens) == 1 and len(t2_tokens) == 1, sent

    asyncio.run(run())


class ReplacingEci:
    """Groups by ClientToken, as ECI keeps them: a create with a token it has seen answers that group."""

    def __init__(self) -> None:
        self.groups: dict[str, str] = {"eci-1": f"{UID}-0"}
        self.deleted: set[str] = set()
        self.calls: list[str] = []

    async def create_container_group(self, region_id: str, params: Any, **_: Any) -> str:
        token = params["ClientToken"]
        for group_id, held in self.groups.items():
            if held == token:
                self.calls.append(f"create {token} -> {group_id}")
                return group_id
        group_id = f"eci-{len(self.groups) + 1}"
        self.groups[group_id] = token
        self.calls.append(f"create {token} -> {group_id}")
        return group_id

    async def delete_container_group(self, region_id: str, group_id: str) -> bool:
        self.calls.append(f"delete {group_id}")
        return self.deleted.add(group_id) is None

    async def find_container_groups_by_tag(
        self, region_id: str, key: str, value: str
    ) -> list[dict[str, Any]]:
        return [
            {"ContainerGroupId": group_id, "Status": "Running", "Tags": [{"Key": TAG_UID, "Value": UID}]}
            for group_id in self.groups
            if group_id not in self.deleted
        ]


def test_a_replacement_another_replica_already_made_is_not_made_again() -> None:
    """Two replicas both active; A carries out a requested recreate (eci-1 deleted, eci-2 created). B had
    read the resource before A's writes: it wrote its record over A's, deleted eci-1 again and cleared
    eci-2 from status (a restart of B right then left the resource naming no group). B's first write is
    conditional on the version it read, so it reads afresh and sees eci-2."""

    async def run() -> None:
        ctl_a, entry_a, kube = await running_under_team_a()
        kube.body["spec"]["updateStrategy"] = "Recreate"
        entry_a.resource = Resource.from_body(kube._bump())
        state = await ctl_a._desired(entry_a)
        kube.body["status"].update(applied=dict(state.desired.immutable), appliedHash=state.desired.digest)
        kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
        kube.body["metadata"]["annotations"] = {ANNOTATION_RECREATED_AT: T1}
        snapshot = kube._bump()
        entry_a.resource = Resource.from_body(snapshot)
        view_b = ReadBefore(kube, snapshot)
        ctl_b, entry_b = await replica(view_b, snapshot, running=True)  # its own poll saw the group too
        eci = ReplacingEci()
        for entry in (entry_a, entry_b):
            assert entry.account is not None
            entry.account.clients["cn-beijing"] = eci  # type: ignore[assignment]

        await ctl_a._reconcile(entry_a)
        assert kube.body["status"]["containerGroupId"] == "eci-2", eci.calls
        versions = kube.version
        await ctl_b._reconcile(entry_b)
        assert eci.calls == ["delete eci-1", f"create {UID}-1 -> eci-2"], eci.calls
        assert kube.body["status"]["containerGroupId"] == "eci-2"
        assert kube.version == versions  # B wrote nothing over A's status

    asyncio.run(run())
