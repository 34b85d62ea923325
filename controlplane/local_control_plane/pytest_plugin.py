"""pytest fixtures: one control plane per test session and an admin API client for it; likewise the
CEL-enforcing apiextensions-apiserver 1.36, started only by the tests that ask for it.

Installing the acr-eci-local-control-plane distribution registers it (its pytest11 entry point); with plugin
autoloading off, enable it with `pytest_plugins = ["local_control_plane.pytest_plugin"]` in the root conftest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_control_plane.apiextensions import ApiextensionsServer, running_apiextensions
from local_control_plane.cluster import ControlPlane, TokenUser, running, service_account_user

# Identities the suite may impersonate; the tokens are only good for this throwaway apiserver.
OPERATOR_SERVICE_ACCOUNT = service_account_user("acr-eci-system", "acr-eci-operator", "operator-sa-token")
NAMESPACED_SERVICE_ACCOUNT = service_account_user("team-a", "acr-eci-operator", "team-a-sa-token")
EXTRA_TOKENS: tuple[TokenUser, ...] = (OPERATOR_SERVICE_ACCOUNT, NAMESPACED_SERVICE_ACCOUNT)


@contextlib.contextmanager
def _api_client(kubeconfig: Path) -> Iterator[Any]:
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    with running(extra_tokens=EXTRA_TOKENS) as plane:
        yield plane


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` authenticated as cluster admin."""
    with _api_client(control_plane.kubeconfig_path) as api_client:
        yield api_client


@pytest.fixture(scope="session")
def apiextensions_server() -> Iterator[ApiextensionsServer]:
    """The apiextensions-apiserver 1.36 with its own etcd (CRDs and custom resources only)."""
    with running_apiextensions() as server:
        yield server


@pytest.fixture(scope="session")
def apiextensions_api(apiextensions_server: ApiextensionsServer) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` for the apiextensions-apiserver, as system:masters."""
    with _api_client(apiextensions_server.kubeconfig_path) as api_client:
        yield api_client
