"""pytest fixture `eci_emulator`: a started Emulator on a free port, one AccessKey pair, the sample registries.

Installing the acr-eci-emulator distribution registers it (its pytest11 entry point); with plugin autoloading
off, enable it with `pytest_plugins = ["eci_emulator.pytest_plugin"]` in the root conftest (or import the
fixture).
The registries are the bundled copy of examples/emulator/acr-instances.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eci_emulator.admin import AdminClient
from eci_emulator.server import Emulator, sample_catalog_document

ACCESS_KEY_ID = "LTAI-emulator-test-key"
ACCESS_KEY_SECRET = "emulator-test-secret"


class EmulatorFixture(Emulator):
    """An Emulator that also names the AccessKey pair it accepts."""

    access_key_id = ACCESS_KEY_ID
    access_key_secret = ACCESS_KEY_SECRET

    @property
    def admin(self) -> AdminClient:
        """A client of this emulator's admin HTTP API."""
        return AdminClient(self.url)


@pytest.fixture
def eci_emulator() -> Iterator[EmulatorFixture]:
    emulator = EmulatorFixture(
        access_keys={ACCESS_KEY_ID: ACCESS_KEY_SECRET}, acr_instances=sample_catalog_document()
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
