"""kopf handlers: kopf watches the resources (and the Secrets and ConfigMaps they may read) and runs
peering and the liveness endpoint; everything else is the controller's. Only watch-event handlers are registered, so kopf keeps no bookkeeping on the
resources (no progress or last-handled annotations, no finalizer of its own): the controller manages
its finalizer itself."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

import kopf

from acr_eci_operator import metrics
from acr_eci_operator.accounts import Accounts
from acr_eci_operator.controller import Controller
from acr_eci_operator.credentials import Credentials
from acr_eci_operator.kube import GROUP, PLURAL, VERSION, Kube, load_api_client
from acr_eci_operator.poller import Leadership, Poller
from acr_eci_operator.settings import Settings

RESOURCE = (GROUP, VERSION, PLURAL)
KUBE_CALL_THREADS = 32
"""Threads of asyncio's default executor, which carries the operator's Kubernetes calls."""


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: Settings = memo["settings"]
    settings.posting.level = logging.WARNING
    settings.peering.lifetime = config.peering_lifetime
    # The Kubernetes calls run in asyncio's default executor (the client is synchronous); a few threads
    # per CPU would make a wave of new resources queue its reads and status writes behind each other.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(KUBE_CALL_THREADS, thread_name_prefix="kube-call")
    )
    if config.metrics_address is not None:
        host, port = config.metrics_address
        try:
            memo["metrics_server"] = await metrics.serve(host, port)
        except OSError as error:  # a port in use: say so and stop, rather than run unobserved
            raise kopf.PermanentError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
        logging.getLogger(__name__).info("serving metrics on http://%s:%d/metrics", host, port)
    kube = Kube(load_api_client(connections=KUBE_CALL_THREADS), timeout=config.kube_timeout)
    credentials: Credentials = memo["credentials"]
    accounts = Accounts(
        config,
        credentials,
        require_namespace_credentials=bool(memo.get("require_namespace_credentials")),
        sts_endpoint=memo.get("sts_endpoint"),
    )
    peering_name = memo.get("peering_name")
    leadership = Leadership(
        kube if peering_name else None,
        identity=memo["identity"],
        priority=memo["priority"],
        peering_name=peering_name,
        namespaces=memo.get("namespaces") or [None],
    )
    controller = Controller(config, accounts, kube, kube.post_event, active=leadership.active)
    poller = Poller(controller, config.poll_interval, leadership, status_interval=config.status_poll_interval)
    memo["controller"] = controller
    memo["poller"] = poller
    memo["poller_task"] = asyncio.create_task(poller.run(), name="eci-poller")
    metrics.watch(controller, poller)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    metrics_server = memo.get("metrics_server")
    if metrics_server is not None:
        await metrics_server.cleanup()
    task: asyncio.Task[None] | None = memo.get("poller_task")
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.stop()


@kopf.on.event(*RESOURCE)
async def watched(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    body = event["object"]
    if event.get("type") == "DELETED":
        memo["controller"].forget(str((body.get("metadata") or {}).get("uid") or ""))
    else:
        memo["controller"].seen(body)


@kopf.on.event("", "v1", "configmaps")
async def referenced(event: kopf.RawEvent, resource: kopf.Resource, memo: kopf.Memo, **_: Any) -> None:
    """Secrets and ConfigMaps: a change wakes the resources that read the object (the controller keeps
    the index; objects no resource reads cost one dictionary lookup). The body is not kept."""
    metadata = event["object"].get("metadata") or {}
    kind = "Secret" if resource.plural == "secrets" else "ConfigMap"
    version = None if event.get("type") == "DELETED" else metadata.get("resourceVersion")
    memo["controller"].referenced_object_changed(
        kind, str(metadata.get("namespace") or ""), str(metadata.get("name") or ""), version
    )


@kopf.on.probe(id="poller")
async def poller_alive(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Fails (kopf's /healthz answers 500) when no poll cycle completed for 3 intervals; otherwise
    says what the replica holds (resources in memory, workers running, whether it is active) and its
    credentials (kind, identity, how often they were refreshed)."""
    poller: Poller = memo["poller"]
    if not poller.alive():
        raise kopf.PermanentError("no poll cycle completed for 3 poll intervals")
    controller: Controller = memo["controller"]
    credentials: Credentials = memo["credentials"]
    return {
        **controller.summary(),
        "credentials": {
            "kind": credentials.kind,
            "identity": credentials.identity,
            "refreshes": credentials.refreshes,
        },
    }


def watch_secrets() -> None:
    """Register the Secret watch (ACR_ECI_WATCH_SECRETS, on by default; it needs list+watch on secrets)."""
    kopf.on.event("", "v1", "secrets", id="referenced-secrets")(referenced)
