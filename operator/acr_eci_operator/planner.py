"""Decide, then act: a pure function from what is known about one resource to the one thing to do next.

The planner sees the desired state (generation, digest of the mutable wire parameters, the immutable
fields as the spec set them, restart policy, update strategy), what status says was done (group id,
applied fields and digest, the generation last sent), and the latest observation of the group that
was taken after the last change sent to it. It never reads a phase remembered in status from an earlier
life, with one exception: a group that is gone and whose last observed phase, written by an
observation, says it had finished (nothing else can tell a finished job from a lost one once ECI has
dropped it).

The controller carries the plan out and asks again until the plan is one that ends the work
(Nothing, Wait, Refuse) or an action failed.

Requests by annotation (restartedAt, recreatedAt) are compared with the value status says was last
handled (`Handled`): a new value is carried out once. Spec changes go first (an update, a replacement);
a request is planned where the spec alone would do nothing or refuse. A request whose record says
`Sending` for the current group (the process stopped after writing it, before ECI's answer was recorded)
is carried out again: for a restart with the same ClientToken, which ECI answers without restarting
twice; for a recreate by deleting (again) and creating under a new incarnation.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acr_eci_operator import mapping, models
from acr_eci_operator.models import ANNOTATION_RECREATED_AT, ANNOTATION_RESTARTED_AT

UPDATABLE_PHASES = frozenset({"Pending", "Running"})
"""UpdateContainerGroup accepts only groups in these phases."""
RESTARTABLE_PHASES = frozenset({"Pending", "Running"})
"""RestartContainerGroup accepts only groups in these phases (its API reference; the group then passes
through Restarting)."""
ENDED_PHASES = frozenset({"Succeeded", "Failed", "Expired", "ScheduleFailed"})
"""Phases a group never leaves on its own."""
RECLAIMED_PHASES = frozenset({"Expired"})
"""ECI took the group away (spot reclaim): replaced like a lost group."""


def finished_phases(restart_policy: str, active_deadline: bool = False) -> frozenset[str]:
    """Phases after which a group is not run again unless the spec changes: any end for Never, success
    for OnFailure (it restarts only failed containers); none for Always. With an active deadline, Failed
    is final under every policy (ECI ended it when the deadline passed, as Kubernetes does a Pod's)."""
    if active_deadline and restart_policy != "Never":
        return finished_phases(restart_policy) | {"Failed"}
    return {
        "Never": frozenset({"Succeeded", "Failed"}),
        "OnFailure": frozenset({"Succeeded"}),
    }.get(restart_policy, frozenset())


class Action(enum.Enum):
    CREATE = "Create"
    """No group: adopt one carrying our uid tag, or create one."""
    OBSERVE = "Observe"
    """A group id is known but no observation taken after the last change: wait for one."""
    UPDATE = "Update"
    """Send the mutable parameters with UpdateContainerGroup."""
    FORGET = "Forget"
    """Status names a group that does not carry this resource's uid tag: never touch it; drop the id."""
    RECREATE = "Recreate"
    """Delete the group (if it still exists) and create a new one under a new incarnation."""
    WAIT = "Wait"
    """A change is pending but the group cannot take it now; retried on the next observation."""
    REFUSE = "Refuse"
    """The spec asks for what cannot be done; waits for the resource to change."""
    NOTHING = "Nothing"
    """ECI matches the resource."""
    RESTART = "Restart"
    """Send RestartContainerGroup for the restart requested (the record in `Plan.records`, written first)."""
    ACKNOWLEDGE = "Acknowledge"
    """Record request values as handled without acting on them (`Plan.records`): values a status of an
    older release cannot say anything about, or a restart of a group that has ended."""


SENDING = "Sending"
RESTARTED = "Restarted"
RECREATED = "Recreated"
NOT_NEEDED = "NotNeeded"
NOT_APPLICABLE = "NotApplicable"
"""Results of a handled request (models.RequestResult)."""
RESTART = "restart"
RECREATE = "recreate"
"""The kinds of request: the status field each is recorded in."""


@dataclass(frozen=True)
class Handled:
    """A request as status records it (status.restart, status.recreate)."""

    requested: str | None = None
    """The annotation value handled (None: none was set)."""
    container_group_id: str | None = None
    result: str | None = None


@dataclass(frozen=True)
class Desired:
    """What the resource asks for, reduced to what decisions need."""

    generation: int
    digest: str
    """Digest of every parameter UpdateContainerGroup can change (Secret values included)."""
    immutable: Mapping[str, str]
    """Immutable fields as the spec sets them (mapping.immutable_fields)."""
    restart_policy: str = "Always"
    update_strategy: str = "InPlace"
    removables: frozenset[str] = frozenset()
    """Fields set whose removal an update cannot carry (mapping.present_removables)."""
    active_deadline: bool = False
    """spec.activeDeadlineSeconds is set: a Failed group is finished, whatever the restart policy."""
    spot_fallback: bool = False
    """spec.spot.fallbackToOnDemand: a spot group ECI could not place for want of stock is replaced by an
    on-demand one."""
    account: str | None = None
    """The identity (AccessKey id or role ARN) of the credentials that serve the resource now."""
    restart_requested: str | None = None
    """The eci.acr-operator.dev/restartedAt annotation (None: not set, or empty)."""
    recreate_requested: str | None = None
    """The eci.acr-operator.dev/recreatedAt annotation (None: not set, or empty)."""


@dataclass(frozen=True)
class Known:
    """What status says was done, as the status writer stored it."""

    container_group_id: str | None = None
    applied: Mapping[str, str] | None = None
    """Immutable fields the group was created with (None: unknown, e.g. an adopted group)."""
    applied_hash: str | None = None
    observed_generation: int | None = None
    """The generation last sent to ECI."""
    last_phase: str | None = None
    """The phase the last observation wrote; read only for a group that is gone."""
    applied_lists: frozenset[str] | None = None
    """Which of those fields the group was given (None: unknown, as for a status of an older release)."""
    capacity: str | None = None
    """What the group runs on (status.capacity): Spot, OnDemand, or None without spec.spot."""
    account: str | None = None
    """The identity whose credentials created (or last saw) the group (status.account)."""
    restart: Handled | None = Handled()
    """The restart request last handled (None: status has no record, as a status of an older release)."""
    recreate: Handled | None = Handled()
    """The recreate request last handled (None: status has no record)."""


@dataclass(frozen=True)
class Observation:
    """The group as ECI reported it, after the last change sent to it."""

    container_group_id: str
    phase: str | None
    """None: ECI confirmed (twice, by id) that the group does not exist."""
    owned: bool = True
    """Whether the group carries this resource's uid tag."""
    no_stock: bool = False
    """ECI says it could not place the group for want of stock (its FailedScheduling, NoStock or
    StockExhaust event or condition)."""


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str = ""
    """Condition reason for Recreate, Wait and Refuse (ContainerGroupLost, Waiting, ...)."""
    message: str = ""
    changed: tuple[str, ...] = field(default=())
    """Immutable fields that changed, for Recreate and Refuse."""
    records: Mapping[str, Handled] = field(default_factory=dict)
    """For Restart, Acknowledge and a requested Recreate: what to record per kind of request."""


IMMUTABLE_WIRE_FIELDS = (
    "ContainerGroupName",
    "RegionId",
    "ZoneId",
    "SecurityGroupId",
    "VSwitchId",
    "InstanceType",
)
"""CreateContainerGroup parameters that UpdateContainerGroup cannot change (left out of applied_hash)."""


def mutable_parameters(params: Mapping[str, str]) -> dict[str, str]:
    """The create parameters UpdateContainerGroup can change: what `applied_hash` digests."""
    return {k: v for k, v in params.items() if k not in IMMUTABLE_WIRE_FIELDS and k != "ClientToken"}


def applied_hash(params: Mapping[str, str]) -> str:
    """A digest of everything UpdateContainerGroup can change (secret values included, so rotation shows)."""
    return hashlib.sha256(json.dumps(mutable_parameters(params), sort_keys=True).encode()).hexdigest()[:32]


def desired_from(
    spec: models.AcrContainerGroupSpec,
    *,
    raw_spec: Mapping[str, Any],
    annotations: Mapping[str, str],
    generation: int,
    create_params: Mapping[str, str],
    account: str | None,
) -> Desired:
    """What a resource asks for, from its parsed and raw spec and its create parameters (Secrets and
    ConfigMaps read): the one builder of `Desired` (the controller and `plan` call it)."""
    return Desired(
        generation=generation,
        digest=applied_hash(create_params),
        immutable=mapping.immutable_fields(raw_spec) | mapping.create_only_fields(spec, create_params),
        restart_policy=spec.restart_policy,
        update_strategy=spec.update_strategy,
        removables=frozenset(mapping.present_removables(spec, annotations)),
        active_deadline=spec.active_deadline_seconds is not None,
        spot_fallback=spec.spot is not None and bool(spec.spot.fallback_to_on_demand),
        account=account,
        restart_requested=request_value(annotations, ANNOTATION_RESTARTED_AT),
        recreate_requested=request_value(annotations, ANNOTATION_RECREATED_AT),
    )


def with_requests(desired: Desired, annotations: Mapping[str, str]) -> Desired:
    """`desired` with the request values the annotations hold now (newer than those it was built from)."""
    return dataclasses.replace(
        desired,
        restart_requested=request_value(annotations, ANNOTATION_RESTARTED_AT),
        recreate_requested=request_value(annotations, ANNOTATION_RECREATED_AT),
    )


def request_value(annotations: Mapping[str, str], annotation: str) -> str | None:
    """A request annotation's value; an empty one asks for nothing."""
    return str(annotations.get(annotation) or "") or None


def known_from(status: Mapping[str, Any]) -> Known:
    """What a resource's status says was done, as the status writer stored it: the one builder of `Known`
    (the controller and `plan` call it)."""
    applied = status.get("applied")
    return Known(
        container_group_id=str(status.get("containerGroupId") or "") or None,
        applied=dict(applied) if isinstance(applied, Mapping) else None,
        applied_hash=status.get("appliedHash"),
        observed_generation=status.get("observedGeneration"),
        last_phase=status.get("phase"),
        applied_lists=(
            frozenset(status["appliedLists"]) if isinstance(status.get("appliedLists"), list) else None
        ),
        capacity=status.get("capacity"),
        account=status.get("account"),
        restart=_handled(status.get(RESTART)),
        recreate=_handled(status.get(RECREATE)),
    )


def _handled(record: object) -> Handled | None:
    """A request record from status (None: there is none, as in a status of an older release)."""
    if not isinstance(record, Mapping):
        return None
    return Handled(
        requested=record.get("requested"),
        container_group_id=record.get("containerGroupId"),
        result=record.get("result"),
    )


def plan(desired: Desired, known: Known, observation: Observation | None) -> Plan:
    """The next action for one resource (not being deleted)."""
    group_id = known.container_group_id
    if not group_id:
        return Plan(Action.CREATE)
    if known.restart is None or known.recreate is None:
        return _adopt_requests(desired, known, group_id)
    if observation is None or observation.container_group_id != group_id:
        return Plan(Action.OBSERVE, "ObservationPending", f"waiting for ECI to report group {group_id}")

    if observation.phase is not None and not observation.owned:
        return Plan(
            Action.FORGET,
            "ContainerGroupNotOwned",
            f"status names container group {group_id}, which does not carry this resource's uid tag: it is "
            "left alone, and this resource's own group is found or created",
        )

    spec_plan = _spec_plan(desired, known, observation, group_id)
    replacing = known.recreate
    if (
        replacing.result == SENDING
        and replacing.container_group_id == group_id
        and spec_plan.reason != "AccountChanged"
    ):
        # A requested replacement began (its record is written before the delete) and did not end. Not
        # when the credentials in use now cannot see the group: it may still run in the other account.
        return _recreate_requested(replacing.requested, group_id)

    if spec_plan.action not in (Action.NOTHING, Action.REFUSE):
        return spec_plan
    return _requested(desired, known, observation, group_id, spec_plan) or spec_plan


def recorded(known: Known, records: Mapping[str, Handled]) -> Known:
    """What status says once `records` are written (after an Acknowledge, say)."""
    return dataclasses.replace(
        known,
        restart=records.get(RESTART, known.restart),
        recreate=records.get(RECREATE, known.recreate),
    )


def handled_at_create(desired: Desired, known: Known, container_group_id: str) -> dict[str, Handled]:
    """The records written with a new group (created, or adopted by tag in the create path): it starts
    after every value seen so far, so none needs carrying out on it; a requested replacement under way is
    done. A record that already names the group is left out (not rewritten): the group was judged lost
    and is adopted back, it did not start after the values, and what its records say is owed (a restart
    Sending, with its time and so its ClientToken; a newer value; a replacement under way) still is."""
    recreate = RECREATED if known.recreate is not None and known.recreate.result == SENDING else NOT_NEEDED
    records = {
        RESTART: Handled(desired.restart_requested, container_group_id, NOT_NEEDED),
        RECREATE: Handled(desired.recreate_requested, container_group_id, recreate),
    }
    for kind, held in ((RESTART, known.restart), (RECREATE, known.recreate)):
        if held is not None and held.container_group_id == container_group_id:
            del records[kind]
    return records


def _adopt_requests(desired: Desired, known: Known, group_id: str) -> Plan:
    """Status has no record of the requests handled: it was written by a release that ignored the
    annotations. Values already set then are taken as handled (an upgrade restarts nothing); a value set
    later is a request."""
    records: dict[str, Handled] = {}
    values: list[str] = []
    for kind, held, value, annotation in (
        (RESTART, known.restart, desired.restart_requested, ANNOTATION_RESTARTED_AT),
        (RECREATE, known.recreate, desired.recreate_requested, ANNOTATION_RECREATED_AT),
    ):
        if held is None:
            records[kind] = Handled(value, group_id, NOT_NEEDED)
            if value is not None:
                values.append(f"{annotation}={value}")
    message = (
        f"{' and '.join(values)} set before this operator version handled requests: taken as done, not "
        "acted on (change the value to ask again)"
        if values
        else ""
    )
    return Plan(Action.ACKNOWLEDGE, "RequestsAdopted", message, records=records)


def _recreate_requested(value: str | None, group_id: str) -> Plan:
    return Plan(
        Action.RECREATE,
        "Recreating",
        f"{ANNOTATION_RECREATED_AT}={value} asks for a new group",
        records={RECREATE: Handled(value, group_id, SENDING)},
    )


def _requested(
    desired: Desired, known: Known, observation: Observation, group_id: str, spec_plan: Plan
) -> Plan | None:
    """A request to carry out (or to record as not applicable) where the spec alone asks for nothing, or
    for something refused; None when there is none."""
    phase = observation.phase
    # A group that cannot be seen with the credentials in use now (AccountChanged) cannot be acted on.
    unreachable = phase is None and spec_plan.action is Action.REFUSE
    recreate = desired.recreate_requested
    # A recreate the strategy does not allow is refused, but does not hold a restart back.
    refused: Plan | None = None
    if recreate is not None and known.recreate is not None and recreate != known.recreate.requested:
        if desired.update_strategy != "Recreate":
            refused = Plan(
                Action.REFUSE,
                "RecreateNotAllowed",
                f"{ANNOTATION_RECREATED_AT}={recreate} asks to replace container group {group_id}, which only "
                f"spec.updateStrategy: Recreate allows; set it, or remove the annotation",
            )
        else:
            return None if unreachable else _recreate_requested(recreate, group_id)

    held = known.restart or Handled()
    restart = desired.restart_requested
    if restart is not None and restart != held.requested:
        value: str | None = restart
    elif held.result == SENDING and held.container_group_id == group_id:
        value = held.requested  # sent (or about to be) when the process stopped: sent again, same token
    else:
        return refused
    if unreachable:
        return refused
    if phase in RESTARTABLE_PHASES:
        return Plan(
            Action.RESTART,
            "Restarting",
            f"{ANNOTATION_RESTARTED_AT}={value} asks for a restart",
            records={RESTART: Handled(value, group_id, SENDING)},
        )
    if phase is None or phase in ENDED_PHASES:
        return Plan(
            Action.ACKNOWLEDGE,
            "RestartNotApplicable",
            f"{ANNOTATION_RESTARTED_AT}={value} is not acted on: container group {group_id} is "
            f"{phase or 'gone'}, and ECI restarts only Pending or Running groups",
            records={RESTART: Handled(value, group_id, NOT_APPLICABLE)},
        )
    return refused or Plan(
        Action.WAIT, "Waiting", f"the group is {phase}; the restart waits for Pending or Running"
    )


def _spec_plan(desired: Desired, known: Known, observation: Observation, group_id: str) -> Plan:
    """What the spec asks for, once the group is observed and ours."""
    spec_changed_since_sent = known.observed_generation is not None and (
        desired.generation > known.observed_generation
    )
    finished = finished_phases(desired.restart_policy, desired.active_deadline)
    phase = observation.phase

    if phase is None:
        if known.last_phase in finished and not spec_changed_since_sent:
            return Plan(Action.NOTHING, "Finished", f"group {group_id} finished ({known.last_phase})")
        if known.account and desired.account and known.account != desired.account:
            # Another account cannot see the group: re-creating would make a second one.
            return Plan(
                Action.REFUSE,
                "AccountChanged",
                f"container group {group_id} was created with {known.account}; the credentials in use now "
                f"({desired.account}) do not find it. Put the credentials of {known.account} back (the group is "
                f"then found again), or delete this resource and create it again to start over under "
                f"{desired.account} (the group in the other account is left as it is)",
            )
        if known.last_phase in finished:
            return Plan(
                Action.RECREATE,
                "Recreating",
                f"the spec changed after group {group_id} finished ({known.last_phase})",
            )
        return Plan(
            Action.RECREATE,
            "ContainerGroupLost",
            f"container group {group_id} ({known.last_phase or 'unknown'}) no longer exists at ECI",
        )

    if phase in finished:
        if spec_changed_since_sent:
            return Plan(
                Action.RECREATE, "Recreating", f"the spec changed after group {group_id} finished ({phase})"
            )
        return Plan(Action.NOTHING, "Finished", f"group {group_id} finished ({phase})")

    if phase in RECLAIMED_PHASES:
        return Plan(
            Action.RECREATE,
            "ContainerGroupLost",
            f"container group {group_id} was reclaimed by ECI ({phase})",
        )

    if (
        phase == "ScheduleFailed"
        and observation.no_stock
        and desired.spot_fallback
        and known.capacity == "Spot"
    ):
        return Plan(
            Action.RECREATE,
            "SpotFallback",
            f"ECI had no spot stock for group {group_id} (ScheduleFailed): replacing it with an on-demand "
            "group (spec.spot.fallbackToOnDemand)",
        )

    changed = tuple(mapping.changed_immutable_fields(known.applied or {}, desired.immutable))
    if known.applied is None:
        changed = ()
    removed = tuple(sorted((known.applied_lists or frozenset()) - desired.removables))
    content_changed = known.applied_hash != desired.digest or bool(changed)

    if phase in ENDED_PHASES:
        # Failed or ScheduleFailed: UpdateContainerGroup cannot reach it; a new spec runs a new group.
        if spec_changed_since_sent or content_changed:
            return Plan(
                Action.RECREATE, "Recreating", f"the spec changed after group {group_id} ended ({phase})"
            )
        return Plan(Action.NOTHING, "Ended", f"group {group_id} ended ({phase})")

    if changed:
        return _replace_or_refuse(
            desired,
            changed,
            f"{', '.join(changed)} changed",
            "ImmutableFieldChanged",
            f"{', '.join(changed)} cannot change on an existing container group ({group_id})",
            "revert the change",
        )

    if removed and known.applied_hash != desired.digest:
        return _replace_or_refuse(
            desired,
            removed,
            f"{', '.join(removed)} removed",
            "RemovalNotApplicable",
            f"removing {', '.join(removed)} cannot be applied to container group {group_id} in place "
            "(UpdateContainerGroup cannot send an empty list, and ECI keeps what is not sent)",
            "put the field back",
        )

    if known.applied_hash != desired.digest:
        if phase not in UPDATABLE_PHASES:
            return Plan(
                Action.WAIT,
                "Waiting",
                f"the group is {phase}; the update waits for Pending or Running",
            )
        return Plan(Action.UPDATE)

    return Plan(
        Action.NOTHING, "UpToDate", f"container group {group_id} matches generation {desired.generation}"
    )


def _replace_or_refuse(
    desired: Desired, fields: tuple[str, ...], why: str, reason: str, refusal: str, undo: str
) -> Plan:
    """A change UpdateContainerGroup cannot make: replace the group under updateStrategy Recreate,
    otherwise refuse it, naming the fields and the two ways out."""
    if desired.update_strategy == "Recreate":
        return Plan(Action.RECREATE, "Recreating", why, fields)
    return Plan(
        Action.REFUSE,
        reason,
        f"{refusal}; set spec.updateStrategy: Recreate to replace the group, or {undo}",
        fields,
    )
