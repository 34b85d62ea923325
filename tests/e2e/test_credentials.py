"""The operator's own credentials, end to end: the real operator process, the real apiserver, and the
emulator checking every signature (and, for STS, issuing and expiring the keys)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import yaml

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.e2e.conftest import Cluster, OperatorProcess, acg, wait_for
from tests.e2e.test_lifecycle import ACR, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

StartOperator = Callable[..., OperatorProcess]
NO_ACCESS_KEY_ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}


def secret_volume(directory: Path, files: dict[str, str], generation: int) -> None:
    """Write files as the kubelet writes a Secret volume: a new timestamped directory, the `..data`
    symlink swapped to it atomically, each file name a symlink through `..data`."""
    target = directory / f"..2026_12_02_10_00_{generation:02d}.{generation:09d}"
    target.mkdir()
    for name, content in files.items():
        (target / name).write_text(content)
    swap = directory / "..data_tmp"
    swap.symlink_to(target.name)
    os.replace(swap, directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(Path("..data") / name)


def keys_used(eci: EmulatorFixture) -> list[str]:
    """The AccessKeyId of every ECI request, in the order the emulator received them."""
    return [
        entry["access_key_id"] for entry in eci.admin.requests() if entry["action"] != "AssumeRoleWithOIDC"
    ]


def assert_nowhere(secrets: Iterable[str], operator: OperatorProcess, cluster: Cluster, name: str) -> None:
    """No secret in the operator's log, the resource (status included) or its events."""
    places = {
        "the operator's log": operator.log(),
        "the resource": yaml.safe_dump(cluster.get(name)),
        "its events": "\n".join(f"{e.reason} {e.message}" for e in cluster.events(name)),
    }
    for secret in secrets:
        assert secret
        for place, text in places.items():
            assert secret not in text, f"a credential appeared in {place}"


def test_replaced_access_key_files_are_used_by_the_next_calls_without_a_restart(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, tmp_path: Path
) -> None:
    directory = tmp_path / "credentials"
    directory.mkdir()
    first = {"accessKeyId": eci_emulator.access_key_id, "accessKeySecret": eci_emulator.access_key_secret}
    secret_volume(directory, first, 1)
    operator = start_operator(**NO_ACCESS_KEY_ENV, ACR_ECI_CREDENTIALS_DIR=str(directory))
    pid = operator.process.pid if operator.process else None
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    running(cluster)
    assert set(keys_used(eci_emulator)) == {eci_emulator.access_key_id}

    # Rotation: the cloud gets a second key, then the Secret (here its volume) is updated.
    eci_emulator.add_access_key("LTAI-rotated-key", "rotated-secret-value")
    secret_volume(
        directory, {"accessKeyId": "LTAI-rotated-key", "accessKeySecret": "rotated-secret-value"}, 2
    )
    wait_for(
        lambda: "LTAI-rotated-key" in keys_used(eci_emulator), timeout=30, what="a request with the new key"
    )
    switched = keys_used(eci_emulator).index("LTAI-rotated-key")

    # A change of the resource after the rotation: the update goes out with the new key too.
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "MODE", "value": "rotated"}])}})
    wait_for(lambda: cluster.condition("web", "Synced").get("observedGeneration") == 2, what="generation 2")
    (update,) = eci_emulator.admin.requests("UpdateContainerGroup")
    assert (update["access_key_id"], update["http_status"]) == ("LTAI-rotated-key", 200)

    after = keys_used(eci_emulator)[switched:]
    # Requests in flight when the files changed may still carry the old key; none after the first new one.
    assert set(after) == {"LTAI-rotated-key"}, after
    assert all(entry["http_status"] == 200 for entry in eci_emulator.admin.requests())
    assert operator.process is not None and operator.process.pid == pid and operator.process.poll() is None
    assert "credentials refreshed (files changed)" in operator.log()
    assert "credentials: AccessKey files in" in operator.log()
    assert_nowhere([eci_emulator.access_key_secret, "rotated-secret-value"], operator, cluster, "web")
