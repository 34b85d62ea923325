"""Group and container lifecycles, computed from timestamps when read (idle groups cost nothing).

A group is created at `created_at`, is Scheduling until `scheduled_at`, then Pending while its init
containers run one after another and its images are pulled; containers start at `run_at`. A container
carrying the test knobs runs ECI_EMULATOR_RUN_SECONDS and exits with ECI_EMULATOR_EXIT_CODE; the restart
policy then decides whether it is restarted after a back-off (RestartCount + 1) or stays Terminated.
Update and Restart replan the containers after an Updating/Restarting window.

Probes (ECI's user guide: a failing liveness probe restarts the container as the restart policy says; a
container whose readiness probe fails is not ready; no probe means healthy and ready). The timing and the
wording of the events are not in ECI's documents; the emulator follows the kubelet, whose states and events
ECI's answers carry:
- readiness probes run at InitialDelaySeconds + k x PeriodSeconds (k = 0, 1, ...) of each run: the container
  is Ready from the first that passes, at InitialDelaySeconds; with ECI_EMULATOR_READINESS_FAILS=true every
  one fails (a Warning `Unhealthy` event "Readiness probe failed: ...", counted) and it is never Ready;
- with ECI_EMULATOR_LIVENESS_FAILS=true the liveness probe fails at InitialDelaySeconds + k x PeriodSeconds
  (k = 1 ... FailureThreshold; `Unhealthy`, "Liveness probe failed: ..."), and at the last the container is
  killed (a Normal `Killing` event "Container NAME failed liveness probe, will be restarted"), exit code 137
  (the SIGKILL the kubelet ends with), so it is restarted (CrashLoopBackOff in between) unless the restart
  policy is Never. The group stays Running while it restarts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eci_emulator.clock import iso8601
from eci_emulator.container_settings import Probe
from eci_emulator.model import ContainerSpec, GroupSpec
from eci_emulator.placement import DEADLINE_EXCEEDED, DEADLINE_MESSAGE
from eci_emulator.registries import INVALID_IMAGE_NAME, PullResult, RegistryCatalog

INFINITY = math.inf
MIN_RUN_SECONDS = 0.001
LIVENESS_EXIT_CODE = 137


@dataclass
class Timings:
    """How long each phase lasts, in (virtual) seconds."""

    scheduling_seconds: float = 0.3
    pending_seconds: float = 0.3
    init_container_seconds: float = 0.1
    """Run time of an init container without ECI_EMULATOR_RUN_SECONDS."""
    restart_backoff_seconds: float = 0.5
    """Time a container waits (CrashLoopBackOff) before it is restarted."""
    image_pull_backoff_seconds: float = 1.0
    """Time a failed pull shows ErrImagePull before ImagePullBackOff; also the retry period."""
    updating_seconds: float = 0.3
    restarting_seconds: float = 0.3
    retention_seconds: float = 3600.0
    """How long Succeeded, Failed and Expired groups stay visible."""
    schedule_failed_retention_seconds: float = 86400.0
    generation: int = field(default=0, repr=False, compare=False)
    """Bumped by every change, so cached group states are recomputed."""

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in self.__dataclass_fields__ or key == "generation":
                raise ValueError(f"unknown timing {key!r}")
            if float(value) < 0:
                raise ValueError(f"timing {key} must not be negative")
        for key, value in values.items():
            setattr(self, key, float(value))
        self.generation += 1

    def to_dict(self) -> dict[str, float]:
        return {key: float(getattr(self, key)) for key in self.__dataclass_fields__ if key != "generation"}


@dataclass
class Event:
    type: str
    reason: str
    message: str
    first: float
    last: float
    count: int = 1
    involved: str = ""


@dataclass
class ContainerRun:
    """One container's current incarnation: when its pull starts, when it runs, what it carries over."""

    spec: ContainerSpec
    pull_at: float
    run_at: float
    pull: PullResult
    restart_base: int = 0
    previous: dict[str, Any] | None = None
    restarts: bool = False
    """Whether an exit leads to a restart (restart policy and exit code)."""


@dataclass
class ContainerView:
    state: dict[str, Any]
    previous: dict[str, Any]
    ready: bool
    restart_count: int
    started: bool
    final_at: float | None
    exit_code: int | None
    events: list[Event] = field(default_factory=list)


@dataclass
class Group:
    container_group_id: str
    seq: int
    spec: GroupSpec
    created_at: float
    scheduled_at: float
    intranet_ip: str
    internet_ip: str
    containers: list[ContainerRun]
    init_containers: list[ContainerRun]
    init_failed_at: float | None = None
    pending_since: float = 0.0
    busy: tuple[str, float, float] | None = None
    expired_at: float | None = None
    deadline_at: float | None = None
    """creation + ActiveDeadlineSeconds: past it a group not yet ended is Failed (DeadlineExceeded)."""
    schedule_failed: bool = False
    extra_events: list[Event] = field(default_factory=list)
    version: int = 0
    """Bumped by every change to the group (update, restart, expiry) to drop `status_cache`."""
    status_cache: tuple[int, int, float, float, GroupView] | None = field(default=None, repr=False)
    """(version, timings generation, computed at, valid until, light view)."""
    hidden: int = 0
    """Describe answers left that omit the group although it exists (the admin `hide` fault)."""
    created_by_access_key_id: str = ""
    """The AccessKeyId that signed the CreateContainerGroup (an `STS.` key for STS credentials)."""
    created_by_role_arn: str | None = None
    """The role of that key when it is an STS key, else None."""


def _state(state: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "State": state,
        "Reason": "",
        "Message": "",
        "DetailStatus": "",
        "ExitCode": 0,
        "Signal": 0,
        "StartTime": "",
        "FinishTime": "",
    }
    result.update(fields)
    return result


def _terminated(exit_code: int, started: float, finished: float) -> dict[str, Any]:
    return _state(
        "Terminated",
        Reason="Completed" if exit_code == 0 else "Error",
        ExitCode=exit_code,
        StartTime=iso8601(started),
        FinishTime=iso8601(finished),
    )


def liveness_kill_seconds(spec: ContainerSpec) -> float | None:
    """When a failing liveness probe kills the container, in seconds after it starts (None: never)."""
    probe = spec.liveness_probe
    if probe is None or not spec.liveness_fails:
        return None
    return max(probe.initial_delay_seconds + probe.period_seconds * probe.failure_threshold, MIN_RUN_SECONDS)


def run_length(spec: ContainerSpec, timings: Timings) -> tuple[float | None, int]:
    """(seconds the container runs or None for ever, exit code); a liveness kill ends it first."""
    seconds = spec.run_seconds
    if seconds is None and spec.init:
        seconds = timings.init_container_seconds
    exit_code = spec.exit_code or 0
    kill = liveness_kill_seconds(spec)
    if kill is not None and (seconds is None or kill < seconds):
        return kill, LIVENESS_EXIT_CODE
    if seconds is None:
        return None, exit_code
    return max(seconds, MIN_RUN_SECONDS), exit_code


def restarts_after_exit(restart_policy: str, exit_code: int) -> bool:
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)


def plan(
    spec: GroupSpec,
    start: float,
    timings: Timings,
    catalog: RegistryCatalog,
    containers: Sequence[ContainerSpec],
    init_containers: Sequence[ContainerSpec] | None,
    carried: dict[str, tuple[int, dict[str, Any] | None]],
) -> tuple[list[ContainerRun], list[ContainerRun], float | None]:
    """Lay out init containers (in order) then containers from `start`; init_containers None: skip them.

    `carried` maps a container name to (restart count so far, its last state) for replanned containers.
    """
    moment = start
    blocked = False
    init_failed_at: float | None = None
    init_runs: list[ContainerRun] = []
    for init_spec in init_containers or ():
        pull = catalog.check_pull(init_spec.image, spec.acr_registry_infos, spec.credentials)
        base, previous = carried.get(init_spec.name, (0, None))
        pull_at = INFINITY if blocked else moment
        seconds, exit_code = run_length(init_spec, timings)
        restarts = exit_code != 0 and spec.restart_policy != "Never"
        init_runs.append(ContainerRun(init_spec, pull_at, pull_at, pull, base, previous, restarts))
        if blocked:
            continue
        if not pull.ok or exit_code != 0:
            blocked = True
            if pull.ok and not restarts:
                init_failed_at = moment + (seconds or MIN_RUN_SECONDS)
            continue
        moment += seconds or MIN_RUN_SECONDS
    runs: list[ContainerRun] = []
    run_at = INFINITY if blocked else max(moment, start + timings.pending_seconds)
    for container_spec in containers:
        pull = catalog.check_pull(container_spec.image, spec.acr_registry_infos, spec.credentials)
        base, previous = carried.get(container_spec.name, (0, None))
        _, exit_code = run_length(container_spec, timings)
        runs.append(
            ContainerRun(
                container_spec,
                INFINITY if blocked else moment,
                run_at,
                pull,
                base,
                previous,
                restarts_after_exit(spec.restart_policy, exit_code),
            )
        )
    return runs, init_runs, init_failed_at


_NO_STATE: dict[str, Any] = {}


def progress_container(run: ContainerRun, now: float, timings: Timings) -> ContainerView:
    """Only what decides the group's status (started, final exit); no states, no events: cheap."""
    if now < run.pull_at or not run.pull.ok or now < run.run_at:
        return ContainerView(_NO_STATE, _NO_STATE, False, run.restart_base, False, None, None)
    seconds, exit_code = run_length(run.spec, timings)
    if seconds is None or run.restarts or now - run.run_at < seconds:
        return ContainerView(_NO_STATE, _NO_STATE, True, run.restart_base, True, None, None)
    return ContainerView(_NO_STATE, _NO_STATE, False, run.restart_base, True, run.run_at + seconds, exit_code)


def view_container(
    run: ContainerRun,
    now: float,
    timings: Timings,
    group_id: str,
    waiting_reason: str = "ContainerCreating",
    pod_ip: str = "",
) -> ContainerView:
    """The container as seen at `now`, with the kubelet-style events of its incarnation."""
    spec = run.spec
    previous = run.previous or {}
    events: list[Event] = []
    involved = f"{group_id}.{spec.name}"
    if now < run.pull_at:
        return ContainerView(
            _state("Waiting", Reason=waiting_reason), previous, False, run.restart_base, False, None, None
        )
    if run.pull.reason == INVALID_IMAGE_NAME:
        return _invalid_image_view(run, now, timings, involved, previous)
    events.append(
        Event("Normal", "Pulling", f'Pulling image "{spec.image}"', run.pull_at, run.pull_at, 1, involved)
    )
    if not run.pull.ok:
        period = max(timings.image_pull_backoff_seconds, MIN_RUN_SECONDS)
        attempts = 1 + int((now - run.pull_at) // period)
        last = run.pull_at + (attempts - 1) * period
        backing_off = now - run.pull_at >= timings.image_pull_backoff_seconds
        reason = "ImagePullBackOff" if backing_off else "ErrImagePull"
        message = run.pull.message if not backing_off else f'Back-off pulling image "{spec.image}"'
        events.append(Event("Warning", "Failed", run.pull.message, run.pull_at, last, attempts, involved))
        events.append(
            Event("Warning", "Failed", "Error: ErrImagePull", run.pull_at, last, attempts, involved)
        )
        if backing_off:
            first_backoff = run.pull_at + timings.image_pull_backoff_seconds
            events.append(
                Event(
                    "Normal",
                    "BackOff",
                    f'Back-off pulling image "{spec.image}"',
                    first_backoff,
                    now,
                    attempts,
                    involved,
                )
            )
            events.append(
                Event("Warning", "Failed", "Error: ImagePullBackOff", first_backoff, now, attempts, involved)
            )
        state = _state("Waiting", Reason=reason, Message=message, DetailStatus=run.pull.message)
        return ContainerView(state, previous, False, run.restart_base, False, None, None, events)
    if now < run.run_at:
        return ContainerView(
            _state("Waiting", Reason=waiting_reason),
            previous,
            False,
            run.restart_base,
            False,
            None,
            None,
            events,
        )
    pull_seconds = max(run.run_at - run.pull_at, 0.0)
    events.append(
        Event(
            "Normal",
            "Pulled",
            f'Successfully pulled image "{spec.image}" in {pull_seconds:.3f}s',
            run.run_at,
            run.run_at,
            1,
            involved,
        )
    )
    seconds, exit_code = run_length(spec, timings)
    elapsed = now - run.run_at
    probes = _ProbeRuns(spec, run.run_at, seconds, involved, pod_ip)
    if seconds is None:
        _started_events(events, spec.name, run.run_at, run.run_at, 1, involved)
        events.extend(probes.events(0, run.run_at, now))
        state = _state("Running", StartTime=iso8601(run.run_at))
        return ContainerView(
            state, previous, _ready(spec, elapsed), run.restart_base, True, None, None, events
        )
    if not run.restarts:
        _started_events(events, spec.name, run.run_at, run.run_at, 1, involved)
        if elapsed < seconds:
            events.extend(probes.events(0, run.run_at, now))
            state = _state("Running", StartTime=iso8601(run.run_at))
            ready = _ready(spec, elapsed)
            return ContainerView(state, previous, ready, run.restart_base, True, None, None, events)
        events.extend(probes.events(1, None, now))
        finished = run.run_at + seconds
        state = _terminated(exit_code, run.run_at, finished)
        return ContainerView(state, previous, False, run.restart_base, True, finished, exit_code, events)
    cycle = seconds + timings.restart_backoff_seconds
    probes.cycle = cycle
    completed_cycles = int(elapsed // cycle) if cycle > 0 else 0
    offset = elapsed - completed_cycles * cycle
    last_start = run.run_at + completed_cycles * cycle
    if offset < seconds:
        starts = completed_cycles + 1
        restart_count = run.restart_base + completed_cycles
        if completed_cycles:
            prior_start = last_start - cycle
            previous = _terminated(exit_code, prior_start, prior_start + seconds)
        state = _state("Running", StartTime=iso8601(last_start))
        ready = _ready(spec, offset)
        events.extend(probes.events(completed_cycles, last_start, now))
    else:
        starts = completed_cycles + 1
        restart_count = run.restart_base + completed_cycles
        previous = _terminated(exit_code, last_start, last_start + seconds)
        state = _state(
            "Waiting",
            Reason="CrashLoopBackOff",
            Message=f"back-off restarting failed container={spec.name}",
        )
        ready = False
        events.extend(probes.events(completed_cycles + 1, None, now))
    _started_events(events, spec.name, run.run_at, last_start, starts, involved)
    backoffs = completed_cycles + (0 if offset < seconds else 1)
    if backoffs:
        first_backoff = run.run_at + seconds
        events.append(
            Event(
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {spec.name} in pod {group_id}",
                first_backoff,
                run.run_at + (backoffs - 1) * cycle + seconds,
                backoffs,
                involved,
            )
        )
    return ContainerView(state, previous, ready, restart_count, True, None, None, events)


def _invalid_image_view(
    run: ContainerRun, now: float, timings: Timings, involved: str, previous: dict[str, Any]
) -> ContainerView:
    """A container whose image reference does not parse: never pulled, Waiting with InvalidImageName.

    Source: the Kubernetes kubelet (pkg/kubelet/images/image_manager.go) reports ErrInvalidImageName for a
    reference that fails to parse, before any pull: a Warning `InspectFailed` event "Failed to apply default
    image tag ...", a Warning `Failed` event "Error: InvalidImageName", both repeated at each pod sync, and
    the container Waiting with reason InvalidImageName; it is never retried into ImagePullBackOff. ECI runs
    kubelet-style container states (its Describe answers use the same reasons and events). Where the ECI
    reference is silent (the event cadence, the group staying Pending) this is the emulator's choice.
    """
    period = max(timings.image_pull_backoff_seconds, MIN_RUN_SECONDS)
    attempts = 1 + int((now - run.pull_at) // period)
    last = run.pull_at + (attempts - 1) * period
    events = [
        Event("Warning", "InspectFailed", run.pull.message, run.pull_at, last, attempts, involved),
        Event("Warning", "Failed", f"Error: {INVALID_IMAGE_NAME}", run.pull_at, last, attempts, involved),
    ]
    state = _state(
        "Waiting", Reason=INVALID_IMAGE_NAME, Message=run.pull.message, DetailStatus=run.pull.message
    )
    return ContainerView(state, previous, False, run.restart_base, False, None, None, events)


def _ready(spec: ContainerSpec, running_for: float) -> bool:
    """Whether a container that has run `running_for` seconds of its current run is Ready."""
    probe = spec.readiness_probe
    return probe is None or (not spec.readiness_fails and running_for >= probe.initial_delay_seconds)


@dataclass
class _ProbeRuns:
    """The probe events of a container whose runs (of `seconds` each, one per `cycle`) start at `run_at`."""

    spec: ContainerSpec
    run_at: float
    seconds: float | None
    involved: str
    pod_ip: str
    cycle: float = 0.0

    def events(self, finished: int, running_since: float | None, now: float) -> list[Event]:
        """Events of `finished` whole runs and of the current one (running since `running_since`, or None)."""
        events: list[Event] = []
        spec = self.spec
        readiness, liveness = spec.readiness_probe, spec.liveness_probe
        if readiness is not None and spec.readiness_fails:
            events.extend(self._failures("Readiness", readiness, 0, finished, running_since, now))
        if liveness is not None and spec.liveness_fails:
            events.extend(self._failures("Liveness", liveness, 1, finished, running_since, now))
            kill = liveness_kill_seconds(spec)
            if finished and kill is not None and self.seconds == kill:
                last = self.run_at + (finished - 1) * self.cycle + kill
                message = f"Container {spec.name} failed liveness probe, will be restarted"
                first = self.run_at + kill
                events.append(Event("Normal", "Killing", message, first, last, finished, self.involved))
        return events

    def _failures(
        self,
        kind: str,
        probe: Probe,
        first_index: int,
        finished: int,
        running_since: float | None,
        now: float,
    ) -> list[Event]:
        """One counted `Unhealthy` event for the failed probes at InitialDelaySeconds + k x PeriodSeconds,
        k >= first_index, of each run so far."""
        delay, period = probe.initial_delay_seconds, probe.period_seconds

        def count(running_for: float) -> int:
            if running_for < delay + first_index * period:
                return 0
            return int((running_for - delay) // period) - first_index + 1

        per_run = count(self.seconds) if finished and self.seconds is not None else 0
        current = count(now - running_since) if running_since is not None else 0
        offset = delay + first_index * period
        first_runs = [self.run_at] if per_run else []
        last_runs = [self.run_at + (finished - 1) * self.cycle + (per_run - 1) * period] if per_run else []
        if current and running_since is not None:
            first_runs.append(running_since)
            last_runs.append(running_since + (current - 1) * period)
        if not first_runs:
            return []
        message = f"{kind} probe failed: {probe.failure(self.pod_ip)}"
        return [
            Event(
                "Warning",
                "Unhealthy",
                message,
                first_runs[0] + offset,
                last_runs[-1] + offset,
                finished * per_run + current,
                self.involved,
            )
        ]


def _started_events(
    events: list[Event], name: str, first: float, last: float, count: int, involved: str
) -> None:
    events.append(Event("Normal", "Created", f"Created container {name}", first, last, count, involved))
    events.append(Event("Normal", "Started", f"Started container {name}", first, last, count, involved))


@dataclass
class GroupView:
    status: str
    since: float
    containers: list[ContainerView]
    init_containers: list[ContainerView]
    terminal_at: float | None
    events: list[Event]


TERMINAL = frozenset({"Succeeded", "Failed", "Expired"})


def _stopped(views: Sequence[ContainerView], reason: str, at: float) -> list[ContainerView]:
    """The containers killed at `at` (exit code 137, SIGKILL) for `reason`."""
    return [
        ContainerView(
            _state("Terminated", Reason=reason, ExitCode=137, FinishTime=iso8601(at)),
            view.previous,
            False,
            view.restart_count,
            view.started,
            at,
            137,
        )
        for view in views
    ]


def view_group(group: Group, now: float, timings: Timings, detail: bool = True) -> GroupView:
    """The group at `now`; detail=False computes only status, times and container progress (no events).

    Past its active deadline a group that had not ended by then is Failed, its containers killed, with a
    Warning DeadlineExceeded event (Kubernetes's reason and message; the ECI reference says only that the
    instance is forced to exit).
    """
    view = _view_group(group, now, timings, detail)
    deadline = group.deadline_at
    if deadline is None or now < deadline:
        return view
    if view.terminal_at is not None and view.terminal_at <= deadline:
        return view
    events = view.events
    if detail:
        events = [
            *events,
            Event(
                "Warning",
                DEADLINE_EXCEEDED,
                DEADLINE_MESSAGE,
                deadline,
                deadline,
                1,
                group.container_group_id,
            ),
        ]
    containers = _stopped(view.containers, DEADLINE_EXCEEDED, deadline)
    return GroupView("Failed", deadline, containers, view.init_containers, deadline, events)


def _view_group(group: Group, now: float, timings: Timings, detail: bool) -> GroupView:
    group_id = group.container_group_id
    events: list[Event] = []
    if group.expired_at is not None and now >= group.expired_at and group.expired_at < group.scheduled_at:
        waiting = [_waiting_view(run) for run in group.containers]
        events = [event for event in group.extra_events if event.first <= now]
        return GroupView("Expired", group.expired_at, waiting, [], group.expired_at, events)
    if now < group.scheduled_at:
        waiting = [_waiting_view(run) for run in group.containers]
        init_waiting = [_waiting_view(run) for run in group.init_containers]
        if detail:
            # Events from creation on (an image cache hit comes before scheduling).
            events.extend(event for event in group.extra_events if event.first <= now)
        return GroupView("Scheduling", group.created_at, waiting, init_waiting, None, events)
    if group.schedule_failed:
        if detail:
            events.append(
                Event(
                    "Warning",
                    "FailedScheduling",
                    "Create ECI failed because the specified instance is out of stock.",
                    group.scheduled_at,
                    group.scheduled_at,
                    1,
                    group_id,
                )
            )
        waiting = [_waiting_view(run) for run in group.containers]
        return GroupView("ScheduleFailed", group.scheduled_at, waiting, [], group.scheduled_at, events)
    if detail:
        events.append(
            Event(
                "Normal",
                "Scheduled",
                f"Successfully assigned {group_id} to {group.spec.zone_id}",
                group.scheduled_at,
                group.scheduled_at,
                1,
                group_id,
            )
        )
        init_views = [
            view_container(run, now, timings, group_id, "PodInitializing") for run in group.init_containers
        ]
        waiting_reason = "PodInitializing" if group.init_containers else "ContainerCreating"
        views = [
            view_container(run, now, timings, group_id, waiting_reason, group.intranet_ip)
            for run in group.containers
        ]
        for view in (*init_views, *views):
            events.extend(view.events)
        events.extend(event for event in group.extra_events if event.first <= now)
    else:
        init_views = [progress_container(run, now, timings) for run in group.init_containers]
        views = [progress_container(run, now, timings) for run in group.containers]
    if group.expired_at is not None and now >= group.expired_at:
        expired = _stopped(views, "Expired", group.expired_at)
        return GroupView("Expired", group.expired_at, expired, init_views, group.expired_at, events)
    if group.busy is not None and group.busy[1] <= now < group.busy[2]:
        return GroupView(group.busy[0], group.busy[1], views, init_views, None, events)
    if group.init_failed_at is not None and now >= group.init_failed_at:
        return GroupView("Failed", group.init_failed_at, views, init_views, group.init_failed_at, events)
    started = True
    final = True
    terminal_at = 0.0
    succeeded = True
    for view in views:
        started = started and view.started
        if view.final_at is None:
            final = False
        else:
            terminal_at = max(terminal_at, view.final_at)
            succeeded = succeeded and view.exit_code == 0
    if views and final:
        return GroupView(
            "Succeeded" if succeeded else "Failed", terminal_at, views, init_views, terminal_at, events
        )
    if started:
        since = max([group.pending_since, *(run.run_at for run in group.containers)])
        return GroupView("Running", since, views, init_views, None, events)
    return GroupView("Pending", group.pending_since, views, init_views, None, events)


def status_view(group: Group, now: float, timings: Timings) -> GroupView:
    """The light view (status, times), cached until the next moment it could change."""
    cache = group.status_cache
    if (
        cache is not None
        and cache[0] == group.version
        and cache[1] == timings.generation
        and cache[2] <= now < cache[3]
    ):
        return cache[4]
    view = view_group(group, now, timings, detail=False)
    group.status_cache = (
        group.version,
        timings.generation,
        now,
        _next_change(group, view, now, timings),
        view,
    )
    return view


def _next_change(group: Group, view: GroupView, now: float, timings: Timings) -> float:
    """The earliest later moment at which the light view may differ (early is safe, late is not)."""
    moments = [group.scheduled_at]
    if group.busy is not None:
        moments += [group.busy[1], group.busy[2]]
    if group.expired_at is not None:
        moments.append(group.expired_at)
    if group.deadline_at is not None:
        moments.append(group.deadline_at)
    if group.init_failed_at is not None:
        moments.append(group.init_failed_at)
    for run in (*group.init_containers, *group.containers):
        moments += [run.pull_at, run.run_at]
        seconds, _ = run_length(run.spec, timings)
        if seconds is not None and not run.restarts:
            moments.append(run.run_at + seconds)
    if view.terminal_at is not None:
        moments.append(view.terminal_at + timings.retention_seconds)
        moments.append(view.terminal_at + timings.schedule_failed_retention_seconds)
    return min((moment for moment in moments if moment > now), default=INFINITY)


def _waiting_view(run: ContainerRun) -> ContainerView:
    return ContainerView(
        _state("Waiting", Reason="ContainerCreating"),
        run.previous or {},
        False,
        run.restart_base,
        False,
        None,
        None,
    )


def vanished(view: GroupView, timings: Timings, now: float) -> bool:
    if view.terminal_at is None:
        return False
    if view.status == "ScheduleFailed":
        return now >= view.terminal_at + timings.schedule_failed_retention_seconds
    return view.status in TERMINAL and now >= view.terminal_at + timings.retention_seconds


def restart_carry(
    runs: Sequence[ContainerRun], views: Sequence[ContainerView], now: float
) -> dict[str, tuple[int, dict[str, Any] | None]]:
    carried: dict[str, tuple[int, dict[str, Any] | None]] = {}
    for run, container_view in zip(runs, views, strict=True):
        state = container_view.state
        last_state: dict[str, Any] | None
        if state["State"] == "Running":
            last_state = _state(
                "Terminated",
                Reason="Killed",
                ExitCode=137,
                StartTime=state["StartTime"],
                FinishTime=iso8601(now),
            )
        elif state["State"] == "Terminated":
            last_state = state
        else:
            last_state = container_view.previous or None
        bump = 1 if container_view.started else 0
        carried[run.spec.name] = (container_view.restart_count + bump, last_state)
    return carried
