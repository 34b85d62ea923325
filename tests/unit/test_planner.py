"""The planner, row by row: phase x kind of change x restart policy x update strategy x finished or not."""

from __future__ import annotations

import pytest

from acr_eci_operator.planner import (
    NOT_APPLICABLE,
    NOT_NEEDED,
    RECREATE,
    RECREATED,
    RESTART,
    RESTARTED,
    SENDING,
    Action,
    Desired,
    Handled,
    Known,
    Observation,
    handled_at_create,
    plan,
)

GROUP = "eci-abc"
APPLIED = {"zoneId": "cn-beijing-a"}


def desired(
    generation: int = 2,
    digest: str = "d1",
    immutable: dict[str, str] | None = None,
    restart_policy: str = "Always",
    update_strategy: str = "InPlace",
    active_deadline: bool = False,
    spot_fallback: bool = False,
    account: str | None = None,
    restart: str | None = None,
    recreate: str | None = None,
) -> Desired:
    return Desired(
        generation=generation,
        digest=digest,
        immutable=APPLIED if immutable is None else immutable,
        restart_policy=restart_policy,
        update_strategy=update_strategy,
        active_deadline=active_deadline,
        spot_fallback=spot_fallback,
        account=account,
        restart_requested=restart,
        recreate_requested=recreate,
    )


NO_RECORD = Handled(requested="no record")
"""Stands for a status without the record (None) in `known`."""
NOTHING_ASKED = Handled()
"""A record with no value: the operator handles requests for the resource, none was made."""


def known(
    digest: str | None = "d1",
    observed_generation: int | None = 2,
    last_phase: str | None = "Running",
    applied: dict[str, str] | None = None,
    group: str | None = GROUP,
    capacity: str | None = None,
    account: str | None = None,
    restart: Handled = NOTHING_ASKED,
    recreate: Handled = NOTHING_ASKED,
) -> Known:
    return Known(
        container_group_id=group,
        applied=APPLIED if applied is None else applied,
        applied_hash=digest,
        observed_generation=observed_generation,
        last_phase=last_phase,
        capacity=capacity,
        account=account,
        restart=None if restart is NO_RECORD else restart,
        recreate=None if recreate is NO_RECORD else recreate,
    )


T1, T2 = "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"


def restarted(value: str | None = T1, result: str = RESTARTED, group: str = GROUP) -> Handled:
    return Handled(value, group, result)


def seen(phase: str | None, no_stock: bool = False) -> Observation:
    return Observation(GROUP, phase, no_stock=no_stock)


# (id, desired, known, observation, expected action, expected reason)
ROWS = [
    # No group yet.
    ("no group: create", desired(), known(group=None), None, Action.CREATE, ""),
    # A group id but no observation since the last change: never decide from a remembered phase.
    (
        "no observation: observe",
        desired(digest="d2"),
        known(last_phase="Running"),
        None,
        Action.OBSERVE,
        "ObservationPending",
    ),
    (
        "observation of another group: observe",
        desired(),
        known(),
        Observation("eci-other", "Running"),
        Action.OBSERVE,
        "ObservationPending",
    ),
    # In sync.
    ("running, in sync", desired(), known(), seen("Running"), Action.NOTHING, "UpToDate"),
    ("scheduling, in sync", desired(), known(), seen("Scheduling"), Action.NOTHING, "UpToDate"),
    # A mutable change.
    ("running, changed: update", desired(digest="d2"), known(), seen("Running"), Action.UPDATE, ""),
    ("pending, changed: update", desired(digest="d2"), known(), seen("Pending"), Action.UPDATE, ""),
    ("scheduling, changed: wait", desired(digest="d2"), known(), seen("Scheduling"), Action.WAIT, "Waiting"),
    ("updating, changed: wait", desired(digest="d2"), known(), seen("Updating"), Action.WAIT, "Waiting"),
    ("restarting, changed: wait", desired(digest="d2"), known(), seen("Restarting"), Action.WAIT, "Waiting"),
    (
        "adopted (nothing known), running: update",
        desired(),
        known(digest=None),
        seen("Running"),
        Action.UPDATE,
        "",
    ),
    # An immutable change.
    (
        "immutable change refused",
        desired(immutable={"zoneId": "cn-beijing-b"}),
        known(),
        seen("Running"),
        Action.REFUSE,
        "ImmutableFieldChanged",
    ),
    (
        "immutable change under Recreate",
        desired(immutable={"zoneId": "cn-beijing-b"}, update_strategy="Recreate"),
        known(),
        seen("Running"),
        Action.RECREATE,
        "Recreating",
    ),
    (
        "immutable change of an adopted group (applied unknown) is not judged",
        desired(immutable={"zoneId": "cn-beijing-b"}),
        Known(GROUP, None, None, 2, "Running"),
        seen("Running"),
        Action.UPDATE,
        "",
    ),
    # Lost and reclaimed groups.
    ("gone, Always: recreate", desired(), known(), seen(None), Action.RECREATE, "ContainerGroupLost"),
    ("expired: recreate", desired(), known(), seen("Expired"), Action.RECREATE, "ContainerGroupLost"),
    (
        "deadline ended, then gone: not run again",
        desired(active_deadline=True),
        known(last_phase="Failed"),
        seen(None),
        Action.NOTHING,
        "Finished",
    ),
    (
        "failed without a deadline, then gone: lost",
        desired(),
        known(last_phase="Failed"),
        seen(None),
        Action.RECREATE,
        "ContainerGroupLost",
    ),
    (
        "expired, Never (not finished): recreate",
        desired(restart_policy="Never"),
        known(),
        seen("Expired"),
        Action.RECREATE,
        "ContainerGroupLost",
    ),
    (
        "gone while Scheduling, Never: recreate",
        desired(restart_policy="Never"),
        known(last_phase="Scheduling"),
        seen(None),
        Action.RECREATE,
        "ContainerGroupLost",
    ),
    # Finished jobs run again only when the generation changed after they finished.
    (
        "Never succeeded, same generation, new digest (rotated Secret): nothing",
        desired(digest="d2", restart_policy="Never"),
        known(),
        seen("Succeeded"),
        Action.NOTHING,
        "Finished",
    ),
    (
        "Never failed, same generation: nothing",
        desired(restart_policy="Never"),
        known(),
        seen("Failed"),
        Action.NOTHING,
        "Finished",
    ),
    (
        "Never succeeded, newer generation: recreate",
        desired(generation=3, digest="d2", restart_policy="Never"),
        known(),
        seen("Succeeded"),
        Action.RECREATE,
        "Recreating",
    ),
    (
        "OnFailure succeeded, same generation: nothing",
        desired(digest="d2", restart_policy="OnFailure"),
        known(),
        seen("Succeeded"),
        Action.NOTHING,
        "Finished",
    ),
    (
        "Never succeeded then gone, same generation: nothing",
        desired(restart_policy="Never"),
        known(last_phase="Succeeded"),
        seen(None),
        Action.NOTHING,
        "Finished",
    ),
    (
        "Never succeeded then gone, newer generation: recreate",
        desired(generation=3, restart_policy="Never"),
        known(last_phase="Succeeded"),
        seen(None),
        Action.RECREATE,
        "Recreating",
    ),
    (
        "OnFailure failed then gone: recreate (OnFailure finishes only by success)",
        desired(restart_policy="OnFailure"),
        known(last_phase="Failed"),
        seen(None),
        Action.RECREATE,
        "ContainerGroupLost",
    ),
    (
        "status from the last release without observedGeneration, finished: nothing",
        desired(restart_policy="Never"),
        known(observed_generation=None),
        seen("Succeeded"),
        Action.NOTHING,
        "Finished",
    ),
    # Ended groups that are not finished jobs.
    (
        "schedule failed, no change: nothing",
        desired(),
        known(),
        seen("ScheduleFailed"),
        Action.NOTHING,
        "Ended",
    ),
    (
        "schedule failed, changed: recreate",
        desired(digest="d2"),
        known(),
        seen("ScheduleFailed"),
        Action.RECREATE,
        "Recreating",
    ),
    # Accounts: another account cannot see the group; re-creating would make a second one.
    (
        "gone, credentials of another account now: refuse",
        desired(account="LTAI-b"),
        known(account="LTAI-a"),
        seen(None),
        Action.REFUSE,
        "AccountChanged",
    ),
    (
        "gone, same account: recreate",
        desired(account="LTAI-a"),
        known(account="LTAI-a"),
        seen(None),
        Action.RECREATE,
        "ContainerGroupLost",
    ),
    (
        "gone, status of the last release (no account): recreate",
        desired(account="LTAI-a"),
        known(),
        seen(None),
        Action.RECREATE,
        "ContainerGroupLost",
    ),
    (
        "running, seen with another key (a rotated key of the same account): nothing",
        desired(account="LTAI-b"),
        known(account="LTAI-a"),
        seen("Running"),
        Action.NOTHING,
        "UpToDate",
    ),
    (
        "finished job gone, another account now: nothing",
        desired(account="LTAI-b", restart_policy="Never"),
        known(account="LTAI-a", last_phase="Succeeded"),
        seen(None),
        Action.NOTHING,
        "Finished",
    ),
    # A spot group ECI accepted but could not place for want of stock.
    (
        "spot, schedule failed for stock, fallback on: recreate on demand",
        desired(spot_fallback=True),
        known(capacity="Spot"),
        seen("ScheduleFailed", no_stock=True),
        Action.RECREATE,
        "SpotFallback",
    ),
    (
        "spot, schedule failed for stock, no fallback: nothing",
        desired(),
        known(capacity="Spot"),
        seen("ScheduleFailed", no_stock=True),
        Action.NOTHING,
        "Ended",
    ),
    (
        "spot, schedule failed for another reason, fallback on: nothing",
        desired(spot_fallback=True),
        known(capacity="Spot"),
        seen("ScheduleFailed"),
        Action.NOTHING,
        "Ended",
    ),
    (
        "on-demand fallback group, schedule failed for stock: nothing (no second fallback)",
        desired(spot_fallback=True),
        known(capacity="OnDemand"),
        seen("ScheduleFailed", no_stock=True),
        Action.NOTHING,
        "Ended",
    ),
    (
        "failed Always group, newer generation: recreate",
        desired(generation=3),
        known(),
        seen("Failed"),
        Action.RECREATE,
        "Recreating",
    ),
    # Restart by annotation: a value other than the one handled restarts a Pending or Running group once.
    ("restart asked, Running: restart", desired(restart=T2), known(restart=restarted()), seen("Running"), Action.RESTART, "Restarting"),
    ("restart asked, Pending: restart", desired(restart=T2), known(restart=restarted()), seen("Pending"), Action.RESTART, "Restarting"),
    ("first restart asked (record without value): restart", desired(restart=T1), known(), seen("Running"), Action.RESTART, "Restarting"),
    ("restart value handled: nothing", desired(restart=T1), known(restart=restarted()), seen("Running"), Action.NOTHING, "UpToDate"),
    ("restart value handled as not needed: nothing", desired(restart=T1), known(restart=restarted(result=NOT_NEEDED)), seen("Running"), Action.NOTHING, "UpToDate"),
    ("annotation removed: nothing", desired(), known(restart=restarted()), seen("Running"), Action.NOTHING, "UpToDate"),
    ("restart asked, Scheduling: wait", desired(restart=T2), known(restart=restarted()), seen("Scheduling"), Action.WAIT, "Waiting"),
    ("restart asked, Restarting: wait", desired(restart=T2), known(restart=restarted()), seen("Restarting"), Action.WAIT, "Waiting"),
    ("restart asked, Updating after our update: wait", desired(restart=T2), known(restart=restarted()), seen("Updating"), Action.WAIT, "Waiting"),
    ("restart and update asked: update first", desired(digest="d2", restart=T2), known(restart=restarted()), seen("Running"), Action.UPDATE, ""),
    ("restart and immutable change (Recreate): recreate, the restart is moot", desired(immutable={"zoneId": "b"}, update_strategy="Recreate", restart=T2), known(restart=restarted()), seen("Running"), Action.RECREATE, "Recreating"),
    ("restart with a refused change: restart (then refuse again)", desired(immutable={"zoneId": "b"}, restart=T2), known(restart=restarted()), seen("Running"), Action.RESTART, "Restarting"),
    ("restart of a lost group: recreate, the restart is moot", desired(restart=T2), known(restart=restarted()), seen(None), Action.RECREATE, "ContainerGroupLost"),
    ("restart of a reclaimed group: recreate", desired(restart=T2), known(restart=restarted()), seen("Expired"), Action.RECREATE, "ContainerGroupLost"),
    ("restart of a finished job: not applicable", desired(restart_policy="Never", restart=T2), known(restart=restarted()), seen("Succeeded"), Action.ACKNOWLEDGE, "RestartNotApplicable"),
    ("restart of a finished job ECI dropped: not applicable", desired(restart_policy="Never", restart=T2), known(last_phase="Succeeded", restart=restarted()), seen(None), Action.ACKNOWLEDGE, "RestartNotApplicable"),
    ("restart of a failed Always group: not applicable", desired(restart=T2), known(restart=restarted()), seen("Failed"), Action.ACKNOWLEDGE, "RestartNotApplicable"),
    ("restart of a group another account cannot see: refuse", desired(restart=T2, account="B"), known(account="A", restart=restarted()), seen(None), Action.REFUSE, "AccountChanged"),
    ("restart not observed yet: observe", desired(restart=T2), known(restart=restarted()), None, Action.OBSERVE, "ObservationPending"),
    # A record Sending for the current group: the process stopped after writing it; sent again.
    ("restart Sending, Running: send again", desired(restart=T1), known(restart=restarted(result=SENDING)), seen("Running"), Action.RESTART, "Restarting"),
    ("restart Sending, annotation removed since: send again", desired(), known(restart=restarted(result=SENDING)), seen("Running"), Action.RESTART, "Restarting"),
    ("restart Sending, Restarting: wait", desired(restart=T1), known(restart=restarted(result=SENDING)), seen("Restarting"), Action.WAIT, "Waiting"),
    ("restart Sending for a group replaced since: nothing", desired(restart=T1), known(restart=restarted(result=SENDING, group="eci-old")), seen("Running"), Action.NOTHING, "UpToDate"),
    # Upgrade: a status of the last release has no records; values already set are taken as handled.
    ("status of the last release, annotation set: adopted, no restart", desired(restart=T1), known(restart=NO_RECORD, recreate=NO_RECORD), seen("Running"), Action.ACKNOWLEDGE, "RequestsAdopted"),
    ("status of the last release, no annotation: adopted", desired(), known(restart=NO_RECORD, recreate=NO_RECORD), None, Action.ACKNOWLEDGE, "RequestsAdopted"),
    ("status of the last release, no group: create", desired(restart=T1), known(group=None, restart=NO_RECORD, recreate=NO_RECORD), None, Action.CREATE, ""),
    # Recreate by annotation: only under updateStrategy Recreate.
    ("recreate asked under Recreate: recreate", desired(update_strategy="Recreate", recreate=T1), known(), seen("Running"), Action.RECREATE, "Recreating"),
    ("recreate asked under InPlace: refuse", desired(recreate=T1), known(), seen("Running"), Action.REFUSE, "RecreateNotAllowed"),
    # A refused recreate does not hold a restart back (Argo CD's recreate action run on an InPlace resource, then restart).
    ("recreate refused, restart asked: restart", desired(recreate=T1, restart=T2), known(restart=restarted()), seen("Running"), Action.RESTART, "Restarting"),
    ("recreate refused, restart handled: refuse", desired(recreate=T1, restart=T1), known(restart=restarted()), seen("Running"), Action.REFUSE, "RecreateNotAllowed"),
    ("recreate value handled: nothing", desired(update_strategy="Recreate", recreate=T1), known(recreate=restarted(result=RECREATED)), seen("Running"), Action.NOTHING, "UpToDate"),
    ("recreate of a finished job: recreate (runs it again)", desired(restart_policy="Never", update_strategy="Recreate", recreate=T1), known(), seen("Succeeded"), Action.RECREATE, "Recreating"),
    ("recreate of a finished job ECI dropped: recreate", desired(restart_policy="Never", update_strategy="Recreate", recreate=T1), known(last_phase="Succeeded"), seen(None), Action.RECREATE, "Recreating"),
    ("recreate and restart asked: recreate", desired(update_strategy="Recreate", recreate=T1, restart=T1), known(), seen("Running"), Action.RECREATE, "Recreating"),
    ("recreate asked while Scheduling: recreate", desired(update_strategy="Recreate", recreate=T1), known(), seen("Scheduling"), Action.RECREATE, "Recreating"),
    ("recreate and update asked: update first", desired(digest="d2", update_strategy="Recreate", recreate=T1), known(), seen("Running"), Action.UPDATE, ""),
    # A replacement recorded Sending whose group status still names: carried on, whatever the phase.
    ("recreate Sending, group still there: recreate", desired(update_strategy="Recreate", recreate=T1), known(recreate=restarted(result=SENDING)), seen("Running"), Action.RECREATE, "Recreating"),
    ("recreate Sending, group deleted, job had finished: recreate", desired(restart_policy="Never", update_strategy="Recreate", recreate=T1), known(last_phase="Succeeded", recreate=restarted(result=SENDING)), seen(None), Action.RECREATE, "Recreating"),
    ("recreate Sending for a group replaced since: nothing", desired(update_strategy="Recreate", recreate=T1), known(recreate=restarted(result=SENDING, group="eci-old")), seen("Running"), Action.NOTHING, "UpToDate"),
    # Another account cannot see the group: replacing it would leave it running there and make a second one.
    ("recreate Sending, group not seen with another account: refuse", desired(update_strategy="Recreate", recreate=T1, account="B"), known(account="A", recreate=restarted(result=SENDING)), seen(None), Action.REFUSE, "AccountChanged"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "want", "have", "observation", "action", "reason"), ROWS, ids=[r[0] for r in ROWS]
)
def test_plan(
    name: str, want: Desired, have: Known, observation: Observation | None, action: Action, reason: str
) -> None:
    result = plan(want, have, observation)
    assert (result.action, result.reason) == (action, reason), result.message


def test_refusal_names_the_field_and_the_way_out() -> None:
    result = plan(desired(immutable={"zoneId": "cn-beijing-b"}), known(), seen("Running"))
    assert "spec.zoneId" in result.message
    assert "updateStrategy: Recreate" in result.message
    assert result.changed == ("spec.zoneId",)


def test_waiting_names_the_phase() -> None:
    assert "Scheduling" in plan(desired(digest="d2"), known(), seen("Scheduling")).message


CREDENTIALS = "spec.imageRegistryCredentials"


@pytest.mark.parametrize(
    ("applied", "now", "strategy", "action"),
    [
        (frozenset({CREDENTIALS}), frozenset(), "InPlace", Action.REFUSE),
        (frozenset({CREDENTIALS}), frozenset(), "Recreate", Action.RECREATE),
        (frozenset({CREDENTIALS, "spec.cpu"}), frozenset({CREDENTIALS}), "InPlace", Action.REFUSE),
        (frozenset(), frozenset({CREDENTIALS}), "InPlace", Action.UPDATE),  # adding is an update
        (None, frozenset(), "InPlace", Action.UPDATE),  # unknown (a status of the last release)
    ],
)
def test_removing_a_whole_list_is_never_sent_as_an_update(
    applied: frozenset[str] | None, now: frozenset[str], strategy: str, action: Action
) -> None:
    want = Desired(2, "d2", APPLIED, update_strategy=strategy, removables=now)
    have = Known(GROUP, APPLIED, "d1", 2, "Running", applied_lists=applied)
    result = plan(want, have, seen("Running"))
    assert result.action is action
    if action is Action.REFUSE:
        assert result.reason == "RemovalNotApplicable"
        assert set(result.changed) == applied - now  # type: ignore[operator]
        assert "updateStrategy: Recreate" in result.message


def test_a_group_without_our_uid_tag_is_forgotten_never_touched() -> None:
    foreign = Observation(GROUP, "Running", owned=False)
    for want in (
        desired(),
        desired(digest="d2"),
        desired(immutable={"zoneId": "b"}, update_strategy="Recreate"),
    ):
        assert plan(want, known(), foreign).action is Action.FORGET


def test_a_restart_plan_names_the_record_to_write_first() -> None:
    result = plan(desired(restart=T2), known(restart=restarted()), seen("Running"))
    assert result.records == {RESTART: Handled(T2, GROUP, SENDING)}
    assert "eci.acr-operator.dev/restartedAt=" + T2 in result.message
    resumed = plan(desired(), known(restart=restarted(result=SENDING)), seen("Running"))
    assert resumed.records == {RESTART: Handled(T1, GROUP, SENDING)}


def test_a_restart_not_applicable_is_recorded_and_explained() -> None:
    result = plan(desired(restart=T2), known(restart=restarted()), seen("Failed"))
    assert result.records == {RESTART: Handled(T2, GROUP, NOT_APPLICABLE)}
    assert "Failed" in result.message and "Pending or Running" in result.message


def test_adopting_a_status_of_the_last_release_records_the_values_set_then() -> None:
    result = plan(desired(restart=T1), known(restart=NO_RECORD, recreate=NO_RECORD), None)
    assert result.records == {
        RESTART: Handled(T1, GROUP, NOT_NEEDED),
        RECREATE: Handled(None, GROUP, NOT_NEEDED),
    }
    assert "eci.acr-operator.dev/restartedAt=" + T1 in result.message
    # Without any value set there is nothing to say (no event).
    assert plan(desired(), known(restart=NO_RECORD, recreate=NO_RECORD), None).message == ""
    # Only the missing record is written.
    partial = plan(desired(restart=T2), known(restart=restarted(), recreate=NO_RECORD), None)
    assert set(partial.records) == {RECREATE}


def test_a_recreate_refusal_names_the_way_out() -> None:
    result = plan(desired(recreate=T1), known(), seen("Running"))
    assert "updateStrategy: Recreate" in result.message
    assert "eci.acr-operator.dev/recreatedAt=" + T1 in result.message


def test_a_requested_recreate_records_the_group_it_replaces() -> None:
    result = plan(desired(update_strategy="Recreate", recreate=T1), known(), seen("Running"))
    assert result.records == {RECREATE: Handled(T1, GROUP, SENDING)}


def test_a_new_group_needs_none_of_the_requests_seen_so_far() -> None:
    records = handled_at_create(desired(restart=T2, recreate=T1), known(group=None), "eci-new")
    assert records == {
        RESTART: Handled(T2, "eci-new", NOT_NEEDED),
        RECREATE: Handled(T1, "eci-new", NOT_NEEDED),
    }
    replacing = known(group=None, recreate=restarted(result=SENDING))
    assert handled_at_create(desired(recreate=T1), replacing, "eci-new")[RECREATE] == Handled(
        T1, "eci-new", RECREATED
    )
    legacy = known(group=None, restart=NO_RECORD, recreate=NO_RECORD)
    assert handled_at_create(desired(), legacy, "eci-new")[RESTART] == Handled(None, "eci-new", NOT_NEEDED)


def test_a_group_adopted_back_keeps_the_requests_recorded_for_it() -> None:
    """A group judged lost (ECI left it out of two answers) and found again by its uid tag is the same
    group, not one that started after the values: what its records say is still to do stays to do (a
    restart Sending is sent again, a newer value is carried out, a replacement under way goes on)."""
    lost = known(group=None, restart=restarted(result=SENDING), recreate=restarted(result=SENDING))
    assert handled_at_create(desired(restart=T1, recreate=T1), lost, GROUP) == {}  # left as they are
    pending = known(group=None, restart=restarted())
    assert set(handled_at_create(desired(restart=T2), pending, GROUP)) == {RECREATE}
