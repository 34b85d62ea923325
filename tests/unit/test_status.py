"""From ECI's answer to the resource's status."""

from __future__ import annotations

from typing import Any

from acr_eci_operator.status import condition, new_events, observed_status, set_condition


def group(
    status: str, containers: list[dict[str, Any]], events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "ContainerGroupId": "eci-abc",
        "Status": status,
        "IntranetIp": "192.168.0.7",
        "InternetIp": "",
        "Containers": containers,
        "Events": events or [],
    }


RUNNING = {
    "Name": "c1",
    "Ready": True,
    "RestartCount": 2,
    "CurrentState": {"State": "Running", "Reason": "Started"},
}


def test_running_and_ready() -> None:
    observed = observed_status(group("Running", [RUNNING]), generation=3)
    assert observed["phase"] == "Running"
    assert observed["intranetIp"] == "192.168.0.7"
    assert observed["containers"] == [
        {"name": "c1", "ready": True, "restartCount": 2, "state": "Running", "reason": "Started"}
    ]
    ready = observed["ready"]
    assert (ready["type"], ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "Ready",
        "True",
        "Running",
        3,
    )


def test_a_failed_pull_names_the_reason_and_the_event_message() -> None:
    waiting = {
        "Name": "c1",
        "Ready": False,
        "CurrentState": {"State": "Waiting", "Reason": "ImagePullBackOff"},
    }
    events = [
        {
            "Type": "Normal",
            "Reason": "Pulling",
            "Message": "pulling",
            "LastTimestamp": "2026-01-01T00:00:01Z",
        },
        {
            "Type": "Warning",
            "Reason": "Failed",
            "Message": "pull access denied for x",
            "LastTimestamp": "2026-01-01T00:00:02Z",
        },
    ]
    observed = observed_status(group("Pending", [waiting], events), generation=1)
    ready = observed["ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ImagePullBackOff")
    assert ready["message"] == "container c1: pull access denied for x"
    assert observed["containers"][0]["state"] == "Waiting"


def test_succeeded_is_ready_and_exit_codes_are_kept() -> None:
    done = {
        "Name": "job",
        "Ready": False,
        "CurrentState": {"State": "Terminated", "Reason": "Completed", "ExitCode": 0},
    }
    observed = observed_status(group("Succeeded", [done]), generation=1)
    assert observed["ready"]["status"] == "True" and observed["ready"]["reason"] == "Succeeded"
    assert observed["containers"][0]["exitCode"] == 0


def test_failed_is_not_ready() -> None:
    failed = {"Name": "job", "CurrentState": {"State": "Terminated", "Reason": "Error", "ExitCode": 1}}
    ready = observed_status(group("Failed", [failed]), generation=1)["ready"]
    assert (ready["status"], ready["reason"]) == ("False", "Error")


def test_the_transition_time_moves_only_when_the_status_changes() -> None:
    first = set_condition(
        [], {**condition("Ready", False, "Pending", "m", 1), "lastTransitionTime": "2026-01-01T00:00:00Z"}
    )
    same = set_condition(first, condition("Ready", False, "Scheduling", "m2", 1))
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and same[0]["reason"] == "Scheduling"
    flipped = set_condition(same, condition("Ready", True, "Running", "m3", 2))
    assert flipped[0]["lastTransitionTime"] != "2026-01-01T00:00:00Z"
    assert flipped[0]["observedGeneration"] == 2
    other = set_condition(flipped, condition("Synced", True, "Created", "ok", 2))
    assert [c["type"] for c in other] == ["Ready", "Synced"]


def test_new_events_are_those_at_or_after_the_mark() -> None:
    events = [
        {"Reason": "A", "LastTimestamp": "2026-01-01T00:00:02Z"},
        {"Reason": "B", "LastTimestamp": "2026-01-01T00:00:01Z"},
        {"Reason": "C", "LastTimestamp": "2026-01-01T00:00:03Z"},
    ]
    fresh = new_events({"Events": events}, "2026-01-01T00:00:02Z")
    assert [e["Reason"] for e in fresh] == ["A", "C"]


def test_the_same_state_observed_twice_compares_equal() -> None:
    # The poller writes status only when an observation differs from the last one.
    first = observed_status(group("Running", [RUNNING]), generation=1)
    second = observed_status(group("Running", [RUNNING]), generation=1)
    assert first == second
    assert "lastTransitionTime" not in first["ready"]
    assert set_condition([], first["ready"])[0]["lastTransitionTime"]


def test_a_failing_readiness_probe_is_named_with_the_probe_message() -> None:
    not_ready = {**RUNNING, "Ready": False}
    unhealthy = {
        "Type": "Warning",
        "Reason": "Unhealthy",
        "Message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "LastTimestamp": "2026-12-02T08:00:00Z",
    }
    liveness = {**unhealthy, "Message": "Liveness probe failed: x", "LastTimestamp": "2026-12-02T08:00:09Z"}
    ready = observed_status(group("Running", [not_ready], [unhealthy, liveness]), generation=1)["ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ReadinessProbeFailed")
    assert ready["message"] == "container c1: Readiness probe failed: HTTP probe failed with statuscode: 503"
    # Without the event (ECI does not document it), a running container that is not ready still says so.
    ready = observed_status(group("Running", [not_ready]), generation=1)["ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ContainersNotReady",
        "container c1 is not ready",
    )


def test_the_matched_image_cache_comes_from_ecis_event() -> None:
    hit = {
        "Type": "Normal",
        "Reason": "SuccessfulHitImageCache",
        "Message": "Successfully hit image cache imc-2ze1.",
    }
    assert observed_status(group("Running", [RUNNING], [hit]), generation=1)["imageCache"] == "imc-2ze1"
    assert observed_status(group("Running", [RUNNING]), generation=1)["imageCache"] is None
