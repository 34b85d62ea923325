"""The operator's own Kubernetes calls (kopf does the watching): Secrets, the status subresource, reads.

The `kubernetes` client is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from acr_eci_operator import metrics
from acr_eci_operator.errors import Conflict, KubernetesUnavailable, OperatorError
from acr_eci_operator.models import GROUP as GROUP
from acr_eci_operator.models import KIND as KIND
from acr_eci_operator.models import PLURAL as PLURAL
from acr_eci_operator.models import VERSION as VERSION

T = TypeVar("T")

logger = logging.getLogger(__name__)

PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"


class ReferenceUnreadable(OperatorError):
    """The operator may not read a referenced Secret or ConfigMap (RBAC): retried, so the resource heals
    when access is granted."""

    def __init__(self, kind: str, name: str, namespace: str) -> None:
        super().__init__(
            f"{kind}NotFound",
            f"{kind} {name!r} in namespace {namespace} may not be read by the operator (RBAC)",
            retryable=True,
        )


def load_api_client(kubeconfig: str | None = None, connections: int = 10) -> client.ApiClient:
    """In-cluster configuration when running in a pod, KUBECONFIG otherwise (as kopf does); a kubeconfig
    file given explicitly is used as it is. Up to `connections` connections are kept open (one per thread
    that makes calls: the client's default of 10 closes and opens connections, each a TLS handshake,
    whenever more calls than that run at once)."""
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    else:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = connections
    return client.ApiClient(configuration)


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def current_namespace(kubeconfig: str | None = None) -> str | None:
    """The namespace kubectl would use for a manifest that names none, from the same configuration
    `load_api_client` loads: the current context's namespace, or in a pod its own; None when unset."""
    if not kubeconfig and SERVICE_ACCOUNT_NAMESPACE.is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        return None
    namespace = ((active or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


class Kube:
    """Reads Secrets and the resource, and writes its status subresource."""

    def __init__(self, api_client: client.ApiClient, timeout: float = 30.0) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.timeout = timeout

    async def _run(self, operation: str, what: str, call: Callable[[], T]) -> T:
        """Run a blocking client call in a worker thread, bounded by the time-out; any failure the
        caller did not handle becomes KubernetesUnavailable (status and reason only: an ApiException's
        body may echo what was sent). Failures are counted by `operation` (a fixed name) and status."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(call), timeout=self.timeout)
        except TimeoutError:
            metrics.kube_error(operation, "timeout")
            raise KubernetesUnavailable(f"{what}: no answer within {self.timeout:g}s") from None
        except ApiException as error:
            metrics.kube_error(operation, error.status)
            raise KubernetesUnavailable(f"{what}: {error.status} {error.reason}") from None
        except OperatorError as error:
            if isinstance(error, ReferenceUnreadable):
                metrics.kube_error(operation, 403)
            elif isinstance(error, Conflict):
                metrics.kube_error(operation, 409)
            raise
        except (OSError, urllib3.exceptions.HTTPError) as error:
            metrics.kube_error(operation, "transport")
            # Transport failures (refused, reset, urllib3's MaxRetryError...): the kind only, as their
            # text may quote the request.
            raise KubernetesUnavailable(f"{what}: {type(error).__name__}") from None

    @property
    def _request_timeout(self) -> float:
        return self.timeout

    async def object_data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        """The data of a Secret (decoded) or a ConfigMap (`data` as UTF-8 and `binaryData` decoded); None
        when it does not exist."""

        def read() -> dict[str, bytes] | None:
            try:
                if kind == "Secret":
                    secret = self.core.read_namespaced_secret(
                        name, namespace, _request_timeout=self._request_timeout
                    )
                    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}
                config_map = self.core.read_namespaced_config_map(
                    name, namespace, _request_timeout=self._request_timeout
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                if error.status == 403:
                    raise ReferenceUnreadable(kind, name, namespace) from None
                raise
            data = {key: value.encode("utf-8") for key, value in (config_map.data or {}).items()}
            for key, value in (config_map.binary_data or {}).items():
                data[key] = base64.b64decode(value)
            return data

        return await self._run(f"read_{kind.lower()}", f"reading {kind} {namespace}/{name}", read)

    async def _object(self, operation: str, what: str, call: Callable[[], object]) -> dict[str, Any] | None:
        """Run a call that answers one object (a read or a patch): the object, or None when it is gone
        (404). A write conditional on a resourceVersion that is no longer the object's fails with
        `Conflict` (409), retried with a fresh read."""

        def run() -> dict[str, Any] | None:
            try:
                return cast(dict[str, Any], call())  # the client types it as object
            except ApiException as error:
                if error.status == 404:
                    return None
                if error.status == 409:
                    raise Conflict(f"{what}: 409 {error.reason}") from None
                raise

        return await self._run(operation, what, run)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._object(
            "get",
            f"reading {namespace}/{name}",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=self._request_timeout
            ),
        )

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any] | None:
        """Merge-patch status (a None value removes a field); the object as stored after it, or None
        when the resource is already gone. With `resource_version`, only if the object is still at it
        (else `Conflict`, retried with a fresh read)."""
        patch: dict[str, Any] = {"status": status}
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        return await self._object(
            "patch_status",
            f"writing the status of {namespace}/{name}",
            lambda: self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, patch, _request_timeout=self._request_timeout
            ),
        )

    async def set_finalizers(
        self, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> dict[str, Any] | None:
        """Replace metadata.finalizers, only if the object is still at `resource_version` (else
        `Conflict`, retried with a fresh read). None: the object is gone."""
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}}
        return await self._object(
            "set_finalizers",
            f"updating the finalizers of {namespace}/{name}",
            lambda: self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, patch, _request_timeout=self._request_timeout
            ),
        )

    async def peering_status(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The status of kopf's peering object (KopfPeering in `namespace`, ClusterKopfPeering when
        None): one entry per operator replica. None when the object does not exist."""

        def read() -> object:
            if namespace is None:
                return self.custom.get_cluster_custom_object(
                    PEERING_GROUP,
                    PEERING_VERSION,
                    "clusterkopfpeerings",
                    name,
                    _request_timeout=self._request_timeout,
                )
            return self.custom.get_namespaced_custom_object(
                PEERING_GROUP,
                PEERING_VERSION,
                namespace,
                "kopfpeerings",
                name,
                _request_timeout=self._request_timeout,
            )

        body = await self._object("read_peering", f"reading the peering object {name}", read)
        return None if body is None else dict(body.get("status") or {})

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
            self.core.create_namespaced_event(
                metadata["namespace"], body, _request_timeout=self._request_timeout
            )

        try:
            await self._run("post_event", "posting an event", create)
        except KubernetesUnavailable as error:
            logger.warning(
                "could not post event %s on %s/%s: %s",
                reason,
                metadata["namespace"],
                metadata["name"],
                error.message,
            )
