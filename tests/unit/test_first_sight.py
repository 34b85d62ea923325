"""A resource the watch shows for the first time, without the finalizer, is not read again before the
finalizer is written: that write is conditional on the resourceVersion held, so a newer version fails it
(Conflict) and the next round reads afresh, without a failure shown on the resource."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from acr_eci_operator.accounts import Accounts
from acr_eci_operator.controller import FINALIZER, Controller, Entry
from acr_eci_operator.credentials import credentials_from_env
from acr_eci_operator.errors import Conflict
from acr_eci_operator.settings import Settings

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIown",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "own-secret",
    "ALIBABA_CLOUD_REGION_ID": "cn-beijing",
    "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-1",
    "ECI_DEFAULT_VSWITCH_IDS": "vsw-1",
}
SETTINGS = Settings.from_env(ENV)
UID = "uid-1"


class FakeKube:
    def __init__(self, finalizers: list[str]) -> None:
        self.body: dict[str, Any] = {
            "metadata": {
                "namespace": "ns",
                "name": "web",
                "uid": UID,
                "generation": 1,
                "resourceVersion": "5",
                "finalizers": finalizers,
            },
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            "status": {},
        }
        self.reads = 0
        self.status_writes: list[dict[str, Any]] = []

    def bump(self) -> dict[str, Any]:
        metadata = self.body["metadata"]
        metadata["resourceVersion"] = str(int(metadata["resourceVersion"]) + 1)
        return copy.deepcopy(self.body)

    async def object_data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        return None

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return copy.deepcopy(self.body)

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        self.status_writes.append(status)
        self.body["status"] = {**self.body["status"], **status}
        return self.bump()

    async def set_finalizers(self, namespace: str, name: str, finalizers: list[str], version: str) -> Any:
        if version != self.body["metadata"]["resourceVersion"]:
            raise Conflict("updating the finalizers: 409 Conflict")
        self.body["metadata"]["finalizers"] = finalizers
        return self.bump()


class Created(Exception):
    """Stands for the create (its ECI call is not this test's matter)."""


async def no_event(*_: Any) -> None:
    return None


def controller(kube: FakeKube) -> tuple[Controller, Entry]:
    ctl = Controller(SETTINGS, Accounts(SETTINGS, credentials_from_env(ENV)), kube, no_event, active=False)  # type: ignore[arg-type]
    ctl.seen(copy.deepcopy(kube.body))
    entry = ctl.entries[UID]

    async def create(entry: Entry, desired: Any) -> None:
        assert FINALIZER in entry.resource.finalizers, "the finalizer must be on before any create"
        raise Created

    ctl._create = create  # type: ignore[method-assign]
    return ctl, entry


def test_a_new_resource_gets_its_finalizer_and_create_without_being_read_again() -> None:
    kube = FakeKube(finalizers=[])
    ctl, entry = controller(kube)
    with pytest.raises(Created):
        asyncio.run(ctl._reconcile(entry))
    assert kube.reads == 0
    assert kube.body["metadata"]["finalizers"] == [FINALIZER]


def test_a_newer_version_than_the_watch_showed_is_read_and_no_failure_is_shown() -> None:
    kube = FakeKube(finalizers=[])
    ctl, entry = controller(kube)
    kube.body["metadata"]["labels"] = {"edited": "yes"}
    kube.bump()  # edited after the watch event the controller holds

    async def run() -> None:
        assert await ctl._reconcile(entry) == 0.0  # the next round at once
        assert kube.status_writes == [] and kube.body["metadata"]["finalizers"] == []
        with pytest.raises(Created):
            await ctl._reconcile(entry)

    asyncio.run(run())
    assert kube.reads == 1
    assert kube.body["metadata"]["finalizers"] == [FINALIZER]


def test_a_resource_that_has_the_finalizer_is_read_before_anything_is_done() -> None:
    kube = FakeKube(finalizers=[FINALIZER])
    ctl, entry = controller(kube)
    with pytest.raises(Created):
        asyncio.run(ctl._reconcile(entry))
    assert kube.reads == 1


def test_a_conflict_after_a_fresh_read_is_a_failure_retried_as_before() -> None:
    kube = FakeKube(finalizers=[])
    ctl, entry = controller(kube)
    entry.first_sight = False
    real_get = kube.get

    async def stale_get(namespace: str, name: str) -> dict[str, Any] | None:
        body = await real_get(namespace, name)
        kube.bump()  # changed again right after the read
        return body

    kube.get = stale_get  # type: ignore[method-assign]
    delay = asyncio.run(ctl._reconcile(entry))
    assert delay is not None and delay > 0
    assert kube.status_writes[-1]["conditions"][-1]["reason"] == "KubernetesUnavailable"
