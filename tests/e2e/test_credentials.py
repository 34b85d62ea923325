"""The operator's own credentials, end to end: the real operator process, the real apiserver, and the
emulator checking every signature (and, for STS, issuing and expiring the keys)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import oidc_token
from tests.e2e.conftest import Cluster, OperatorProcess, acg, wait_for
from tests.e2e.test_lifecycle import ACR, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

StartOperator = Callable[..., OperatorProcess]
NO_ACCESS_KEY_ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}
ACCOUNT = "1234567890123456"
ROLE_ARN = f"acs:ram::{ACCOUNT}:role/acr-eci-operator"
PROVIDER_ARN = f"acs:ram::{ACCOUNT}:oidc-provider/ack-rrsa-c0ffee"
STS_ACTIONS = ("AssumeRoleWithOIDC", "AssumeRole")


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


def eci_requests(eci: EmulatorFixture) -> list[dict[str, Any]]:
    """Every ECI request the emulator received (STS ones left out), in order."""
    return [entry for entry in eci.admin.requests() if entry["action"] not in STS_ACTIONS]


def keys_used(eci: EmulatorFixture) -> list[str]:
    """The AccessKeyId of every ECI request, in the order the emulator received them."""
    return [entry["access_key_id"] for entry in eci_requests(eci)]


def rrsa(eci: EmulatorFixture, token_file: Path, lifetime: float, token: str) -> dict[str, str]:
    """RRSA at the emulator: an OIDC provider accepting `token` (a projected-token-shaped JWT) in
    `token_file`, a role trusting it, sessions of `lifetime` seconds. Returns the operator's environment
    (no AccessKey)."""
    eci.add_oidc_provider(PROVIDER_ARN, [token])
    eci.add_role(ROLE_ARN, [PROVIDER_ARN])
    eci.set_sts_lifetime(lifetime)
    token_file.write_text(token)
    return {
        **NO_ACCESS_KEY_ENV,
        "ALIBABA_CLOUD_ROLE_ARN": ROLE_ARN,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file),
        "ALIBABA_CLOUD_STS_ENDPOINT": eci.url,  # http://127.0.0.1:<port>: STS is on the emulator's port
    }


def issued_secrets(eci: EmulatorFixture) -> list[str]:
    """The secret and token of every STS key the (in-process) emulator issued."""
    return [
        value
        for credential in list(eci.authenticator.credentials.values())
        if credential.access_key_id.startswith("STS.")
        for value in (credential.access_key_secret, credential.security_token or "")
    ]


def health(operator: OperatorProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


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


def test_rrsa_sessions_of_60_seconds_are_renewed_ahead_of_expiry_for_several_lifetimes(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, tmp_path: Path
) -> None:
    """In real time (the renewal is ahead of expiry by the operator's clock, which the emulator clock
    cannot stand in for): 60 s sessions over more than three lifetimes."""
    lifetime, token_file = 60.0, tmp_path / "token"
    # The kubelet renews the projected token: the first one stops working after 100 s and its successor
    # is in the file from 70 s on, so a session issued after 100 s proves the file was read again.
    began = time.time()
    first_token, second_token = oidc_token(expires_at=began + 100), oidc_token()
    env = rrsa(eci_emulator, token_file, lifetime, first_token)
    operator = start_operator(**env)
    pid = operator.process.pid if operator.process else None
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    running(cluster)

    def at(seconds: float) -> None:
        time.sleep(max(0.0, began + seconds - time.time()))

    at(70)
    eci_emulator.add_oidc_token(PROVIDER_ARN, second_token)
    token_file.write_text(second_token)
    at(130)
    cluster.patch("web", {"spec": {"containers": web(env=[{"name": "MODE", "value": "renewed"}])}})
    wait_for(lambda: cluster.condition("web", "Synced").get("observedGeneration") == 2, what="generation 2")
    at(3.5 * lifetime + 5)

    sessions = eci_emulator.admin.sts_credentials()
    # One session at start, then one every 40 s (a third of the lifetime ahead): 5 by 215 s.
    assert len(sessions) >= 5, sessions
    answers = eci_emulator.admin.requests()
    failed = [(a["action"], a.get("error_code")) for a in answers if a["http_status"] != 200]
    assert failed == [], "a call failed: renewal came too late, or the token file was not read again"
    late = [a for a in eci_emulator.admin.requests("AssumeRoleWithOIDC") if a["time"] >= _iso(began + 101)]
    assert late, "no session issued after the first token expired"
    keys = {entry["access_key_id"] for entry in eci_requests(eci_emulator)}
    assert len(keys) >= 4 and all(key.startswith("STS.") for key in keys)
    (update,) = eci_emulator.admin.requests("UpdateContainerGroup")
    assert update["http_status"] == 200
    assert cluster.condition("web", "Synced").get("status") == "True"
    assert operator.process is not None and operator.process.pid == pid and operator.process.poll() is None
    refreshes = health(operator)["poller"]["credentials"]
    assert refreshes["kind"] == "RRSA (AssumeRoleWithOIDC)" and refreshes["identity"] == ROLE_ARN
    assert refreshes["refreshes"] >= 4
    assert_nowhere([first_token, second_token, *issued_secrets(eci_emulator)], operator, cluster, "web")


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def test_an_expired_token_answer_is_refreshed_once_and_the_call_retried_once(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator, tmp_path: Path
) -> None:
    token = oidc_token()
    operator = start_operator(**rrsa(eci_emulator, tmp_path / "token", 60.0, token))
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    running(cluster)
    (session,) = eci_emulator.admin.sts_credentials()
    seen = len(eci_emulator.admin.requests())

    # The emulator's clock passes the session's expiry: ECI answers InvalidSecurityToken.Expired.
    eci_emulator.advance_clock(61)

    def after() -> list[dict[str, Any]]:
        return eci_emulator.admin.requests()[seen:]

    wait_for(
        lambda: any(a["action"] not in STS_ACTIONS and a["http_status"] == 200 for a in after()),
        timeout=30,
        what="an ECI call that succeeded after the expiry",
    )
    time.sleep(2)  # the calls in flight at the expiry all come back
    answers = after()
    refused = [i for i, a in enumerate(answers) if a.get("error_code") == "InvalidSecurityToken.Expired"]
    assert refused, "no call met the expired session"
    assert {answers[i]["access_key_id"] for i in refused} == {session["AccessKeyId"]}
    # One refresh for however many calls were refused at once, before any retry.
    sts_calls = [i for i, a in enumerate(answers) if a["action"] == "AssumeRoleWithOIDC"]
    assert len(sts_calls) == 1 and answers[sts_calls[0]]["http_status"] == 200
    (renewed,) = [
        s for s in eci_emulator.admin.sts_credentials() if s["AccessKeyId"] != session["AccessKeyId"]
    ]
    for index in refused:
        # Each refused call was sent once more, with the new session, and went through.
        retry = next(
            a
            for a in answers[index + 1 :]
            if a["action"] == answers[index]["action"] and a["access_key_id"] == renewed["AccessKeyId"]
        )
        assert retry["http_status"] == 200
    failed = [
        a
        for a in answers
        if a["http_status"] != 200 and a.get("error_code") != "InvalidSecurityToken.Expired"
    ]
    assert failed == []
    assert [
        a for a in answers if a["http_status"] == 200 and a["access_key_id"] == session["AccessKeyId"]
    ] == []
    assert cluster.condition("web", "Synced").get("status") == "True"
    assert "refused the credentials (InvalidSecurityToken.Expired" in operator.log()
    assert_nowhere([token, *issued_secrets(eci_emulator)], operator, cluster, "web")
