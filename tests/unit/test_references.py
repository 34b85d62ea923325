"""The Secrets and ConfigMaps a resource reads: a change is never lost, whenever it lands, and a paused
replica does not keep contents read before its pause (the controller with a fake Kubernetes reader; no
ECI call is made)."""

from __future__ import annotations

import asyncio
from typing import Any

from acr_eci_operator.accounts import CREDENTIALS_SECRET, Accounts
from acr_eci_operator.controller import Controller, Entry, Resource
from acr_eci_operator.credentials import credentials_from_env
from acr_eci_operator.settings import Settings

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret",
    "ALIBABA_CLOUD_REGION_ID": "cn-beijing",
    "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-1",
    "ECI_DEFAULT_VSWITCH_IDS": "vsw-1",
}
SETTINGS = Settings.from_env(ENV)
BODY = {
    "metadata": {"namespace": "ns", "name": "web", "uid": "uid-1", "generation": 1, "resourceVersion": "5"},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "nginx",
                "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "level"}}}],
            }
        ]
    },
}


class FakeKube:
    """Holds ConfigMap `cm`; `during_read` runs inside a read, before it answers (a change landing then)."""

    def __init__(self) -> None:
        self.data = {"level": b"v1"}
        self.reads = 0
        self.during_read: Any = None

    async def object_data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        if (kind, name) == ("Secret", CREDENTIALS_SECRET):
            return None  # no namespace credentials: the operator's own serve
        self.reads += 1
        answer = dict(self.data)
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            hook()
        return answer


async def noop(*_: Any) -> None:
    return None


def controller(kube: FakeKube) -> tuple[Controller, Entry]:
    accounts = Accounts(SETTINGS, credentials_from_env(ENV))
    ctl = Controller(SETTINGS, accounts, kube, noop, active=False)  # type: ignore[arg-type]
    entry = ctl.entries["uid-1"] = Entry(Resource.from_body(BODY))
    return ctl, entry


def level(state: Any) -> str:
    return str(state.create_params["Container.1.EnvironmentVar.1.Value"])


def test_a_change_that_lands_while_the_object_is_read_is_read_again() -> None:
    async def run() -> None:
        kube = FakeKube()
        ctl, entry = controller(kube)

        def change() -> None:
            kube.data = {"level": b"v2"}
            ctl.referenced_object_changed("ConfigMap", "ns", "cm", "6")

        kube.during_read = change
        assert level(await ctl._desired(entry)) == "v1"  # what was read, used by this reconcile only
        assert level(await ctl._desired(entry)) == "v2"  # the next one reads again
        assert kube.reads == 2
        assert level(await ctl._desired(entry)) == "v2" and kube.reads == 2  # then it is cached

    asyncio.run(run())


def test_a_relist_with_the_same_version_is_not_news_but_a_new_version_is() -> None:
    async def run() -> None:
        kube = FakeKube()
        ctl, entry = controller(kube)
        await ctl._desired(entry)
        ctl.referenced_object_changed("ConfigMap", "ns", "cm", "6")
        await ctl._desired(entry)
        ctl.referenced_object_changed("ConfigMap", "ns", "cm", "6")
        await ctl._desired(entry)
        assert kube.reads == 2
        ctl.referenced_object_changed("ConfigMap", "ns", "other", "9")  # not read by anyone
        await ctl._desired(entry)
        assert kube.reads == 2

    asyncio.run(run())


def test_a_paused_replica_reads_the_objects_again_when_it_resumes() -> None:
    async def run() -> None:
        kube = FakeKube()
        ctl, entry = controller(kube)
        assert level(await ctl._desired(entry)) == "v1"
        ctl.set_active(False)  # its watch stops; another replica may apply a newer ConfigMap meanwhile
        kube.data = {"level": b"v2"}
        assert level(await ctl._desired(entry)) == "v2"

    asyncio.run(run())


def test_capacity_follows_the_spot_strategy_the_group_was_made_with() -> None:
    from acr_eci_operator.controller import _capacity
    from acr_eci_operator.models import AcrContainerGroupSpec

    spot = AcrContainerGroupSpec.from_dict(
        {"containers": [{"name": "a", "image": "x"}], "spot": {"strategy": "SpotAsPriceGo"}}
    )
    plain = AcrContainerGroupSpec.from_dict({"containers": [{"name": "a", "image": "x"}]})
    assert _capacity(spot, "SpotAsPriceGo") == "Spot"
    assert _capacity(spot, "NoSpot") == "OnDemand"  # an adopted group made by the fallback
    assert _capacity(spot, None) == "OnDemand"
    assert _capacity(plain, "NoSpot") is None
