"""pytest fixtures: one control plane per test session and an admin API client for it.

Enable with `pytest_plugins = ["local_control_plane.pytest_plugin"]` in a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_control_plane.cluster import ControlPlane, TokenUser, running, service_account_user

# Identities the suite may impersonate; the tokens are only good for this throwaway apiserver.
OPERATOR_SERVICE_ACCOUNT = service_account_user("acr-eci-system", "acr-eci-operator", "operator-sa-token")
NAMESPACED_SERVICE_ACCOUNT = service_account_user("team-a", "acr-eci-operator", "team-a-sa-token")
EXTRA_TOKENS: tuple[TokenUser, ...] = (OPERATOR_SERVICE_ACCOUNT, NAMESPACED_SERVICE_ACCOUNT)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    with running(extra_tokens=EXTRA_TOKENS) as plane:
        yield plane


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane):  # type: ignore[no-untyped-def]
    """A `kubernetes.client.ApiClient` authenticated as cluster admin."""
    from kubernetes import config

    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(control_plane.kubeconfig_path)
    )
    try:
        yield api_client
    finally:
        api_client.close()
