"""Per-action token buckets, answered with Throttling.User when empty."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

# Defaults from the ECI flow-control and limits pages (they disagree; both are configurable):
# Create/Delete: a bucket of 100 refilled 20 per second (limits page); Update/Restart 1000 per 60 s,
# DescribeContainerGroups 2000 per 60 s, DescribeContainerGroupStatus/Events 10000 per 60 s (flow control).
DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "CreateContainerGroup": (20.0, 100.0),
    "DeleteContainerGroup": (20.0, 100.0),
    "UpdateContainerGroup": (1000 / 60, 100.0),
    "RestartContainerGroup": (1000 / 60, 100.0),
    "DescribeContainerGroups": (2000 / 60, 100.0),
    "DescribeContainerGroupStatus": (10000 / 60, 200.0),
    "DescribeContainerGroupEvents": (10000 / 60, 200.0),
}


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    def __init__(self, limits: dict[str, tuple[float, float]] | None = None, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self.enabled = enabled
        for action, (rate, burst) in {**DEFAULT_LIMITS, **(limits or {})}.items():
            self.set(action, rate, burst)

    def set(self, action: str, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        with self._lock:
            self._buckets[action] = TokenBucket(rate, burst)

    def remove(self, action: str) -> None:
        with self._lock:
            self._buckets.pop(action, None)

    def allow(self, action: str) -> bool:
        if not self.enabled:
            return True
        with self._lock:
            bucket = self._buckets.get(action)
            return True if bucket is None else bucket.take()

    def to_dict(self) -> dict[str, object]:
        with self._lock:
            return {
                "enabled": self.enabled,
                "limits": {
                    action: {"rate": bucket.rate, "burst": bucket.burst}
                    for action, bucket in self._buckets.items()
                },
            }
