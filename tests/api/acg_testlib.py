"""Shared helpers of the AcrContainerGroup API tests (importable as `acg_testlib` from tests/api)."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from acr_eci_operator.models import ReferenceKind

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = REPO_ROOT / "crds" / "acrcontainergroups.eci.acr-operator.dev.yaml"
EXAMPLES_DIR = REPO_ROOT / "examples"
DATA_DIR = Path(__file__).resolve().parent / "data"


def example_documents(name: str) -> list[dict[str, Any]]:
    """The YAML documents of examples/<name>."""
    return [document for document in yaml.safe_load_all((EXAMPLES_DIR / name).read_text()) if document]


def example_resource(name: str) -> dict[str, Any]:
    """The AcrContainerGroup in examples/<name>."""
    (resource,) = [
        document for document in example_documents(name) if document["kind"] == "AcrContainerGroup"
    ]
    return resource


def example_names() -> list[str]:
    return sorted(path.name for path in EXAMPLES_DIR.glob("*.yaml"))


def load_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return crd


def apply_crd(api_client: Any, crd: dict[str, Any], timeout: float = 30.0) -> None:
    """Create the CRD, or replace it when it exists, then poll until it is Established."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    extensions = client.ApiextensionsV1Api(api_client)
    name = crd["metadata"]["name"]
    try:
        extensions.create_custom_resource_definition(crd)
    except ApiException as error:
        if error.status != 409:
            raise
        current = extensions.read_custom_resource_definition(name)
        replacement = {
            **crd,
            "metadata": {**crd["metadata"], "resourceVersion": current.metadata.resource_version},
        }
        extensions.replace_custom_resource_definition(name, replacement)
    deadline = time.monotonic() + timeout
    while True:
        status = extensions.read_custom_resource_definition(name).status
        conditions = {condition.type: condition.status for condition in (status.conditions or [])}
        if conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {name} not Established after {timeout}s: {conditions}")
        time.sleep(0.1)


def secret_objects(
    values: Mapping[tuple[str, str], str],
) -> dict[tuple[ReferenceKind, str], dict[str, bytes]]:
    """`mapping.Objects` holding Secrets given as {(Secret name, key): value}."""
    objects: dict[tuple[ReferenceKind, str], dict[str, bytes]] = {}
    for (name, key), value in values.items():
        objects.setdefault(("Secret", name), {})[key] = value.encode()
    return objects


def example_objects(name: str) -> dict[tuple[ReferenceKind, str], dict[str, bytes]]:
    """`mapping.Objects` holding the Secrets and ConfigMaps of examples/<name>, as the operator reads them."""
    objects: dict[tuple[ReferenceKind, str], dict[str, bytes]] = {}
    for document in example_documents(name):
        kind, data = document["kind"], {}
        if kind == "Secret":
            data = {key: base64.b64decode(value) for key, value in (document.get("data") or {}).items()}
            data |= {key: value.encode() for key, value in (document.get("stringData") or {}).items()}
        elif kind == "ConfigMap":
            data = {key: value.encode() for key, value in (document.get("data") or {}).items()}
            data |= {
                key: base64.b64decode(value) for key, value in (document.get("binaryData") or {}).items()
            }
        else:
            continue
        objects[(kind, document["metadata"]["name"])] = data
    return objects
