"""One shared loop that asks ECI what changed, and only then about the groups that changed.

No resource has a timer of its own, and a quiet group costs nothing per group. For each account and
region with groups:

- every status interval (ECI_STATUS_POLL_INTERVAL_SECONDS, 2.5 s), one DescribeContainerGroupStatus with
  SinceSecond: the groups whose status changed (or that got a new event) since the last such poll. The
  reference (DescribeContainerGroupStatus, "SinceSecond: ... returns the status of ECI instances that
  were updated within this time period. This parameter is used for polling.") does not say what an
  update is, nor whether deleted instances are reported; hence
- every poll interval (ECI_POLL_INTERVAL_SECONDS, 60 s), a full listing (DescribeContainerGroupStatus,
  200 per page, no ids): a group whose status differs from the last listing, or that the controller has
  not seen yet, is described; a group missing from it is asked for by id (a listing that leaves a group
  out is not proof that it is gone), and only a group missing from both is reported gone.

What changed is then described with DescribeContainerGroups by id (20 per call: containers, events,
addresses) and handed to the controller, which keeps it for the resource's worker. A worker that waits
for its first observation after a change asks for an early poll of such groups only (by id). A failed
call loses its part for this round, not the others. The poll runs only on the active replica (peering),
and its last completed cycle is what the liveness probe checks.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from acr_eci_operator import metrics
from acr_eci_operator.controller import Controller, Target
from acr_eci_operator.eci import DESCRIBE_BATCH, DESCRIBE_CONCURRENCY, EciClient
from acr_eci_operator.errors import OperatorError
from acr_eci_operator.kube import Kube

logger = logging.getLogger(__name__)

LIVENESS_INTERVALS = 3
"""The liveness probe fails when no poll cycle completed for this many intervals."""
SINCE_MARGIN_SECONDS = 2
"""Added to the time since the last listing in SinceSecond."""
RESYNC_INTERVALS = 20
"""Every this many poll cycles, every resource held is reconciled again (a safety net)."""


def peering_allows(status: Mapping[str, Any], identity: str, priority: int, now: datetime.datetime) -> bool:
    """kopf's peering rule, read from its peering object: this replica acts when no other live replica
    has the same or a higher priority (kopf pauses equal ones too)."""
    for peer_id, info in status.items():
        if peer_id == identity or not isinstance(info, Mapping):
            continue
        try:
            lastseen = datetime.datetime.fromisoformat(str(info.get("lastseen")))
            lifetime = datetime.timedelta(seconds=int(info.get("lifetime") or 60))
            peer_priority = int(info.get("priority") or 0)
        except (TypeError, ValueError):
            continue
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=datetime.UTC)
        if lastseen + lifetime > now and peer_priority >= priority:
            return False
    return True


class Leadership:
    """Whether this replica is the one that acts: always when standalone; with peering, by kopf's rule
    over the peering object of every served namespace (or the cluster-wide one)."""

    def __init__(
        self,
        kube: Kube | None,
        identity: str,
        priority: int,
        peering_name: str | None,
        namespaces: Sequence[str | None],
    ) -> None:
        self.kube = kube
        self.identity = identity
        self.priority = priority
        self.peering_name = peering_name
        self.namespaces = list(namespaces)
        self.active = peering_name is None

    async def check(self) -> bool:
        if self.kube is None or self.peering_name is None:
            return True
        now = datetime.datetime.now(datetime.UTC)
        try:
            for namespace in self.namespaces:
                status = await self.kube.peering_status(namespace, self.peering_name)
                if status is not None and not peering_allows(status, self.identity, self.priority, now):
                    self.active = False
                    return False
        except OperatorError as error:
            logger.warning("could not read the peering object (%s); keeping the current role", error.message)
            return self.active
        self.active = True
        return True


class Poller:
    """Polls ECI for what changed and hands each answer to the controller."""

    def __init__(
        self,
        controller: Controller,
        interval: float,
        leadership: Leadership,
        clock: Callable[[], float] = time.monotonic,
        status_interval: float | None = None,
    ) -> None:
        self.controller = controller
        self.interval = interval
        """The full listing's interval."""
        self.status_interval = min(status_interval or interval, interval)
        """The interval of the SinceSecond poll."""
        self.leadership = leadership
        self.clock = clock
        self.last_cycle = clock()
        self.digests: dict[str, str] = {}
        """Group id -> digest of its entry in the last listing that reported it."""
        self.changes_at: dict[tuple[EciClient, str], float] = {}
        """When the last successful SinceSecond poll of an account and region began (at first: its first
        full listing); the next one asks for what changed since then."""

    def alive(self) -> bool:
        """False when no poll cycle completed for LIVENESS_INTERVALS intervals (a wedged operator)."""
        return self.clock() - self.last_cycle <= LIVENESS_INTERVALS * self.interval

    async def run(self) -> None:
        next_full = self.clock()
        next_changes = next_full
        cycles = 0
        early_gap = min(1.0, self.status_interval / 4)
        pending = False
        while True:
            started = self.clock()
            full = started >= next_full
            try:
                self.controller.set_active(await self.leadership.check())
                if self.controller.active:
                    # Both when both are due: a listing shows no new event, SinceSecond does.
                    if full:
                        await self.resync_once()
                    if started >= next_changes:
                        await self.changes_once()
                    if pending:
                        await self.poll_once(pending_only=True)
            except Exception:  # one bad poll must not stop polling
                logger.exception("poll failed")
            if full or started >= next_changes:
                self.last_cycle = self.clock()
                metrics.poll_cycle(self.last_cycle - started)
                next_changes = started + self.status_interval
            if full:
                next_full = started + self.interval
                cycles += 1
                if cycles % RESYNC_INTERVALS == 0 and self.controller.active:
                    self.controller.resync()
            pending = False
            try:
                # A worker waiting for its first observation asks for an early poll of such groups only;
                # the requests of one burst are gathered into one poll.
                wake = min(next_full, next_changes)
                await asyncio.wait_for(self.controller.poll_now.wait(), timeout=max(0.0, wake - self.clock()))
                pending = True
                await asyncio.sleep(max(0.0, min(early_gap, wake - self.clock())))
            except TimeoutError:
                pass
            self.controller.poll_now.clear()

    def _by_client(self, pending_only: bool = False) -> dict[tuple[EciClient, str], list[Target]]:
        by_client: dict[tuple[EciClient, str], list[Target]] = defaultdict(list)
        for target in self.controller.targets(pending_only=pending_only):
            if target.eci is not None:
                by_client[(target.eci, target.region_id)].append(target)
        return by_client

    async def changes_once(self) -> None:
        """One SinceSecond poll per account and region: describe what changed since the last listing."""
        in_flight = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def changes(key: tuple[EciClient, str], targets: list[Target]) -> None:
            async with in_flight:
                await self._changes(key, targets)

        await asyncio.gather(*(changes(key, targets) for key, targets in self._by_client().items()))

    async def _changes(self, key: tuple[EciClient, str], targets: list[Target]) -> None:
        eci, region_id = key
        started = self.clock()
        last = self.changes_at.get(key)
        if last is None:
            await self._resync(key, targets)  # nothing listed yet: a full listing first
            return
        # Whole seconds, and a margin for the two clocks and the time the last answer took.
        # At most two full listings' time: what is older, the listing covers (but a new event alone).
        since = min(math.ceil(started - last), math.ceil(2 * self.interval)) + SINCE_MARGIN_SECONDS
        try:
            items = await eci.describe_container_group_status(region_id, since_second=since)
        except OperatorError as error:
            logger.warning("polling changes in %s failed: %s", region_id, error)
            return  # the next poll asks for a longer time
        held = {target.container_group_id: target for target in targets}
        changed = []
        for item in items:
            target = held.get(str(item.get("ContainerGroupId")))
            if target is not None:
                changed.append((target, _digest(item)))
        if self._described(
            await self._describe_targets(eci, region_id, [t for t, _ in changed], []), changed
        ):
            self.changes_at[key] = started  # else the next poll asks for a longer time, these included

    async def resync_once(self) -> None:
        """One full listing per account and region (see the module's docstring)."""
        by_client = self._by_client()
        held = {target.container_group_id for targets in by_client.values() for target in targets}
        self.digests = {group_id: digest for group_id, digest in self.digests.items() if group_id in held}
        for key in list(self.changes_at):
            if key not in by_client:
                del self.changes_at[key]
        in_flight = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def resync(key: tuple[EciClient, str], targets: list[Target]) -> None:
            async with in_flight:
                await self._resync(key, targets)

        await asyncio.gather(*(resync(key, targets) for key, targets in by_client.items()))

    async def _resync(self, key: tuple[EciClient, str], targets: list[Target]) -> None:
        eci, region_id = key
        started = self.clock()
        try:
            items = await eci.describe_container_group_status(region_id)
        except OperatorError as error:
            logger.warning("listing %d groups in %s failed: %s", len(targets), region_id, error)
            for target in targets:
                self.controller.observation_failed(target)
            return
        self.changes_at.setdefault(key, started)
        listed = {str(item.get("ContainerGroupId")): item for item in items}
        changed, missing = [], []
        for target in targets:
            item = listed.get(target.container_group_id)
            if item is None:
                missing.append(target)
                continue
            digest = _digest(item)
            if self.digests.get(target.container_group_id) != digest or self.controller.wants_details(target):
                changed.append((target, digest))
            else:
                self.controller.confirmed(target)
        described = await self._describe_targets(eci, region_id, [t for t, _ in changed], missing)
        self._described(described, changed)

    def _described(self, described: set[str], changed: list[tuple[Target, str]]) -> bool:
        """Remember the listing's digest of each group that was described (one that was not is described
        again at the next listing); whether all were."""
        for target, digest in changed:
            if target.container_group_id in described:
                self.digests[target.container_group_id] = digest
        return all(target.container_group_id in described for target, _ in changed)

    async def _describe_targets(
        self, eci: EciClient, region_id: str, changed: list[Target], missing: list[Target]
    ) -> set[str]:
        """Describe groups by id and hand the answers over; the ids handed over. A `missing` group (left
        out of a listing) that this answer leaves out too is gone; a `changed` one it leaves out is not
        observed now (it counts as not described)."""
        both = [*changed, *missing]
        gone = {target.container_group_id for target in missing}
        described: set[str] = set()
        for start in range(0, len(both), DESCRIBE_BATCH):
            batch = both[start : start + DESCRIBE_BATCH]
            ids = [target.container_group_id for target in batch]
            try:
                found = await self._describe(eci, region_id, ids)
            except OperatorError as error:
                logger.warning("polling %d groups in %s failed: %s", len(ids), region_id, error)
                for target in batch:
                    self.controller.observation_failed(target)
                continue
            for target in batch:
                group = found.get(target.container_group_id)
                if (group is not None or target.container_group_id in gone) and self.controller.observed(
                    target, group
                ):
                    described.add(target.container_group_id)
        return described

    async def poll_once(self, pending_only: bool = False) -> None:
        """Ask by id about every known group (or only those with no observation yet), by account and
        region: 20 per call, each group left out asked again before it counts as gone."""
        in_flight = asyncio.Semaphore(DESCRIBE_CONCURRENCY)
        batches = [
            (eci, region_id, targets[start : start + DESCRIBE_BATCH])
            for (eci, region_id), targets in self._by_client(pending_only).items()
            for start in range(0, len(targets), DESCRIBE_BATCH)
        ]

        async def poll(eci: EciClient, region_id: str, batch: list[Target]) -> None:
            async with in_flight:
                await self._poll_batch(eci, region_id, batch)

        await asyncio.gather(*(poll(eci, region_id, batch) for eci, region_id, batch in batches))

    async def _poll_batch(self, eci: EciClient, region_id: str, batch: list[Target]) -> None:
        ids = [target.container_group_id for target in batch]
        try:
            found = await self._describe(eci, region_id, ids)
            missing = [group_id for group_id in ids if group_id not in found]
            if missing:
                # One answer that leaves a group out is not proof that it is gone: ask again by id.
                found.update(await self._describe(eci, region_id, missing))
        except OperatorError as error:
            logger.warning("polling %d groups in %s failed: %s", len(ids), region_id, error)
            for target in batch:
                self.controller.observation_failed(target)
            return
        for target in batch:
            self.controller.observed(target, found.get(target.container_group_id))

    async def _describe(self, eci: EciClient, region_id: str, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        # No retries inside the call: a batch that fails is asked again next interval.
        groups = await eci.describe_container_groups(region_id, ids, retry=False)
        return {str(group.get("ContainerGroupId")): group for group in groups}


def _digest(item: Mapping[str, Any]) -> str:
    """What a listing says of a group, as a short digest (a change of status, containers or IPs)."""
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:16]
