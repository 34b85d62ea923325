"""Prometheus metrics, served at /metrics on a port of their own (`run --metrics-address HOST:PORT` or
ACR_ECI_METRICS_ADDRESS; off unless set).

Counters and histograms are fed by one-line hooks in the modules that do the work (`eci.py`: every ECI
call and token-bucket wait; `kube.py`: failed Kubernetes calls; `poller.py`: poll cycles;
`controller.py`: reconcile outcomes). Gauges are computed at scrape time from what the controller and
the poller hold (`StateCollector`), so they cannot drift. Everything lives in one `CollectorRegistry` of
our own (`Metrics.registry`), never the global one: a test takes a fresh `Metrics` with `install`.

No label ever carries a secret, a spec value or an unbounded set of values (no group id, no resource
name): labels are ECI action names, ECI error codes, phases, condition reasons, operation names and HTTP
statuses, each cleaned to a short token (`label`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import re
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PHASES = (
    "Scheduling",
    "Pending",
    "Running",
    "Restarting",
    "Updating",
    "Terminating",
    "Succeeded",
    "Failed",
    "Expired",
    "ScheduleFailed",
    "Unknown",
)
"""ECI's phases: `acr_eci_groups` always has these (0 when no group is in it)."""
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CYCLE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
THROTTLING = re.compile(r"^(Throttling($|\.)|Rejected\.Throttling$)")
"""ECI's throttling answers (Throttling, Throttling.User, Throttling.Api, Rejected.Throttling)."""
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def label(value: object, fallback: str = "Other") -> str:
    """A label value: an identifier-like token of at most 64 characters (an ECI code, a reason, a
    phase), or `fallback` for anything else, so no free text (which might quote a value) gets in."""
    text = str(value or "")
    return text if _TOKEN.match(text) else fallback


class _Resource(Protocol):
    @property
    def status(self) -> Mapping[str, Any]: ...
    @property
    def deleting(self) -> bool: ...
    @property
    def deletion_timestamp(self) -> str | None: ...


class _Observation(Protocol):
    @property
    def container_group_id(self) -> str: ...
    @property
    def phase(self) -> str | None: ...


class _Entry(Protocol):
    @property
    def resource(self) -> _Resource: ...
    @property
    def observation(self) -> _Observation | None: ...
    @property
    def container_group_id(self) -> str | None: ...


class _Controller(Protocol):
    @property
    def active(self) -> bool: ...
    @property
    def entries(self) -> Mapping[str, _Entry]: ...


class _Poller(Protocol):
    @property
    def last_cycle(self) -> float: ...
    def clock(self) -> float: ...


def _condition(status: Mapping[str, Any], type_: str) -> tuple[str, str]:
    for entry in status.get("conditions") or []:
        if isinstance(entry, Mapping) and entry.get("type") == type_:
            return label(entry.get("status"), "Unknown"), label(entry.get("reason"))
    return "Unknown", "NoCondition"


def _phase(entry: _Entry) -> str:
    """The group's phase as this replica knows it: the latest observation of the current group, else
    what status says."""
    observation = entry.observation
    if (
        observation is not None
        and observation.container_group_id == entry.container_group_id
        and observation.phase is not None
    ):
        return observation.phase if observation.phase in PHASES else "Unknown"
    phase = entry.resource.status.get("phase")
    return phase if phase in PHASES else "Unknown"


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


class StateCollector(Collector):
    """The gauges, computed at each scrape from the controller's entries and the poller's last cycle."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self.controller: _Controller | None = None
        self.poller: _Poller | None = None
        self.wall_clock = wall_clock

    def collect(self) -> Iterator[Metric]:
        controller = self.controller
        active = controller is not None and controller.active
        # A paused replica holds stale state: only the active one reports resources (no double counts).
        entries = list(controller.entries.values()) if controller is not None and active else []
        yield GaugeMetricFamily(
            "acr_eci_active",
            "1 when this replica is the one that acts (peering), else 0; the resource gauges are 0 on "
            "a paused replica",
            value=1 if active else 0,
        )
        phases: Tally[str] = Tally(dict.fromkeys(PHASES, 0))
        ready: Tally[tuple[str, str]] = Tally()
        synced: Tally[tuple[str, str]] = Tally()
        deleting = 0
        oldest: float | None = None
        for entry in entries:
            status = entry.resource.status
            if entry.container_group_id:
                phases[_phase(entry)] += 1
            ready[_condition(status, "Ready")] += 1
            synced[_condition(status, "Synced")] += 1
            if entry.resource.deleting:
                deleting += 1
                since = _timestamp(entry.resource.deletion_timestamp)
                if since is not None:
                    oldest = since if oldest is None else min(oldest, since)
        groups = GaugeMetricFamily(
            "acr_eci_groups",
            "ECI container groups named by the resources held, by phase (the latest observation, else "
            "status.phase)",
            labels=["phase"],
        )
        for phase, count in phases.items():
            groups.add_metric([phase], count)
        yield groups
        yield GaugeMetricFamily("acr_eci_resources", "AcrContainerGroup resources held", value=len(entries))
        for name, tally, type_ in (
            ("acr_eci_resources_by_ready_reason", ready, "Ready"),
            ("acr_eci_resources_by_synced_reason", synced, "Synced"),
        ):
            family = GaugeMetricFamily(
                name,
                f"Resources held, by the status and reason of their {type_} condition (NoCondition: none yet)",
                labels=["status", "reason"],
            )
            for (state, reason), count in sorted(tally.items()):
                family.add_metric([state, reason], count)
            yield family
        yield GaugeMetricFamily(
            "acr_eci_resources_deleting", "Resources being deleted (finalizer still on)", value=deleting
        )
        yield GaugeMetricFamily(
            "acr_eci_oldest_deletion_age_seconds",
            "Seconds since the deletionTimestamp of the oldest resource still being deleted (0: none)",
            value=0.0 if oldest is None else max(0.0, self.wall_clock() - oldest),
        )
        poller = self.poller
        if poller is not None:
            yield GaugeMetricFamily(
                "acr_eci_poll_lag_seconds",
                "Seconds since the last completed poll cycle",
                value=max(0.0, poller.clock() - poller.last_cycle),
            )


class Metrics:
    """Every metric of the operator, in one registry of its own."""

    def __init__(self, process: bool = True, wall_clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.eci_calls = Counter(
            "acr_eci_eci_calls",
            "ECI API calls (each attempt), by action and result code (OK for success)",
            ["action", "code"],
            registry=registry,
        )
        self.eci_call_duration = Histogram(
            "acr_eci_eci_call_duration_seconds",
            "Time an ECI API call took, from sending to its answer or failure, by action",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.eci_throttled = Counter(
            "acr_eci_eci_throttled_calls",
            "ECI API calls answered with a throttling code (Throttling*, Rejected.Throttling), by action",
            ["action"],
            registry=registry,
        )
        self.rate_limit_wait = Histogram(
            "acr_eci_rate_limit_wait_seconds",
            "Time a call waited for the operator's own token bucket, by bucket (mutate, describe)",
            ["bucket"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.poll_cycle_duration = Histogram(
            "acr_eci_poll_cycle_duration_seconds",
            "Time a full poll cycle (every known group described) took",
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.reconciles = Counter(
            "acr_eci_reconciles",
            "Actions the reconciler carried out, by plan action (Prepare: before a plan; Finalize: "
            "deletion) and outcome (ok, or the failure's reason)",
            ["action", "outcome"],
            registry=registry,
        )
        self.kube_errors = Counter(
            "acr_eci_kube_api_errors",
            "Failed Kubernetes API calls of the operator's own (kopf's watches excluded), by operation "
            "and HTTP status (timeout, transport: no answer)",
            ["operation", "status"],
            registry=registry,
        )
        self.credential_refreshes = Counter(
            "acr_eci_credential_refreshes",
            "Alibaba Cloud credentials obtained afresh, by source",
            ["source"],
            registry=registry,
        )
        self.state = StateCollector(wall_clock)
        registry.register(self.state)
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)

    def sample(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample's current value (None when absent): for tests and tools."""
        return self.registry.get_sample_value(name, dict(labels or {}))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


_current = Metrics()


def current() -> Metrics:
    return _current


def install(metrics: Metrics) -> Metrics:
    """Make `metrics` the one the hooks feed (the operator's at start-up; a fresh one per test)."""
    global _current
    _current = metrics
    return metrics


def watch(controller: _Controller, poller: _Poller | None) -> None:
    """Compute the gauges from this controller and poller at each scrape."""
    _current.state.controller = controller
    _current.state.poller = poller


# -- hooks ---------------------------------------------------------------------------------------------


def error_code(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "SDK.Timeout"
    return label(getattr(error, "code", None), type(error).__name__)


@contextlib.contextmanager
def eci_call(action: str) -> Iterator[None]:
    """Around one attempt of one ECI call: counts it by its code and times it (a cancelled call is not
    counted: it had no answer)."""
    started = time.monotonic()
    try:
        yield
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        eci_answered(action, error_code(error), time.monotonic() - started)
        raise
    else:
        eci_answered(action, "OK", time.monotonic() - started)


def eci_answered(action: str, code: str, seconds: float) -> None:
    action = label(action)
    _current.eci_calls.labels(action, label(code)).inc()
    _current.eci_call_duration.labels(action).observe(seconds)
    if THROTTLING.match(code):
        _current.eci_throttled.labels(action).inc()


@contextlib.contextmanager
def rate_limit_wait(bucket: str) -> Iterator[None]:
    """Around the wait for a token of the named bucket (mutate or describe)."""
    started = time.monotonic()
    try:
        yield
    finally:
        _current.rate_limit_wait.labels(label(bucket)).observe(time.monotonic() - started)


def poll_cycle(seconds: float) -> None:
    """A full poll cycle completed in `seconds`."""
    _current.poll_cycle_duration.observe(seconds)


_planned: contextvars.ContextVar[str | None] = contextvars.ContextVar("acr_eci_planned", default=None)
"""The action the current reconcile (one per worker task) is carrying out, not yet counted."""


def planned(action: str) -> None:
    """The reconcile goes on to carry out `action`: the one before it (if any) succeeded."""
    reconcile_done()
    _planned.set(action)


def reconcile_failed(reason: str) -> None:
    """The action under way (Prepare when none was planned yet) failed with `reason`."""
    _current.reconciles.labels(label(_planned.get() or "Prepare"), label(reason)).inc()
    _planned.set(None)


def reconcile_done() -> None:
    """The reconcile ended: the action under way, if any, succeeded."""
    action = _planned.get()
    if action is not None:
        _current.reconciles.labels(label(action), "ok").inc()
        _planned.set(None)


def kube_error(operation: str, status: object) -> None:
    """A Kubernetes API call of ours failed: status is the HTTP status, or timeout / transport."""
    _current.kube_errors.labels(label(operation), label(str(status), "Other")).inc()


def credential_refreshed(source: str) -> None:
    """Credentials were obtained afresh from `source`, a kind of source (never a value): "RRSA
    (AssumeRoleWithOIDC)" is counted as RRSA_AssumeRoleWithOIDC."""
    _current.credential_refreshes.labels(label(re.sub(r"[^A-Za-z0-9]+", "_", source).strip("_"))).inc()


# -- the endpoint --------------------------------------------------------------------------------------


async def serve(host: str, port: int, metrics: Metrics | None = None) -> web.AppRunner:
    """Serve /metrics on host:port from the event loop (the gauges then read the controller's state from
    the loop that changes it). Stop it with `await runner.cleanup()`."""

    async def scrape(_: web.Request) -> web.Response:
        body = (metrics or _current).exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
