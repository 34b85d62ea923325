"""The emulated ECI service: container groups in memory and the seven actions on them."""

from __future__ import annotations

import json
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from eci_emulator import errors
from eci_emulator.clock import Clock, iso8601
from eci_emulator.container_settings import hook
from eci_emulator.errors import EciError
from eci_emulator.lifecycle import (
    ContainerRun,
    Event,
    Group,
    GroupView,
    Timings,
    plan,
    restart_carry,
    restarts_after_exit,
    run_length,
    status_view,
    vanished,
    view_group,
)
from eci_emulator.model import DEFAULT_GRACE_PERIOD_SECONDS, GroupSpec, parse_create, parse_update
from eci_emulator.placement import SPOT_WARNING_SECONDS, Capacity, CreateSettings
from eci_emulator.registries import RegistryCatalog
from eci_emulator.render import recent_events, render_event, render_group, render_status
from eci_emulator.signature import Credential
from eci_emulator.validation import GROUP_STATUSES, Reader, check_parameters, nest

ACTIONS = (
    "CreateContainerGroup",
    "DescribeContainerGroups",
    "DescribeContainerGroupStatus",
    "DescribeContainerGroupEvents",
    "UpdateContainerGroup",
    "RestartContainerGroup",
    "DeleteContainerGroup",
)
MAX_DESCRIBE_IDS = 20
MAX_DESCRIBE_LIMIT = 20
# The reference gives DescribeContainerGroupStatus a default Limit of 200; the emulator takes that as the
# maximum for its Limit and its id list too (its own choice where the documents are silent).
MAX_STATUS_IDS = 200
MAX_STATUS_LIMIT = 200
MAX_CLIENT_TOKEN_LENGTH = 64
UPDATABLE_STATUSES = frozenset({"Pending", "Running"})
_ID_ALPHABET = string.ascii_lowercase + string.digits


def _updated_at(group: Group, view: GroupView, now: float, timings: Timings) -> float:
    """When the group last changed, for SinceSecond. The reference says SinceSecond returns the instances
    "updated within this time period" and does not say what an update is; the emulator's choice: a
    change of status or of a container (a start, a restart), or a new event (ECI posts some, such as the
    advance SpotToBeReleased warning, without any status change)."""
    events = view_group(group, now, timings).events
    return max([view.since, *(event.last for event in events if event.last <= now)])


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def new_group_id() -> str:
    return "eci-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


@dataclass
class _Remembered:
    fingerprint: tuple[tuple[str, str], ...]
    response: dict[str, Any]


class Backend:
    """Container groups and the actions on them; every public method is thread-safe."""

    def __init__(
        self,
        catalog: RegistryCatalog,
        timings: Timings,
        clock: Clock,
        strict: bool = True,
        capacity: Capacity | None = None,
    ) -> None:
        self.catalog = catalog
        self.capacity = capacity or Capacity()
        self.timings = timings
        self.clock = clock
        self.strict = strict
        self._lock = threading.RLock()
        self._groups: dict[str, Group] = {}
        self._tokens: dict[tuple[str, str], _Remembered] = {}
        self._deletions: list[dict[str, Any]] = []
        self._eips: list[dict[str, Any]] = []
        self._seq = 0
        self._handlers: dict[str, Callable[[dict[str, str], bool], dict[str, Any]]] = {
            "CreateContainerGroup": self._create,
            "DescribeContainerGroups": self._describe_groups,
            "DescribeContainerGroupStatus": self._describe_status,
            "DescribeContainerGroupEvents": self._describe_events,
            "UpdateContainerGroup": self._update,
            "RestartContainerGroup": self._restart,
            "DeleteContainerGroup": self._delete,
        }

    # ---- entry point -------------------------------------------------------------------------------

    def handle(
        self,
        action: str,
        parameters: Mapping[str, str],
        schedule_failure: bool = False,
        caller: Credential | None = None,
    ) -> dict[str, Any]:
        """Answer `action`; `caller` is the credential that signed the request (recorded on a created group)."""
        handler = self._handlers.get(action)
        if handler is None:
            raise EciError(errors.INVALID_ACTION, f"Specified api {action!r} is not found.", 404)
        own = check_parameters(action, parameters, self.strict)
        if "RegionId" not in own:
            raise errors.missing_parameter("RegionId")
        if action == "CreateContainerGroup":
            return self._create(own, schedule_failure, caller)
        return handler(own, schedule_failure)

    # ---- helpers ------------------------------------------------------------------------------------

    def _view(self, group: Group, now: float, detail: bool = True) -> GroupView | None:
        """The group's view, or None (and forgotten) once retention has passed."""
        view = view_group(group, now, self.timings) if detail else status_view(group, now, self.timings)
        if vanished(view, self.timings, now):
            self._groups.pop(group.container_group_id, None)
            return None
        return view

    def _find(self, own: Mapping[str, str]) -> tuple[Group, GroupView]:
        reader = Reader(own)
        group_id = reader.required("ContainerGroupId")
        group = self._groups.get(group_id)
        view = self._view(group, self.clock.now()) if group is not None else None
        if group is None or view is None or group.spec.region_id != own["RegionId"]:
            raise errors.group_not_found(group_id)
        return group, view

    def _replay(self, action: str, own: Mapping[str, str]) -> dict[str, Any] | None:
        token = own.get("ClientToken")
        if not token:
            return None
        if len(token) > MAX_CLIENT_TOKEN_LENGTH or not token.isascii():
            raise errors.invalid_parameter(
                f"The parameter ClientToken must be at most {MAX_CLIENT_TOKEN_LENGTH} ASCII characters."
            )
        remembered = self._tokens.get((action, token))
        if remembered is None:
            return None
        if remembered.fingerprint != _fingerprint(own):
            raise EciError(
                errors.IDEMPOTENT_PARAMETER_MISMATCH,
                "The request uses the same client token as a previous, but non-identical request.",
                400,
            )
        return {**remembered.response, "RequestId": new_request_id()}

    def _remember(self, action: str, own: Mapping[str, str], response: dict[str, Any]) -> None:
        token = own.get("ClientToken")
        if token:
            self._tokens[(action, token)] = _Remembered(_fingerprint(own), response)

    def _allocate_ips(self, seq: int, internet: bool) -> tuple[str, str]:
        host = seq % (254 * 255)
        intranet = f"192.168.{host // 254}.{host % 254 + 1}"
        internet_ip = f"47.93.{(seq // 254) % 255}.{seq % 254 + 1}" if internet else ""
        return intranet, internet_ip

    # ---- actions ------------------------------------------------------------------------------------

    def _create(
        self, own: dict[str, str], schedule_failure: bool, caller: Credential | None = None
    ) -> dict[str, Any]:
        spec = parse_create(Reader(nest(own)))
        with self._lock:
            replayed = self._replay("CreateContainerGroup", own)
            if replayed is not None:
                return replayed
            if own.get("DryRun") == "true":
                raise EciError(
                    "DryRunOperation", "Request validation has been passed with DryRun flag set.", 400
                )
            settings = spec.settings
            placement = self.capacity.place(
                settings, spec.zone_id, spec.region_id, spot=spec.spot_strategy != "NoSpot"
            )
            spec = replace(
                spec,
                zone_id=placement.zone_id,
                vswitch_id=placement.vswitch_id,
                instance_type=placement.instance_type,
            )
            cache = self.capacity.image_cache(settings, spec.images)
            now = self.clock.now()
            self._seq += 1
            group_id = new_group_id()
            scheduled_at = now + self.timings.scheduling_seconds
            runs, init_runs, init_failed_at = plan(
                spec, scheduled_at, self.timings, self.catalog, spec.containers, spec.init_containers, {}
            )
            intranet_ip, internet_ip = self._allocate_ips(self._seq, spec.internet)
            if internet_ip:
                self._eips.append(_eip(group_id, internet_ip, settings, self._seq))
            deadline = settings.active_deadline_seconds
            group = self._groups[group_id] = Group(
                container_group_id=group_id,
                seq=self._seq,
                spec=spec,
                created_at=now,
                scheduled_at=scheduled_at,
                intranet_ip=intranet_ip,
                internet_ip=internet_ip,
                containers=runs,
                init_containers=init_runs,
                init_failed_at=init_failed_at,
                pending_since=scheduled_at,
                schedule_failed=schedule_failure,
                deadline_at=None if deadline is None else now + deadline,
                created_by_access_key_id=caller.access_key_id if caller is not None else "",
                created_by_role_arn=caller.role_arn if caller is not None else None,
            )
            if cache is not None:
                message = f"Successfully hit image cache {cache}."
                group.extra_events.append(
                    Event("Normal", "SuccessfulHitImageCache", message, now, now, 1, group_id)
                )
            elif settings.auto_match_image_cache:
                group.extra_events.append(
                    Event("Warning", "ImageCacheMissed", "Missed image cache.", now, now, 1, group_id)
                )
            response = {"RequestId": new_request_id(), "ContainerGroupId": group_id}
            self._remember("CreateContainerGroup", own, response)
            return response

    def _select(
        self,
        own: Mapping[str, str],
        max_ids: int,
        max_limit: int,
        default_limit: int,
        render: Callable[[Group, GroupView], dict[str, Any]],
        hide: bool = False,
    ) -> tuple[list[dict[str, Any]], str, int]:
        """One page of the groups matching the filters, rendered: (page, NextToken, TotalCount).

        hide: leave out the groups with `hidden` omissions left, as if they were gone (see hide_group).
        """
        reader = Reader(own)
        ids = _parse_ids(own.get("ContainerGroupIds"), max_ids)
        limit = reader.integer("Limit", 1, max_limit) or default_limit
        next_token = own.get("NextToken") or ""
        start_seq = 0
        if next_token:
            if not next_token.isdigit():
                raise errors.invalid_parameter(f"The parameter NextToken {next_token!r} is not valid.")
            start_seq = int(next_token)
        status = own.get("Status")
        if status is not None and status not in GROUP_STATUSES:
            raise errors.invalid_parameter(
                f"The parameter Status must be one of {', '.join(sorted(GROUP_STATUSES))}, not {status!r}."
            )
        tags = [(tag.required("Key"), tag.text("Value")) for tag in Reader(nest(own)).items("Tag")]
        since_second = reader.integer("SinceSecond", 0)
        region_id = own["RegionId"]
        filters = {
            key: own[key]
            for key in ("ContainerGroupName", "ZoneId", "VSwitchId", "SecurityGroupId", "ResourceGroupId")
            if own.get(key)
        }
        now = self.clock.now()
        with self._lock:
            if ids is not None:
                candidates = sorted(
                    (group for group in map(self._groups.get, dict.fromkeys(ids)) if group is not None),
                    key=lambda group: group.seq,
                )
            else:
                candidates = list(self._groups.values())
            matches: list[Group] = []
            hidden: list[Group] = []
            filtered = bool(filters or tags)
            for group in candidates:
                spec = group.spec
                if spec.region_id != region_id or (filtered and not _spec_matches(spec, filters, tags)):
                    continue
                view = self._view(group, now, detail=False)
                if view is None:
                    continue
                if status is not None and view.status != status:
                    continue
                if (
                    since_second is not None
                    and _updated_at(group, view, now, self.timings) < now - since_second
                ):
                    continue
                if hide and group.hidden > 0:
                    hidden.append(group)
                    continue
                matches.append(group)
            page = [group for group in matches if group.seq >= start_seq]
            token = str(page[limit].seq) if len(page) > limit else ""
            # A hidden group spends one omission per answer it would have been on: one whose page (from
            # NextToken up to the next page's first group) covers it.
            end_seq = page[limit].seq if len(page) > limit else None
            for group in hidden:
                if group.seq >= start_seq and (end_seq is None or group.seq < end_seq):
                    group.hidden -= 1
            rendered = [render(group, view_group(group, now, self.timings)) for group in page[:limit]]
        return rendered, token, len(matches)

    def _describe_groups(self, own: dict[str, str], _: bool) -> dict[str, Any]:
        with_events = own.get("WithEvent") != "false"
        page, token, total = self._select(
            own,
            MAX_DESCRIBE_IDS,
            MAX_DESCRIBE_LIMIT,
            MAX_DESCRIBE_LIMIT,
            lambda group, view: render_group(group, view, with_events),
            hide=True,
        )
        return {
            "RequestId": new_request_id(),
            "TotalCount": total,
            "NextToken": token,
            "ContainerGroups": page,
        }

    def _describe_status(self, own: dict[str, str], _: bool) -> dict[str, Any]:
        page, token, _total = self._select(
            own, MAX_STATUS_IDS, MAX_STATUS_LIMIT, MAX_STATUS_LIMIT, render_status, hide=True
        )
        return {"RequestId": new_request_id(), "NextToken": token, "Data": page}

    def _describe_events(self, own: dict[str, str], _: bool) -> dict[str, Any]:
        since_second = Reader(own).integer("SinceSecond", 0)
        selection = {key: value for key, value in own.items() if key != "SinceSecond"}
        cutoff = self.clock.now() - since_second if since_second is not None else None

        def render(group: Group, view: GroupView) -> dict[str, Any]:
            events = [
                render_event(event) for event in recent_events(view) if cutoff is None or event.last >= cutoff
            ]
            return {"ContainerGroupId": group.container_group_id, "Events": events}

        page, token, _total = self._select(
            selection, MAX_DESCRIBE_IDS, MAX_STATUS_LIMIT, MAX_STATUS_LIMIT, render
        )
        return {"RequestId": new_request_id(), "NextToken": token, "Data": page}

    def _update(self, own: dict[str, str], _: bool) -> dict[str, Any]:
        reader = Reader(nest(own))
        with self._lock:
            replayed = self._replay("UpdateContainerGroup", own)
            if replayed is not None:
                return replayed
            group, view = self._find(own)
            if view.status not in UPDATABLE_STATUSES:
                raise errors.incorrect_status(group.container_group_id, view.status, "UpdateContainerGroup")
            spec = parse_update(reader, group.spec)
            now = self.clock.now()
            end = now + self.timings.updating_seconds
            if spec.init_containers != group.spec.init_containers:
                self._replan_all(group, view, spec, now, end, "Updating")
            else:
                self._replan_changed(group, view, spec, now, end)
            group.spec = spec
            group.version += 1
            response = {"RequestId": new_request_id()}
            self._remember("UpdateContainerGroup", own, response)
            return response

    def _replan_changed(self, group: Group, view: GroupView, spec: GroupSpec, now: float, end: float) -> None:
        current = {
            run.spec.name: (run, container_view)
            for run, container_view in zip(group.containers, view.containers, strict=True)
        }
        # Changed containers are recreated; so are those whose image could not be pulled (a retry).
        changed = [
            container
            for container in spec.containers
            if container.name not in current
            or current[container.name][0].spec != container
            or not current[container.name][0].pull.ok
        ]
        replaced = [current[container.name] for container in changed if container.name in current]
        carried = restart_carry([run for run, _ in replaced], [cv for _, cv in replaced], now)
        new_runs, _, _ = plan(spec, end, self.timings, self.catalog, changed, None, carried)
        planned = {run.spec.name: run for run in new_runs}
        runs: list[ContainerRun] = []
        for container in spec.containers:
            if container.name in planned:
                runs.append(planned[container.name])
            else:
                kept = current[container.name][0]
                _, exit_code = run_length(kept.spec, self.timings)
                runs.append(replace(kept, restarts=restarts_after_exit(spec.restart_policy, exit_code)))
        for run, container_view in replaced:
            if container_view.state["State"] == "Running":
                group.extra_events.append(_killing(group, run.spec.name, now))
        group.containers = runs
        group.busy = ("Updating", now, end)
        group.pending_since = end
        group.version += 1

    def _replan_all(
        self, group: Group, view: GroupView, spec: GroupSpec, now: float, end: float, status: str
    ) -> None:
        carried = restart_carry(group.containers, view.containers, now)
        carried.update(restart_carry(group.init_containers, view.init_containers, now))
        runs, init_runs, init_failed_at = plan(
            spec, end, self.timings, self.catalog, spec.containers, spec.init_containers, carried
        )
        for run, container_view in zip(group.containers, view.containers, strict=True):
            if container_view.state["State"] == "Running":
                group.extra_events.append(_killing(group, run.spec.name, now))
        group.containers = runs
        group.init_containers = init_runs
        group.init_failed_at = init_failed_at
        group.busy = (status, now, end)
        group.pending_since = end
        group.version += 1

    def _restart(self, own: dict[str, str], _: bool) -> dict[str, Any]:
        with self._lock:
            replayed = self._replay("RestartContainerGroup", own)
            if replayed is not None:
                return replayed
            group, view = self._find(own)
            if view.status not in UPDATABLE_STATUSES:
                raise errors.incorrect_status(group.container_group_id, view.status, "RestartContainerGroup")
            now = self.clock.now()
            self._replan_all(
                group, view, group.spec, now, now + self.timings.restarting_seconds, "Restarting"
            )
            response = {"RequestId": new_request_id()}
            self._remember("RestartContainerGroup", own, response)
            return response

    def _delete(self, own: dict[str, str], _: bool) -> dict[str, Any]:
        with self._lock:
            replayed = self._replay("DeleteContainerGroup", own)
            if replayed is not None:
                return replayed
            group, view = self._find(own)
            del self._groups[group.container_group_id]
            self._deletions.append(_deletion(group, view, self.clock.now()))
            self._release_eip(group.container_group_id)
            response = {"RequestId": new_request_id()}
            self._remember("DeleteContainerGroup", own, response)
            return response

    # ---- inspection and manipulation for tests ---------------------------------------------------------

    def list_groups(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        with self._lock:
            rendered = []
            for group in list(self._groups.values()):
                view = self._view(group, now)
                if view is not None:
                    rendered.append(_admin_view(group, view))
            return rendered

    def get_group(self, container_group_id: str) -> dict[str, Any] | None:
        with self._lock:
            group = self._groups.get(container_group_id)
            view = self._view(group, self.clock.now()) if group is not None else None
            if group is None or view is None:
                return None
            return _admin_view(group, view)

    def group_count(self) -> int:
        """Groups still visible (those past retention are forgotten on the way)."""
        now = self.clock.now()
        with self._lock:
            return sum(1 for group in list(self._groups.values()) if self._view(group, now) is not None)

    def remove_group(self, container_group_id: str) -> bool:
        """Delete a group behind the client's back (drift)."""
        with self._lock:
            return self._groups.pop(container_group_id, None) is not None

    def expire_group(self, container_group_id: str) -> bool:
        """Reclaim a (spot) group now: it turns Expired (no protection period, no advance warning)."""
        now = self.clock.now()
        with self._lock:
            group = self._groups.get(container_group_id)
            if group is None or self._view(group, now) is None:
                return False
            _reclaim(group, now, now)
            return True

    def reclaim_spot(
        self, container_group_id: str, after_seconds: float = SPOT_WARNING_SECONDS
    ) -> float | None:
        """Reclaim a spot group `after_seconds` from now, as ECI does: a Warning SpotToBeReleased event
        ("Spot ECI will be released in N minutes") SPOT_WARNING_SECONDS before (or now, if sooner), then
        status Expired with ExpiredTime at the reclaim.

        Not before the protection period ends: SpotDuration hours (default 1, 0 for none) after creation.
        Returns the reclaim time (clock seconds); None when there is no such group. ValueError for a group
        that is not spot (SpotStrategy NoSpot) or has ended.
        """
        if isinstance(after_seconds, bool) or not isinstance(after_seconds, int | float) or after_seconds < 0:
            raise ValueError(f"after_seconds must be a non-negative number, not {after_seconds!r}")
        now = self.clock.now()
        with self._lock:
            group = self._groups.get(container_group_id)
            view = self._view(group, now) if group is not None else None
            if group is None or view is None:
                return None
            if group.spec.spot_strategy == "NoSpot":
                raise ValueError(f"{container_group_id} is not a spot instance (SpotStrategy NoSpot)")
            if view.terminal_at is not None:
                raise ValueError(f"{container_group_id} has ended ({view.status})")
            protected_until = group.created_at + group.spec.settings.spot_duration_hours * 3600.0
            at = max(now + after_seconds, protected_until)
            _reclaim(group, max(now, at - SPOT_WARNING_SECONDS), at)
            return at

    def eips(self) -> list[dict[str, Any]]:
        """The EIPs groups got: AllocationId, IpAddress, ContainerGroupId, AutoCreated, Bandwidth, ISP,
        CommonBandwidthPackage and Status: InUse while the group lives; once it ended or was deleted, an
        auto-created EIP is Released (with the group, as ECI does by default) and a bound one Available."""
        now = self.clock.now()
        with self._lock:
            for eip in self._eips:
                if eip["Status"] != "InUse":
                    continue
                group = self._groups.get(eip["ContainerGroupId"])
                view = self._view(group, now, detail=False) if group is not None else None
                if view is None or view.terminal_at is not None:
                    self._release_eip(eip["ContainerGroupId"])
            return [dict(eip) for eip in self._eips]

    def _release_eip(self, container_group_id: str) -> None:
        for eip in self._eips:
            if eip["ContainerGroupId"] == container_group_id and eip["Status"] == "InUse":
                eip["Status"] = "Released" if eip["AutoCreated"] else "Available"

    def group_spec(self, container_group_id: str) -> GroupSpec | None:
        with self._lock:
            group = self._groups.get(container_group_id)
            return None if group is None else group.spec

    def hide_group(self, container_group_id: str, times: int = 1) -> bool:
        """Leave the group out of the next `times` DescribeContainerGroups / DescribeContainerGroupStatus
        answers that would include it, while it goes on existing (its other actions still find it).

        The ECI reference is silent on whether those lists are consistent; this models a Describe that misses
        a group (an eventually consistent index, say), the emulator's own choice. Each answer whose page
        would have held the group spends one omission; DescribeContainerGroupEvents is not affected.
        """
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be an integer of at least 1, not {times!r}")
        with self._lock:
            group = self._groups.get(container_group_id)
            if group is None or self._view(group, self.clock.now()) is None:
                return False
            group.hidden = times
            return True

    def deletions(self) -> list[dict[str, Any]]:
        """What each DeleteContainerGroup would have done to stop the group gracefully, oldest first."""
        with self._lock:
            return [dict(deletion) for deletion in self._deletions]

    def reset(self) -> None:
        with self._lock:
            self._groups.clear()
            self._tokens.clear()
            self._deletions.clear()
            self._eips.clear()


def _admin_view(group: Group, view: GroupView) -> dict[str, Any]:
    """The group as DescribeContainerGroups renders it, plus who created it (admin API and tests only)."""
    return {
        **render_group(group, view),
        "created_by_access_key_id": group.created_by_access_key_id,
        "created_by_role_arn": group.created_by_role_arn,
    }


def _deletion(group: Group, view: GroupView, now: float) -> dict[str, Any]:
    """A DeleteContainerGroup as a graceful stop: the grace period and each container's preStop handler.

    The group is gone at once (as before); this records what the stop would run. The reference gives no
    default for TerminationGracePeriodSeconds: the emulator's choice is Kubernetes's 30 seconds. The kubelet
    runs a preStop hook only in a running container: State says whether it was.
    """
    grace = group.spec.termination_grace_period_seconds
    return {
        "ContainerGroupId": group.container_group_id,
        "ContainerGroupName": group.spec.name,
        "Time": iso8601(now),
        "Timestamp": now,
        "Status": view.status,
        "GracePeriodSeconds": DEFAULT_GRACE_PERIOD_SECONDS if grace is None else grace,
        "Containers": [
            {
                "Name": run.spec.name,
                "State": container.state["State"],
                "PreStop": hook(run.spec.raw, "PreStop"),
            }
            for run, container in zip(group.containers, view.containers, strict=True)
        ],
    }


def _reclaim(group: Group, warn_at: float, at: float) -> None:
    """Warn at `warn_at` (the notice's lead time in minutes; a reclaim without notice words it as ECI's usual
    notice, SPOT_WARNING_SECONDS), expire at `at`."""
    lead = at - warn_at if at > warn_at else SPOT_WARNING_SECONDS
    minutes = max(1, round(lead / 60))
    message = f"Spot ECI will be released in {minutes} minutes."
    group.extra_events.append(
        Event("Warning", "SpotToBeReleased", message, warn_at, warn_at, 1, group.container_group_id)
    )
    group.expired_at = at
    group.version += 1


def _eip(group_id: str, address: str, settings: CreateSettings, seq: int) -> dict[str, Any]:
    auto = settings.auto_create_eip
    return {
        "AllocationId": f"eip-emulator{seq:08d}" if auto else settings.eip_instance_id,
        "IpAddress": address,
        "ContainerGroupId": group_id,
        "AutoCreated": auto,
        "Bandwidth": settings.eip_bandwidth if auto else None,
        "ISP": settings.eip_isp if auto else None,
        "CommonBandwidthPackage": settings.eip_common_bandwidth_package or None,
        "Status": "InUse",
    }


def _killing(group: Group, name: str, now: float) -> Event:
    return Event(
        "Normal", "Killing", f"Stopping container {name}", now, now, 1, f"{group.container_group_id}.{name}"
    )


def _fingerprint(own: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((key, value) for key, value in own.items() if key != "ClientToken"))


def _parse_ids(raw: str | None, maximum: int) -> list[str] | None:
    if raw is None or raw == "":
        return None
    try:
        ids = json.loads(raw)
    except ValueError:
        raise errors.invalid_parameter(
            'The parameter ContainerGroupIds must be a JSON array of ids, e.g. ["eci-a","eci-b"].'
        ) from None
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise errors.invalid_parameter(
            'The parameter ContainerGroupIds must be a JSON array of ids, e.g. ["eci-a","eci-b"].'
        )
    if not ids:
        raise errors.invalid_parameter(
            "The parameter ContainerGroupIds lists no id; leave it out to list every group."
        )
    if len(ids) > maximum:
        raise errors.invalid_parameter(
            f"The parameter ContainerGroupIds takes at most {maximum} ids; got {len(ids)}."
        )
    return ids


def _spec_matches(spec: GroupSpec, filters: Mapping[str, str], tags: list[tuple[str, str | None]]) -> bool:
    for key, wanted in filters.items():
        if key == "ContainerGroupName" and spec.name != wanted:
            return False
        if key == "ZoneId" and spec.zone_id != wanted:
            return False
        if key == "VSwitchId" and wanted not in spec.vswitch_id.split(","):
            return False
        if key == "SecurityGroupId" and spec.security_group_id != wanted:
            return False
        if key == "ResourceGroupId" and spec.resource_group_id != wanted:
            return False
    if tags:
        have = dict(spec.tags)
        for key, value in tags:
            if key not in have or (value is not None and have[key] != value):
                return False
    return True
