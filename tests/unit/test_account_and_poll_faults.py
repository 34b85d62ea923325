"""Fault paths of accounts and change-driven polling: a Secret switched to another account, a deletion
after the namespace's Secret went, a change seen while a refused call was in flight."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any

from acr_eci_operator import planner
from acr_eci_operator.accounts import CREDENTIALS_SECRET, Accounts
from acr_eci_operator.controller import FINALIZER, TAG_UID, Controller, Entry, Resource
from acr_eci_operator.credentials import credentials_from_env
from acr_eci_operator.eci import EciError
from acr_eci_operator.errors import Conflict
from acr_eci_operator.poller import Leadership, Poller
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
TEAM_A = {"accessKeyId": b"LTAIteamA", "accessKeySecret": b"secret-a"}
TEAM_B = {"accessKeyId": b"LTAIteamB", "accessKeySecret": b"secret-b"}


def body() -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "web",
            "uid": UID,
            "generation": 1,
            "resourceVersion": "5",
            "finalizers": [FINALIZER],
        },
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        "status": {},
    }


class FakeKube:
    def __init__(self) -> None:
        self.body = body()
        self.secret: dict[str, bytes] | None = dict(TEAM_A)
        self.version = 5

    def _bump(self) -> dict[str, Any]:
        self.version += 1
        self.body["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.body)

    async def object_data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        assert (kind, name) == ("Secret", CREDENTIALS_SECRET)
        return None if self.secret is None else dict(self.secret)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.body)

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        if resource_version is not None and resource_version != self.body["metadata"]["resourceVersion"]:
            raise Conflict(f"writing the status of {namespace}/{name}: 409 Conflict")
        self.body["status"] = {**self.body["status"], **status}
        return self._bump()

    async def set_finalizers(self, namespace: str, name: str, finalizers: list[str], version: str) -> Any:
        self.body["metadata"]["finalizers"] = finalizers
        return self._bump()


async def noop(*_: Any) -> None:
    return None


def group(status: str) -> dict[str, Any]:
    return {
        "ContainerGroupId": "eci-1",
        "Status": status,
        "RegionId": "cn-beijing",
        "Tags": [{"Key": TAG_UID, "Value": UID}],
        "Containers": [],
        "Events": [],
    }


async def replica(
    view: Any, body: dict[str, Any], eci: Any = None, running: bool = False
) -> tuple[Controller, Entry]:
    """Another replica of the operator on the resource `body` (a Controller of its own, reading through
    `view`), its account resolved from the Secret; with `eci`, that account's ECI; `running`: its own
    poll saw eci-1 Running."""
    ctl = Controller(SETTINGS, Accounts(SETTINGS, credentials_from_env(ENV)), view, noop, active=False)
    entry = ctl.entries[UID] = Entry(Resource.from_body(copy.deepcopy(body)))
    account = await ctl._account(entry)
    if eci is not None:
        account.clients["cn-beijing"] = eci
    if running:
        (target,) = ctl.targets()
        assert ctl.observed(target, group("Running"))
    return ctl, entry


async def running_under_team_a() -> tuple[Controller, Entry, FakeKube]:
    """A resource whose group eci-1 was created with team A's key and is observed Running."""
    kube = FakeKube()
    ctl = Controller(SETTINGS, Accounts(SETTINGS, credentials_from_env(ENV)), kube, noop, active=False)  # type: ignore[arg-type]
    entry = ctl.entries[UID] = Entry(Resource.from_body(kube.body))
    await ctl._account(entry)
    state = await ctl._desired(entry)
    assert state.account.identity == "LTAIteamA"
    kube.body["status"] = {
        "containerGroupId": "eci-1",
        "regionId": "cn-beijing",
        "incarnation": 0,
        "applied": dict(state.desired.immutable),
        "appliedHash": state.desired.digest,
        "appliedLists": sorted(state.desired.removables),
        "observedGeneration": 1,
        "account": "LTAIteamA",
    }
    entry.resource = Resource.from_body(kube._bump())
    (target,) = ctl.targets()
    ctl.observed(target, group("Running"))
    assert ctl._observation(entry) is not None
    return ctl, entry, kube


def test_a_secret_switched_to_another_account_does_not_rewrite_status_account() -> None:
    """Secret now holds another account's key. The observation held was taken with team A's client, yet
    _in_sync takes it as seen 'with these credentials' and writes account=B; once B's poll finds
    nothing, the planner re-creates (ContainerGroupLost) instead of refusing (AccountChanged): a second
    group, the first left running in account A."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        kube.secret = dict(TEAM_B)
        ctl.referenced_object_changed("Secret", "ns", CREDENTIALS_SECRET, "99")
        await ctl._reconcile(entry)
        (target,) = ctl.targets()
        ctl.observed(target, None)  # account B does not see eci-1 (listing and describe by id)
        desired = (await ctl._desired(entry)).desired
        result = planner.plan(desired, entry.resource.known(), ctl._observation(entry))
        assert kube.body["status"]["account"] == "LTAIteamA", (
            "status.account rewritten without B seeing the group"
        )
        assert result.reason == "AccountChanged", result

    asyncio.run(run())


class FakeEci:
    def __init__(self, found: list[dict[str, Any]]) -> None:
        self.found = found
        self.calls: list[str] = []

    async def find_container_groups_by_tag(
        self, region_id: str, key: str, value: str
    ) -> list[dict[str, Any]]:
        self.calls.append("find")
        return list(self.found)

    async def describe_container_groups(
        self, region_id: str, ids: list[str], retry: bool = True
    ) -> list[Any]:
        self.calls.append("describe")
        return []

    async def delete_container_group(self, region_id: str, group_id: str) -> bool:
        self.calls.append(f"delete {group_id}")
        return True


def test_deleting_after_the_namespace_secret_went_does_not_drop_the_finalizer_with_the_group_left() -> None:
    """Namespace deletion: the Secret goes first, then the resource is finalized, by an operator that
    restarted meanwhile (it holds no account from the Secret). The operator's own account is asked (it
    cannot see team A's group), finds nothing, and the finalizer was dropped: team A's group ran on,
    untracked. Now AccountChanged keeps the finalizer."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        entry.account = None  # a restarted operator: nothing held from the Secret that is gone
        own = FakeEci([])
        ctl.accounts.own.clients["cn-beijing"] = own  # type: ignore[assignment]
        kube.body["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        entry.resource = Resource.from_body(kube._bump())
        kube.secret = None
        ctl.referenced_object_changed("Secret", "ns", CREDENTIALS_SECRET, None)  # DELETED
        await ctl._reconcile(entry)
        assert FINALIZER in kube.body["metadata"]["finalizers"], (
            f"finalizer dropped; own-account calls {own.calls}; group eci-1 (account LTAIteamA) never deleted"
        )

    asyncio.run(run())


def test_deleting_after_the_namespace_secret_went_uses_the_credentials_still_held() -> None:
    """Namespace deletion: the Secret goes first, then the resource is finalized. Refusing with
    AccountChanged kept the resource, and the namespace, Terminating for good (no Secret can be created
    in a terminating namespace). The operator still holds team A's account, which made the group: it
    deletes the group with it and lets the resource go."""

    async def run() -> None:
        ctl, entry, kube = await running_under_team_a()
        own, team_a = FakeEci([]), FakeEci([group("Running")])
        ctl.accounts.own.clients["cn-beijing"] = own  # type: ignore[assignment]
        assert entry.account is not None
        entry.account.clients["cn-beijing"] = team_a  # type: ignore[assignment]
        kube.body["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        entry.resource = Resource.from_body(kube._bump())
        kube.secret = None
        ctl.referenced_object_changed("Secret", "ns", CREDENTIALS_SECRET, None)  # DELETED
        await ctl._reconcile(entry)
        assert team_a.calls == ["find", "delete eci-1"], team_a.calls
        assert own.calls == ["find"]  # the credentials in use first: they find nothing
        assert FINALIZER not in kube.body["metadata"]["finalizers"]

    asyncio.run(run())


def test_a_change_seen_while_a_refused_call_was_in_flight_is_not_lost() -> None:
    """A listing sees eci-1 Failed; while its describe is in flight the worker sends an Update that ECI
    refuses with a 4xx (IncorrectStatus: the group is no longer Running). _mutate restores the old
    observation (Running) and the answer is discarded (epoch moved), but the poller records the Failed
    digest as described: later listings confirm it unchanged and the change is never observed."""

    async def run() -> None:
        ctl, entry, _kube = await running_under_team_a()

        class Eci:
            mutate_during_describe = True

            async def describe_container_group_status(
                self, region_id: str, since_second: int | None = None
            ) -> Any:
                return [{"ContainerGroupId": "eci-1", "Status": "Failed"}]

            async def describe_container_groups(
                self, region_id: str, ids: list[str], retry: bool = True
            ) -> Any:
                if self.mutate_during_describe:
                    self.mutate_during_describe = False

                    async def refused() -> None:
                        raise EciError(
                            "UpdateContainerGroup", "IncorrectStatus.Failed", "refused", http_status=403
                        )

                    with contextlib.suppress(EciError):
                        await ctl._mutate(entry, refused())
                return [group("Failed")]

        fake = Eci()
        entry.account.clients["cn-beijing"] = fake  # type: ignore[union-attr, assignment]
        poller = Poller(ctl, 60, Leadership(None, "me", 0, None, [None]))
        await poller.resync_once()  # describe answer discarded (epoch moved), digest recorded
        await poller.resync_once()  # the next listing: same digest
        await poller.resync_once()
        assert entry.observation is not None and entry.observation.phase == "Failed", entry.observation

    asyncio.run(run())


def test_answers_are_kept_after_the_operators_own_access_key_files_rotate(tmp_path: Any) -> None:
    """Own credentials from files: a rotated key is the same account, and its answers still count."""
    from acr_eci_operator.credentials import FileCredentials, source_from_env

    def write(key_id: str) -> None:
        (tmp_path / "accessKeyId").write_text(key_id)
        (tmp_path / "accessKeySecret").write_text("own-secret")

    async def run() -> None:
        write("LTAIownOld")
        own = FileCredentials(source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}), check_interval=0)
        kube = FakeKube()
        kube.secret = None  # no namespace credentials: the operator's own serve
        ctl = Controller(SETTINGS, Accounts(SETTINGS, own), kube, noop, active=False)
        entry = ctl.entries[UID] = Entry(Resource.from_body(kube.body))
        await ctl._account(entry)
        kube.body["status"] = {"containerGroupId": "eci-1", "regionId": "cn-beijing"}
        entry.resource = Resource.from_body(kube._bump())
        write("LTAIownNew")
        assert own.current().access_key_id == "LTAIownNew"  # the next ECI call signs with the new key
        (target,) = ctl.targets()
        assert ctl.observed(target, group("Failed"))
        assert entry.observation is not None and entry.observation.phase == "Failed"

    asyncio.run(run())
