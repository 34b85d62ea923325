"""A wall clock with a settable forward offset, so tests can advance group lifecycles without sleeping."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time


class Clock:
    """Virtual time = real time + offset. Only the lifecycle uses it; request signatures use real time."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


def iso8601(timestamp: float) -> str:
    """ECI's time format, e.g. 2019-02-20T07:55:01Z."""
    return _iso8601_seconds(int(timestamp // 1))


@functools.lru_cache(maxsize=65536)
def _iso8601_seconds(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
