"""Fixtures for the AcrContainerGroup API tests: the CRD applied to the session's apiserver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.acg_testlib import apply_crd, load_crd


@pytest.fixture(scope="session")
def acg_crd(kube_api: Any) -> Iterator[dict[str, Any]]:
    """The AcrContainerGroup CRD from crds/, created or replaced on the session's apiserver and
    Established. Yields the CRD as a dict; left in place (other tests may use it)."""
    crd = load_crd()
    apply_crd(kube_api, crd)
    yield crd
