"""The log of requests the emulator received (ECI and STS), for tests to read (secrets redacted)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

REDACTED = "******"
SECRET_PARAMETERS = frozenset({"SecurityToken", "OIDCToken"})
"""Parameters never shown (besides every *Password)."""


def redact(parameters: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED if name.endswith("Password") or name in SECRET_PARAMETERS else value
        for name, value in parameters.items()
    }


class RequestLog:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, action: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self._entries if action is None or entry["action"] == action]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
