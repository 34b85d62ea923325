from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

# The loggers `cli.configure_logging` (and `kopf.configure` in it) change.
CONFIGURED = ("", "asyncio", "kubernetes", "urllib3", "kopf.objects")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo `cli.configure_logging`: kopf adds a root handler on the stream pytest captures for that test and
    closes afterwards, and every later test that logs would print a logging error."""
    loggers = [logging.getLogger(name or None) for name in CONFIGURED]
    saved = [(list(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
