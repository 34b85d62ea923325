"""The planner, row by row: phase x kind of change x restart policy x update strategy x finished or not."""

from __future__ import annotations

import pytest

from acr_eci_operator.planner import Action, Desired, Known, Observation, plan

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
    )


def known(
    digest: str | None = "d1",
    observed_generation: int | None = 2,
    last_phase: str | None = "Running",
    applied: dict[str, str] | None = None,
    group: str | None = GROUP,
    capacity: str | None = None,
    account: str | None = None,
) -> Known:
    return Known(
        container_group_id=group,
        applied=APPLIED if applied is None else applied,
        applied_hash=digest,
        observed_generation=observed_generation,
        last_phase=last_phase,
        capacity=capacity,
        account=account,
    )


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
]


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
