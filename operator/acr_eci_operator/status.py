"""Pure functions from what ECI reports to the resource's status: phase, IPs, containers, conditions."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from acr_eci_operator.models import Condition, merge_condition

PULL_FAILURE_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
CRASH_REASONS = frozenset({"CrashLoopBackOff", "RunContainerError", "CreateContainerError"})
"""Container waiting reasons that mean it fails to run (Argo CD shows such Pods Degraded)."""


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: bool, reason: str, message: str, generation: int | None) -> dict[str, Any]:
    """A metav1.Condition stamped now; `set_condition` keeps the old time when the status is unchanged."""
    return Condition(
        type=type_,
        status="True" if status else "False",
        reason=reason,
        message=message[:32768],
        last_transition_time=now_iso(),
        observed_generation=generation,
    ).to_dict()


def set_condition(conditions: Sequence[Mapping[str, Any]], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Conditions with `new` replacing its type; lastTransitionTime moves only when the status changes
    (a `new` without one is stamped now)."""
    stamped = {"lastTransitionTime": now_iso(), **{k: v for k, v in new.items() if v is not None}}
    return merge_condition(conditions, Condition(**{_snake(k): v for k, v in stamped.items()}))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for existing in conditions or ():
        if existing.get("type") == type_:
            return existing
    return None


def container_status(container: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of status.containers from an ECI Containers[] item."""
    state = container.get("CurrentState") or {}
    entry: dict[str, Any] = {
        "name": container.get("Name", ""),
        "ready": bool(container.get("Ready", False)),
        "restartCount": int(container.get("RestartCount") or 0),
        "state": state.get("State") or "Waiting",
    }
    if state.get("Reason"):
        entry["reason"] = state["Reason"]
    if state.get("ExitCode") is not None and entry["state"] == "Terminated":
        entry["exitCode"] = int(state["ExitCode"])
    message = state.get("DetailStatus") or state.get("Message")
    if message:
        entry["message"] = str(message)
    return entry


def latest_event_message(
    group: Mapping[str, Any], reasons: Sequence[str] = ("Failed", "BackOff"), prefix: str = ""
) -> str | None:
    """The message of the newest Warning event with one of the reasons (why a pull failed, say) and,
    when given, a message starting with `prefix`."""
    candidates = [
        event
        for event in group.get("Events") or []
        if event.get("Type") == "Warning"
        and event.get("Reason") in reasons
        and not str(event.get("Message") or "").startswith("Error: ")  # kubelet's bare "Error: <reason>"
        and str(event.get("Message") or "").startswith(prefix)
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda event: str(event.get("LastTimestamp") or ""))
    return str(newest.get("Message") or "") or None


def ready_condition(
    group: Mapping[str, Any], containers: Sequence[Mapping[str, Any]], generation: int | None
) -> dict[str, Any]:
    """Ready: True when Running with every container ready, or Succeeded; otherwise why not."""
    phase = str(group.get("Status") or "Unknown")
    for init in group.get("InitContainers") or []:
        state = init.get("CurrentState") or {}
        failed_exit = state.get("State") == "Terminated" and int(state.get("ExitCode") or 0) != 0
        if failed_exit or state.get("Reason") in CRASH_REASONS:
            why = state.get("Reason") or f"exit code {state.get('ExitCode')}"
            return condition(
                "Ready",
                False,
                "InitContainerFailed",
                f"init container {init.get('Name', '')} failed: {why}",
                generation,
            )
    for container in containers:
        if container.get("reason") in CRASH_REASONS:
            return condition(
                "Ready",
                False,
                str(container["reason"]),
                f"container {container['name']} is {container['state']} ({container['reason']}) after "
                f"{container['restartCount']} restarts",
                generation,
            )
    if phase == "Succeeded":
        return condition("Ready", True, "Succeeded", "every container exited 0", generation)
    if phase == "Running" and containers and all(c["ready"] for c in containers):
        return condition("Ready", True, "Running", "every container is running and ready", generation)
    for container in containers:
        if container.get("reason") in PULL_FAILURE_REASONS:
            why = container.get("message") or latest_event_message(group) or "the image could not be pulled"
            return condition(
                "Ready", False, str(container["reason"]), f"container {container['name']}: {why}", generation
            )
    not_ready = [c["name"] for c in containers if c["state"] == "Running" and not c["ready"]]
    if phase == "Running" and not_ready:
        # A readiness probe that fails keeps a running container not ready. ECI's documentation lists no
        # probe events; the kubelet's "Unhealthy" / "Readiness probe failed: ..." is used when present.
        probe = latest_event_message(group, ("Unhealthy",), prefix="Readiness probe failed")
        if probe:
            return condition(
                "Ready",
                False,
                "ReadinessProbeFailed",
                f"container {', '.join(not_ready)}: {probe}",
                generation,
            )
        return condition(
            "Ready", False, "ContainersNotReady", f"container {', '.join(not_ready)} is not ready", generation
        )
    for container in containers:
        if container["state"] != "Running" and container.get("reason"):
            return condition(
                "Ready",
                False,
                str(container["reason"]),
                f"container {container['name']} is {container['state']}",
                generation,
            )
    return condition("Ready", False, phase, f"the container group is {phase}", generation)


def observation_failed(after_seconds: float, generation: int | None) -> dict[str, Any]:
    """Ready is Unknown when ECI could not be asked about the group for a while: the last known state
    may no longer be true."""
    return {
        "type": "Ready",
        "status": "Unknown",
        "reason": "ObservationFailed",
        "message": f"the container group could not be observed at ECI for more than {after_seconds:g}s",
        "observedGeneration": generation,
    }


IMAGE_CACHE_HIT = re.compile(r"\b(imc-[a-z0-9]+)\b")


def matched_image_cache(group: Mapping[str, Any]) -> str | None:
    """The image cache ECI started the group from, as its SuccessfulHitImageCache event names it (ECI's
    DescribeContainerGroups answer has no field for it; the event table documents this event)."""
    for event in group.get("Events") or []:
        if event.get("Reason") == "SuccessfulHitImageCache":
            match = IMAGE_CACHE_HIT.search(str(event.get("Message") or ""))
            if match:
                return match.group(1)
    return None


def observed_status(group: Mapping[str, Any], generation: int | None) -> dict[str, Any]:
    """The part of status that follows ECI: phase, IPs, containers, the matched image cache and the
    Ready condition."""
    containers = [container_status(c) for c in group.get("Containers") or []]
    return {
        "imageCache": matched_image_cache(group),
        "phase": str(group.get("Status") or "Unknown"),
        # None (the field is removed) rather than "" when ECI has no address (yet).
        "intranetIp": group.get("IntranetIp") or None,
        "internetIp": group.get("InternetIp") or None,
        "containers": containers,
        # Unstamped, so that two observations of the same state compare equal; set_condition stamps it.
        "ready": {
            k: v
            for k, v in ready_condition(group, containers, generation).items()
            if k != "lastTransitionTime"
        },
    }


def event_key(event: Mapping[str, Any]) -> str:
    """What identifies one ECI event: a repeat only raises its Count and LastTimestamp, and is not
    posted again."""
    return "|".join(str(event.get(field) or "") for field in ("Type", "Reason", "Message", "FirstTimestamp"))


def new_events(group: Mapping[str, Any], since: str) -> list[Mapping[str, Any]]:
    """ECI events whose LastTimestamp is at or after `since` (ISO 8601 UTC, compared as strings), oldest
    first. ECI stamps events to the second, so the caller drops the ones it already posted by event_key."""
    events = [event for event in group.get("Events") or [] if str(event.get("LastTimestamp") or "") >= since]
    return sorted(events, key=lambda event: str(event.get("LastTimestamp") or ""))
