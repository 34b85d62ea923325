"""Two replicas briefly both active (a hand-over) acting on the same resource, in process: fake
Kubernetes with resource versions, one fake ECI: a create, and updates."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from acr_eci_operator import controller as controller_module
from acr_eci_operator.controller import NO_STOCK, TAG_UID, Controller, Entry, Resource
from acr_eci_operator.eci import EciError
from tests.unit.test_account_and_poll_faults import (
    UID,
    FakeKube,
    group,
    replica,
    running_under_team_a,
)
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
        ctl_a, entry_a = await replica(kube, snapshot, eci)
        ctl_b, entry_b = await replica(ReadBefore(kube, snapshot), snapshot, eci)
        await ctl_a._reconcile(entry_a)
        assert kube.body["status"]["containerGroupId"] == "eci-1"
        eci.stock = True
        await ctl_b._reconcile(entry_b)
        assert list(eci.groups) == ["eci-1"], (eci.groups, kube.body["status"]["containerGroupId"])

    asyncio.run(run())


class UpdatingEci:
    """UpdateContainerGroup as ECI does it: a token it has seen (same parameters) is answered, not applied
    again. `gate`: the next call is on its way (the SDK's thread) and lands only when the gate opens,
    whether or not its caller still waits for it (cancelling a task does not stop the thread)."""

    def __init__(self) -> None:
        self.image = "nginx"
        self.tokens: dict[str, dict[str, str]] = {}
        self.sent: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.landing: asyncio.Future[None] | None = None

    def _land(self, params: dict[str, str]) -> None:
        token = params["ClientToken"]
        rest = {key: value for key, value in params.items() if key != "ClientToken"}
        if token in self.tokens:
            assert self.tokens[token] == rest  # else ECI answers IdempotentParameterMismatch
            return  # answered, nothing applied
        self.tokens[token] = rest
        self.image = params["Container.1.Image"]

    async def update_container_group(self, region_id: str, params: dict[str, str]) -> None:
        self.sent.append((params["Container.1.Image"], params["ClientToken"]))
        if self.gate is None:
            self._land(params)
            return
        gate, self.gate = self.gate, None

        async def land() -> None:
            await gate.wait()
            self._land(params)

        self.landing = asyncio.ensure_future(land())
        await asyncio.shield(self.landing)

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


async def running_on_two_replicas(kube_b: Any = None) -> tuple[Any, ...]:
    """Replica A (as `running_under_team_a`) and replica B on the same resource and the same ECI."""
    ctl_a, entry_a, kube = await running_under_team_a()
    kube.body["status"]["restart"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
    kube.body["status"]["recreate"] = {"containerGroupId": "eci-1", "result": "NotNeeded"}
    body = edit(kube, "nginx:2")
    entry_a.resource = Resource.from_body(body)
    eci = UpdatingEci()
    assert entry_a.account is not None
    entry_a.account.clients["cn-beijing"] = eci  # type: ignore[assignment]
    (target,) = ctl_a.targets()
    ctl_a.observed(target, group("Running"))
    ctl_b, entry_b = await replica(kube_b or kube, body, eci, running=True)
    return ctl_a, entry_a, ctl_b, entry_b, kube, eci


def test_an_update_still_on_its_way_from_the_replica_handing_over_lands_before_the_newer_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """B sends nginx:2; the user edits to nginx:3; the hand-over stops B while its request is on its way
    (the task is cancelled, the SDK's thread is not), so B records nothing more. A sent nginx:3 at once,
    B's nginx:2 landed after it: ECI ran nginx:2 while status said nginx:3, for good. A now waits until
    B's recorded update can no longer reach ECI, then sends nginx:3."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(controller_module.time, "time", lambda: now[0])

    async def run() -> None:
        ctl_a, entry_a, ctl_b, entry_b, kube, eci = await running_on_two_replicas()
        ctl_a.clock = lambda: now[0]
        eci.gate = gate = asyncio.Event()
        b = asyncio.create_task(ctl_b._reconcile(entry_b))
        while eci.landing is None:
            await asyncio.sleep(0)
        b.cancel()  # the hand-over
        with contextlib.suppress(asyncio.CancelledError):
            await b
        entry_a.resource = Resource.from_body(edit(kube, "nginx:3"))
        delay = await ctl_a._reconcile(entry_a)
        assert delay is not None and 0 < delay <= 40
        assert [image for image, _ in eci.sent] == ["nginx:2"]
        synced = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Synced")
        assert synced["reason"] == "UpdateInFlight", synced
        gate.set()
        assert eci.landing is not None
        await eci.landing  # B's nginx:2 reaches ECI
        now[0] += delay
        await settle(ctl_a, entry_a)
        assert eci.image == "nginx:3", eci.sent
        assert kube.body["status"]["updateSent"]["hash"] == kube.body["status"]["appliedHash"]

    asyncio.run(run())


def test_a_replica_whose_read_is_older_sends_no_older_content() -> None:
    """Both active: A reads nginx:3 and sends it (its status writes are slow); B's read came before the
    edit (nginx:2). B sent nginx:2 after A's nginx:3, and the status writes landed in the other order:
    ECI ran nginx:2 while status said nginx:3. B's record of the update is written only over the version
    it read: it fails, B reads afresh and sends nothing older."""

    async def run() -> None:
        ctl_a, entry_a, ctl_b, entry_b, kube, eci = await running_on_two_replicas()
        snapshot = kube._bump()  # B's read
        ctl_b.kube = ReadBefore(kube, snapshot)  # type: ignore[assignment]
        entry_a.resource = Resource.from_body(edit(kube, "nginx:3"))
        gate = asyncio.Event()

        class SlowWrites:
            def __getattr__(self, name: str) -> Any:
                return getattr(kube, name)

            async def patch_status(self, *args: Any, **kwargs: Any) -> Any:
                await gate.wait()
                return await kube.patch_status(*args, **kwargs)

        ctl_a.kube = SlowWrites()  # type: ignore[assignment]
        a = asyncio.create_task(ctl_a._reconcile(entry_a))
        for _ in range(5):
            await asyncio.sleep(0)
        for _ in range(3):
            (target,) = ctl_b.targets()
            ctl_b.observed(target, group("Running"))
            await ctl_b._reconcile(entry_b)
        gate.set()
        await a
        ctl_a.kube = kube  # type: ignore[assignment]
        await settle(ctl_a, entry_a)
        assert "nginx:2" not in [image for image, _ in eci.sent], eci.sent
        assert eci.image == "nginx:3", eci.sent

    asyncio.run(run())


@pytest.mark.parametrize(
    ("status", "digest", "now", "hold"),
    [
        ({}, "d3", 100.0, 0.0),  # a release without the record: send
        (
            {"updateSent": {"containerGroupId": "eci-1", "hash": "d3", "at": "1970-01-01T00:01:40Z"}},
            "d3",
            100.0,
            0.0,
        ),
        (
            {
                "updateSent": {"containerGroupId": "eci-1", "hash": "d2", "at": "1970-01-01T00:01:40Z"},
                "appliedHash": "d2",
            },
            "d3",
            100.0,
            0.0,
        ),
        (
            {
                "updateSent": {"containerGroupId": "eci-1", "hash": "d2", "at": "1970-01-01T00:01:40Z"},
                "appliedHash": "d1",
            },
            "d3",
            110.0,
            30.0,
        ),
        (
            {
                "updateSent": {"containerGroupId": "eci-1", "hash": "d2", "at": "1970-01-01T00:01:40Z"},
                "appliedHash": "d1",
            },
            "d3",
            141.0,
            0.0,
        ),
        (
            {"updateSent": {"containerGroupId": "eci-0", "hash": "d2", "at": "1970-01-01T00:01:40Z"}},
            "d3",
            110.0,
            0.0,
        ),
    ],
    ids=[
        "no record",
        "same content",
        "recorded applied",
        "other content on its way",
        "long gone",
        "another group",
    ],
)
def test_an_update_waits_only_for_an_unrecorded_update_of_other_content_that_may_still_land(
    status: dict[str, Any], digest: str, now: float, hold: float
) -> None:
    assert controller_module.update_hold(status, "eci-1", digest, now, 40.0) == hold


def test_a_record_timed_by_a_clock_far_ahead_is_waited_for_one_call_life_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The record's time comes from the replica that wrote it: one whose clock ran an hour ahead would
    have held every newer update back for an hour. The wait counts from when this process first waited
    for that record, on its own clock."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(controller_module.time, "time", lambda: now[0])

    async def run() -> None:
        ctl_a, entry_a, _ctl_b, _entry_b, kube, eci = await running_on_two_replicas()
        ahead = controller_module._rfc3339(now[0] + 3600)
        kube.body["status"]["updateSent"] = {"containerGroupId": "eci-1", "hash": "older", "at": ahead}
        entry_a.resource = Resource.from_body(edit(kube, "nginx:3"))
        clock = [1000.0]
        ctl_a.clock = lambda: clock[0]
        delay = await ctl_a._reconcile(entry_a)
        assert delay is not None and 0 < delay <= 40
        assert eci.sent == []
        clock[0] += 40
        now[0] += 40
        await settle(ctl_a, entry_a)
        assert eci.image == "nginx:3", eci.sent

    asyncio.run(run())
