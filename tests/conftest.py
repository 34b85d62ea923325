from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

# Their distributions register both through pytest11 entry points; named here too, so that the suite runs
# with plugin autoloading off.
pytest_plugins = ["local_control_plane.pytest_plugin", "eci_emulator.pytest_plugin"]

ACG = ("eci.acr-operator.dev", "v1alpha1", "acrcontainergroups")


def purge_namespace(api_client: client.ApiClient, namespace: str) -> None:
    """Delete a test namespace and the AcrContainerGroups left in it.

    The test control plane runs no controllers: deleting a namespace removes nothing inside it, so
    resources (with the operator's finalizer, if no operator is left to remove it) would outlive the test
    and be seen by every later operator that watches all namespaces."""
    custom = client.CustomObjectsApi(api_client)
    try:
        items: list[dict[str, Any]] = custom.list_namespaced_custom_object(*ACG[:2], namespace, ACG[2])[
            "items"
        ]
    except ApiException as error:
        if error.status != 404:
            raise
        items = []
    for item in items:
        name = item["metadata"]["name"]
        try:
            if item["metadata"].get("finalizers"):
                custom.patch_namespaced_custom_object(
                    *ACG[:2], namespace, ACG[2], name, {"metadata": {"finalizers": None}}
                )
            custom.delete_namespaced_custom_object(*ACG[:2], namespace, ACG[2], name)
        except ApiException as error:
            if error.status != 404:
                raise
    try:
        client.CoreV1Api(api_client).delete_namespace(namespace)
    except ApiException as error:
        if error.status != 404:
            raise
