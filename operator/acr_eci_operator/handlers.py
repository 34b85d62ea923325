"""kopf handlers: thin wrappers that hand each resource to the reconciler built at start-up."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import kopf

from acr_eci_operator.eci import EciClient
from acr_eci_operator.kube import GROUP, PLURAL, VERSION, Kube, load_api_client
from acr_eci_operator.poller import Poller
from acr_eci_operator.reconcile import Reconciler
from acr_eci_operator.settings import Settings

FINALIZER = "eci.acr-operator.dev/finalizer"
RESOURCE = (GROUP, VERSION, PLURAL)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: Settings = memo["settings"]
    settings.persistence.finalizer = FINALIZER
    # kopf's own bookkeeping lives in annotations of our prefix, never in status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    # Peered replicas of equal priority all pause; a random priority lets exactly one (the highest) act.
    settings.peering.priority = random.randint(1, 1_000_000)
    kube = Kube(load_api_client())
    reconciler = Reconciler(config, EciClient(config), kube, kube.post_event)
    poller = Poller(reconciler, config.poll_interval)
    memo["reconciler"] = reconciler
    memo["poller"] = poller
    memo["poller_task"] = asyncio.create_task(poller.run(), name="eci-poller")


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] | None = memo.get("poller_task")
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@kopf.on.resume(*RESOURCE, id="ensure-on-resume")
@kopf.on.create(*RESOURCE, id="ensure-on-create")
@kopf.on.update(*RESOURCE, id="ensure-on-update")
async def ensure(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await memo["reconciler"].ensure(body, retry)


@kopf.on.delete(*RESOURCE, id="delete")
async def delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await memo["reconciler"].delete(body, retry)
