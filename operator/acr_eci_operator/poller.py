"""One shared loop that asks ECI about every known group, 20 per call, once per poll interval.

No resource has a timer of its own: with N groups a poll costs ceil(N / 20) DescribeContainerGroups
calls per region, whatever N is (plus one call per batch in which a group seemed to be missing, to
confirm it by id). The poll never waits for a busy resource: it hands each answer to the controller,
which keeps it for the resource's worker. A failed call loses its batch for this interval, not the
region. The poll runs only on the active replica (peering), and its last completed cycle is what the
liveness probe checks.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
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
    """Polls ECI for all known groups and hands each answer to the controller."""

    def __init__(
        self,
        controller: Controller,
        interval: float,
        leadership: Leadership,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controller = controller
        self.interval = interval
        self.leadership = leadership
        self.clock = clock
        self.last_cycle = clock()

    def alive(self) -> bool:
        """False when no poll cycle completed for LIVENESS_INTERVALS intervals (a wedged operator)."""
        return self.clock() - self.last_cycle <= LIVENESS_INTERVALS * self.interval

    async def run(self) -> None:
        next_full = self.clock()
        cycles = 0
        early_gap = min(1.0, self.interval / 4)
        while True:
            started = self.clock()
            full = started >= next_full
            try:
                self.controller.set_active(await self.leadership.check())
                if self.controller.active:
                    await self.poll_once(pending_only=not full)
            except Exception:  # one bad poll must not stop polling
                logger.exception("poll failed")
            if full:
                self.last_cycle = self.clock()
                metrics.poll_cycle(self.last_cycle - started)
                next_full = started + self.interval
                cycles += 1
                if cycles % RESYNC_INTERVALS == 0 and self.controller.active:
                    self.controller.resync()
            try:
                # A worker waiting for its first observation asks for an early poll of such groups only;
                # the requests of one burst are gathered into one poll.
                await asyncio.wait_for(
                    self.controller.poll_now.wait(), timeout=max(0.0, next_full - self.clock())
                )
                await asyncio.sleep(max(0.0, min(early_gap, next_full - self.clock())))
            except TimeoutError:
                pass
            self.controller.poll_now.clear()

    async def poll_once(self, pending_only: bool = False) -> None:
        """Ask about every known group (or only those with no observation yet), by account and region."""
        by_client: dict[tuple[EciClient, str], list[Target]] = defaultdict(list)
        for target in self.controller.targets(pending_only=pending_only):
            if target.eci is not None:
                by_client[(target.eci, target.region_id)].append(target)
        in_flight = asyncio.Semaphore(DESCRIBE_CONCURRENCY)
        batches = [
            (eci, region_id, targets[start : start + DESCRIBE_BATCH])
            for (eci, region_id), targets in by_client.items()
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
