"""When a create looks groups up by tag first (`controller.before_create`), and what it records."""

from __future__ import annotations

from typing import Any

import pytest

from acr_eci_operator.controller import before_create, create_hash

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NOW_TEXT = "2027-01-15T08:00:00Z"
TRUST = 300.0
HASH = create_hash({"Container.1.Image": "nginx", "ClientToken": "uid-0"})


def record(incarnation: int, at: str = NOW_TEXT) -> dict[str, Any]:
    return {"incarnation": incarnation, "at": at, "parametersHash": HASH}


def test_the_hash_leaves_the_client_token_out() -> None:
    assert create_hash({"Container.1.Image": "nginx", "ClientToken": "uid-1"}) == HASH
    assert create_hash({"Container.1.Image": "nginx:2", "ClientToken": "uid-0"}) != HASH


def test_a_first_create_of_a_new_resource_looks_nothing_up() -> None:
    assert before_create({}, 0, HASH, NOW, TRUST) == (False, record(0))


def test_a_status_of_the_last_release_looks_up_first() -> None:
    # It wrote Creating before its create and recorded nothing: a create may have been sent.
    creating = {"conditions": [{"type": "Synced", "status": "Unknown", "reason": "Creating"}]}
    assert before_create(creating, 0, HASH, NOW, TRUST)[0]
    # A re-creation it began (incarnation written, old group cleared).
    assert before_create({"incarnation": 2}, 2, HASH, NOW, TRUST)[0]


def test_a_create_sent_within_the_trust_window_is_replayed_with_its_first_time_kept() -> None:
    earlier = "2027-01-15T07:56:00Z"  # 240 s before
    status: dict[str, Any] = {"conditions": [{}], "createSent": record(1, earlier)}
    assert before_create(status, 1, HASH, NOW, TRUST) == (False, record(1, earlier))


@pytest.mark.parametrize(
    "sent",
    [
        record(1, "2027-01-15T07:54:59Z"),  # 301 s ago: ECI may have forgotten the token
        record(1, "not a time"),
        {**record(1, "2027-01-15T07:59:00Z"), "onDemand": True},  # another token was sent too
        {**record(1, "2027-01-15T07:59:00Z"), "parametersHash": "other"},  # IdempotentParameterMismatch
        {"incarnation": 1, "at": "2027-01-15T07:59:00Z"},  # no hash: not known to be the same
    ],
)
def test_a_create_that_the_token_may_not_find_looks_up_first(sent: dict[str, Any]) -> None:
    look_up, written = before_create({"createSent": sent}, 1, HASH, NOW, TRUST)
    assert look_up
    assert written == record(1)


def test_a_re_creation_looks_up_first_once() -> None:
    # The group it replaces may still exist (judged lost from ECI's answers): it is adopted back.
    status: dict[str, Any] = {"incarnation": 3, "createSent": record(2, "2020-01-01T00:00:00Z")}
    assert before_create(status, 3, HASH, NOW, TRUST) == (True, record(3))
    # Sent again (a retry) within the window: the token finds what it made.
    status["createSent"] = record(3, "2027-01-15T07:59:00Z")
    assert before_create(status, 3, HASH, NOW, TRUST) == (False, record(3, "2027-01-15T07:59:00Z"))


def test_a_retry_within_the_window_looks_nothing_up_whatever_conditions_say() -> None:
    failed = {"conditions": [{"type": "Synced", "status": "False"}], "createSent": record(0)}
    assert not before_create(failed, 0, HASH, NOW, TRUST)[0]
