"""One account per team, end to end: a namespace's `acr-eci-credentials` Secret (or the Secret a
resource's annotation names) supplies the credentials and defaults its resources are served with; the
emulator says which key made which group."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from eci_emulator.pytest_plugin import EmulatorFixture
from tests.conftest import purge_namespace
from tests.e2e.conftest import OPERATOR_BIN, Cluster, OperatorProcess, acg, wait_for
from tests.e2e.test_lifecycle import ACR, running, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

TEAM_A = ("LTAI5tTeamAKey000000001", "team-a-secret-value-0b1d")
TEAM_B = ("LTAI5tTeamBKey000000002", "team-b-secret-value-9c2e")


def credentials_secret(name: str, **keys: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in keys.items()},
    }


@pytest.fixture
def teams(kube_api: client.ApiClient, crd_installed: None) -> Iterator[list[Cluster]]:
    """Three namespaces."""
    names = [f"e2e-team-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    core = client.CoreV1Api(kube_api)
    for name in names:
        core.create_namespace({"metadata": {"name": name}})
    yield [Cluster(kube_api, name) for name in names]
    for name in names:
        purge_namespace(kube_api, name)


@pytest.fixture
def operator_for(operator_env: dict[str, str], tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    started: list[OperatorProcess] = []
    yield started
    for process in started:
        process.stop()


def start(
    started: list[OperatorProcess],
    env: dict[str, str],
    tmp_path: Path,
    namespaces: list[Cluster],
    *flags: str,
) -> OperatorProcess:
    argv = [OPERATOR_BIN, "run", "--standalone", *flags]
    for namespace in namespaces:
        argv += ["--namespace", namespace.namespace]
    process = OperatorProcess(argv, env, tmp_path / "operator.log")
    started.append(process)
    return process.start()


def made_by(eci: EmulatorFixture, group_id: str) -> str:
    return str((eci.admin.group(group_id) or {})["created_by_access_key_id"])


def test_two_teams_create_under_their_own_keys_and_a_third_uses_the_operators(
    teams: list[Cluster],
    eci_emulator: EmulatorFixture,
    operator_env: dict[str, str],
    operator_for: list[OperatorProcess],
    tmp_path: Path,
) -> None:
    team_a, team_b, team_c = teams
    for key_id, secret in (TEAM_A, TEAM_B):
        eci_emulator.admin.add_access_key(key_id, secret)
    team_a.apply(credentials_secret("acr-eci-credentials", accessKeyId=TEAM_A[0], accessKeySecret=TEAM_A[1]))
    # Team B's Secret has another name, given by the annotation, and sets its own network defaults.
    team_b.apply(
        credentials_secret(
            "eci-account",
            accessKeyId=TEAM_B[0],
            accessKeySecret=TEAM_B[1],
            securityGroupId="sg-teamb0000000000001",
            vSwitchIds="vsw-teamb000000000001",
        )
    )
    operator = start(operator_for, operator_env, tmp_path, teams)
    team_a.apply(acg("web", web(), acrRegistryInfos=ACR))
    named = acg("web", web(), acrRegistryInfos=ACR)
    named["metadata"]["annotations"] = {"eci.acr-operator.dev/credentials-from": "eci-account"}
    team_b.apply(named)
    team_c.apply(acg("web", web(), acrRegistryInfos=ACR))

    groups = [running(team) for team in teams]
    assert [made_by(eci_emulator, group_id) for group_id in groups] == [
        TEAM_A[0],
        TEAM_B[0],
        eci_emulator.access_key_id,
    ]
    assert [team.status("web")["account"] for team in teams] == [
        TEAM_A[0],
        TEAM_B[0],
        eci_emulator.access_key_id,
    ]
    (create_b,) = [
        request["parameters"]
        for request in eci_emulator.admin.requests("CreateContainerGroup")
        if request["access_key_id"] == TEAM_B[0]
    ]
    assert (create_b["SecurityGroupId"], create_b["VSwitchId"]) == (
        "sg-teamb0000000000001",
        "vsw-teamb000000000001",
    )
    # Every request about a team's group was signed with that team's key (polls included).
    for group_id, key_id in zip(groups, (TEAM_A[0], TEAM_B[0], eci_emulator.access_key_id), strict=True):
        about = [
            request
            for request in eci_emulator.admin.requests("DescribeContainerGroups")
            if group_id in str(request["parameters"].get("ContainerGroupIds") or "")
        ]
        assert about and {request["access_key_id"] for request in about} == {key_id}

    # Deleting uses the team's key too.
    team_a.delete("web")
    wait_for(lambda: team_a.get("web") is None, what="team A's resource deleted")
    (deletion,) = [r for r in eci_emulator.admin.requests("DeleteContainerGroup") if r["http_status"] == 200]
    assert deletion["access_key_id"] == TEAM_A[0]

    text = operator.log() + "".join(yaml.safe_dump(team.get("web")) for team in teams[1:])
    for secret in (TEAM_A[1], TEAM_B[1]):
        assert secret not in text


def test_a_malformed_or_missing_credentials_secret_gives_a_condition_naming_it(
    teams: list[Cluster],
    eci_emulator: EmulatorFixture,
    operator_env: dict[str, str],
    operator_for: list[OperatorProcess],
    tmp_path: Path,
) -> None:
    malformed, missing, required = teams
    malformed.apply(credentials_secret("acr-eci-credentials", accessKeyId="LTAI5tOnlyAnId0000001"))
    start(operator_for, operator_env, tmp_path, teams, "--require-namespace-credentials")
    malformed.apply(acg("web", web(), acrRegistryInfos=ACR))
    named = acg("web", web(), acrRegistryInfos=ACR)
    named["metadata"]["annotations"] = {"eci.acr-operator.dev/credentials-from": "not-there"}
    missing.apply(named)
    required.apply(acg("web", web(), acrRegistryInfos=ACR))

    def synced(team: Cluster) -> dict[str, str]:
        return team.condition("web", "Synced")

    wait_for(lambda: synced(malformed).get("reason") == "InvalidCredentials", what="malformed named")
    assert f"Secret {malformed.namespace}/acr-eci-credentials" in synced(malformed)["message"]
    assert "accessKeySecret" in synced(malformed)["message"]
    wait_for(lambda: synced(missing).get("reason") == "CredentialsSecretNotFound", what="missing named")
    assert f"Secret {missing.namespace}/not-there" in synced(missing)["message"]
    wait_for(lambda: synced(required).get("reason") == "CredentialsRequired", what="required named")
    assert not eci_emulator.admin.requests("CreateContainerGroup")

    # The Secret appears (GitOps applies in any order): the resource is served at once.
    eci_emulator.admin.add_access_key(*TEAM_A)
    required.apply(
        credentials_secret("acr-eci-credentials", accessKeyId=TEAM_A[0], accessKeySecret=TEAM_A[1])
    )
    group_id = running(required)
    assert made_by(eci_emulator, group_id) == TEAM_A[0]
