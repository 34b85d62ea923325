"""The operator's own Kubernetes calls (kopf does the watching): Secrets, the status subresource, reads.

The `kubernetes` client is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import os
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger(__name__)

GROUP = "eci.acr-operator.dev"
VERSION = "v1alpha1"
PLURAL = "acrcontainergroups"
KIND = "AcrContainerGroup"


class SecretMissing(LookupError):
    """A referenced Secret, or a key in it, does not exist (or the operator may not read it)."""

    def __init__(self, name: str, key: str, reason: str) -> None:
        self.name = name
        self.key = key
        self.reason = reason
        super().__init__(f"Secret {name!r} {reason}")


def load_api_client() -> client.ApiClient:
    """In-cluster configuration when running in a pod, KUBECONFIG otherwise (as kopf does)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


class Kube:
    """Reads Secrets and the resource, and writes its status subresource."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    async def secret_value(self, namespace: str, name: str, key: str) -> str:
        def read() -> str:
            try:
                secret = self.core.read_namespaced_secret(name, namespace)
            except ApiException as error:
                if error.status == 404:
                    raise SecretMissing(name, key, f"does not exist in namespace {namespace}") from None
                if error.status == 403:
                    raise SecretMissing(name, key, "may not be read by the operator (RBAC)") from None
                raise
            data = secret.data or {}
            if key not in data:
                raise SecretMissing(name, key, f"has no key {key!r}")
            return base64.b64decode(data[key]).decode("utf-8")

        return await asyncio.to_thread(read)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            try:
                body = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            except ApiException as error:
                if error.status == 404:
                    return None
                raise
            return cast(dict[str, Any], body)  # the client types it as object

        return await asyncio.to_thread(read)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch status (a None value removes a field). A resource already gone is ignored."""

        def patch() -> None:
            try:
                self.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": status}
                )
            except ApiException as error:
                if error.status != 404:
                    raise

        await asyncio.to_thread(patch)

    async def post_event(self, reference: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Post a core/v1 Event about the resource; a failure to post is logged, never raised."""
        metadata = reference["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        body: Any = {
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
            "involvedObject": {
                "apiVersion": reference["apiVersion"],
                "kind": reference["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
            },
            "type": type_,
            "reason": reason[:128],
            "message": message[:1024],
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": "acr-eci-operator"},
            "reportingComponent": "acr-eci-operator",
            "reportingInstance": os.environ.get("POD_ID", "acr-eci-operator"),
        }

        def create() -> None:
            self.core.create_namespaced_event(metadata["namespace"], body)

        try:
            await asyncio.to_thread(create)
        except ApiException as error:
            logger.warning(
                "could not post event %s on %s/%s: %s",
                reason,
                metadata["namespace"],
                metadata["name"],
                error.reason,
            )
