"""Faults injected per action: error answers, added latency, late answers, dropped connections, schedule
failures."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Fault:
    error_code: str | None = None
    """Answer this ECI error code (with `http_status`) at `rate`."""
    http_status: int = 503
    message: str = "The request has failed due to a temporary failure of the server."
    rate: float = 1.0
    latency_seconds: float = 0.0
    """Real seconds slept BEFORE the request is handled: the answer, sent after the wait, reflects the state
    at the end of the wait (a slow server or a slow way in). Also delays dropped connections and errors."""
    response_delay_seconds: float = 0.0
    """Real seconds slept AFTER the answer was computed, before it is sent: the answer shows the state at the
    time the request arrived, delivered late (a slow way back), so it may be stale by the time the client
    reads it, e.g. listing a group the client deleted meanwhile. Applies to every answer the fault lets
    through (successes and error answers alike), not to dropped connections."""
    drop_rate: float = 0.0
    """Share of requests whose connection is closed without an answer."""
    schedule_failure_rate: float = 0.0
    """CreateContainerGroup only: share of created groups that end ScheduleFailed."""
    times: int | None = None
    """Apply to this many requests, then remove itself (None: until cleared)."""

    def __post_init__(self) -> None:
        for name in ("rate", "drop_rate", "schedule_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("latency_seconds", "response_delay_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1")


@dataclass
class FaultDecision:
    latency_seconds: float = 0.0
    """Sleep this long before handling the request (see Fault.latency_seconds)."""
    response_delay_seconds: float = 0.0
    """Sleep this long between computing the answer and sending it (see Fault.response_delay_seconds)."""
    drop: bool = False
    error: tuple[str, int, str] | None = None
    schedule_failure: bool = False


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._random = random.Random(seed)

    def set(self, action: str, fault: Fault) -> None:
        with self._lock:
            self._faults[action] = fault

    def clear(self, action: str | None = None) -> None:
        with self._lock:
            if action is None:
                self._faults.clear()
            else:
                self._faults.pop(action, None)

    def decide(self, action: str) -> FaultDecision:
        with self._lock:
            fault = self._faults.get(action) or self._faults.get("*")
            if fault is None:
                return FaultDecision()
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults = {key: value for key, value in self._faults.items() if value is not fault}
            decision = FaultDecision(
                latency_seconds=fault.latency_seconds, response_delay_seconds=fault.response_delay_seconds
            )
            if fault.drop_rate and self._random.random() < fault.drop_rate:
                decision.drop = True
            elif fault.error_code and self._random.random() < fault.rate:
                decision.error = (fault.error_code, fault.http_status, fault.message)
            if fault.schedule_failure_rate and self._random.random() < fault.schedule_failure_rate:
                decision.schedule_failure = True
            return decision

    def to_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {action: asdict(fault) for action, fault in self._faults.items()}
