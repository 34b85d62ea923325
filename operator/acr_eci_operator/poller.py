"""One shared loop that asks ECI about every tracked group, 20 per call, once per poll interval.

No resource has a timer of its own: with N groups a poll costs ceil(N / 20) DescribeContainerGroups
calls per region, whatever N is.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from acr_eci_operator.eci import EciError
from acr_eci_operator.reconcile import Reconciler, Tracked

logger = logging.getLogger(__name__)

RECLAIMED_PHASES = frozenset({"Expired"})
"""Phases in which ECI took the group away (spot reclaim): treated as a lost group."""


class Poller:
    """Polls ECI for all tracked groups and hands each answer to the reconciler."""

    def __init__(self, reconciler: Reconciler, interval: float) -> None:
        self.reconciler = reconciler
        self.interval = interval

    async def run(self) -> None:
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self.poll_once()
            except Exception:  # one bad poll must not stop polling
                logger.exception("poll failed")
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(0.0, self.interval - elapsed))

    async def poll_once(self) -> None:
        by_region: dict[str, list[Tracked]] = defaultdict(list)
        for tracked in list(self.reconciler.tracked.values()):
            by_region[tracked.region_id].append(tracked)
        for region_id, entries in by_region.items():
            ids = [entry.container_group_id for entry in entries]
            try:
                groups = await self.reconciler.eci.describe_container_groups(region_id, ids)
            except EciError as error:
                logger.warning("polling %d groups in %s failed: %s", len(ids), region_id, error.code)
                continue
            found = {str(group.get("ContainerGroupId")): group for group in groups}
            for entry in entries:
                group = found.get(entry.container_group_id)
                try:
                    if group is None or group.get("Status") in RECLAIMED_PHASES:
                        if group is not None:
                            await self.reconciler.observe(entry, group)
                        await self.reconciler.group_missing(entry)
                    else:
                        await self.reconciler.observe(entry, group)
                except Exception:
                    logger.exception(
                        "%s: handling group %s failed", entry.resource.key, entry.container_group_id
                    )
