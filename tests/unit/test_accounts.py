"""Which account serves a resource: the namespace's credentials Secret, the one the annotation names, or
the operator's own; malformed Secrets are named with their key, never quoted."""

from __future__ import annotations

import pytest

from acr_eci_operator.accounts import CREDENTIALS_ANNOTATION, OWN, Accounts, credentials_secret
from acr_eci_operator.credentials import credentials_from_env
from acr_eci_operator.errors import OperatorError
from acr_eci_operator.settings import Settings

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tOperator000000001",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "operator-secret-value",
    "ALIBABA_CLOUD_REGION_ID": "cn-beijing",
    "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-own",
    "ECI_DEFAULT_VSWITCH_IDS": "vsw-own",
}
TEAM = {"accessKeyId": b"LTAI5tTeam0000000000001", "accessKeySecret": b"team-secret-value-1234"}


def accounts(require: bool = False) -> Accounts:
    settings = Settings.from_env(ENV)
    return Accounts(settings, credentials_from_env(ENV), require_namespace_credentials=require)


def test_the_annotation_names_the_secret_else_the_namespace_default() -> None:
    assert credentials_secret("ns", {}) == ("acr-eci-credentials", False)
    assert credentials_secret("ns", {CREDENTIALS_ANNOTATION: "team-x"}) == ("team-x", True)


def test_no_secret_means_the_operators_own_account_unless_required() -> None:
    assert accounts().resolve("ns", "acr-eci-credentials", False, None).origin == OWN
    with pytest.raises(OperatorError) as required:
        accounts(require=True).resolve("ns", "acr-eci-credentials", False, None)
    assert required.value.reason == "CredentialsRequired" and required.value.retryable
    assert "Secret ns/acr-eci-credentials" in required.value.message
    with pytest.raises(OperatorError) as missing:
        accounts().resolve("ns", "team-x", True, None)
    assert missing.value.reason == "CredentialsSecretNotFound" and "Secret ns/team-x" in missing.value.message


def test_a_team_secret_gives_its_identity_and_defaults_and_one_account_per_data() -> None:
    held = accounts()
    account = held.resolve("ns", "acr-eci-credentials", False, {**TEAM, "vSwitchIds": b"vsw-a, vsw-b"})
    assert account.identity == "LTAI5tTeam0000000000001"
    assert (account.defaults.region_id, account.defaults.security_group_id) == ("cn-beijing", "sg-own")
    assert account.defaults.v_switch_ids == ("vsw-a", "vsw-b")
    again = held.resolve("ns", "acr-eci-credentials", False, {**TEAM, "vSwitchIds": b"vsw-a, vsw-b"})
    assert again is account
    assert account.client("cn-beijing") is account.client("cn-beijing")
    assert account.client("cn-beijing") is not held.own.client("cn-beijing")  # a rate limiter of its own
    rotated = held.resolve(
        "ns", "acr-eci-credentials", False, {**TEAM, "accessKeyId": b"LTAI5tTeam0000000000002"}
    )
    assert rotated is not account and rotated.identity == "LTAI5tTeam0000000000002"
    assert len(held.all()) == 2  # the operator's own and the rotated one


def test_another_region_does_not_inherit_the_operators_network() -> None:
    account = accounts().resolve("ns", "s", True, {**TEAM, "regionId": b"cn-shanghai"})
    assert (account.defaults.region_id, account.defaults.security_group_id) == ("cn-shanghai", None)
    assert account.defaults.v_switch_ids == ()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"accessKeyId": b"LTAI5tTeam0000000000001"}, "accessKeySecret"),
        ({**TEAM, "password": b"x"}, "password"),
        ({**TEAM, "regionId": b"Beijing"}, "regionId"),
        ({**TEAM, "vSwitchIds": b"subnet-1"}, "vSwitchIds"),
        ({**TEAM, "securityGroupId": b"group-1"}, "securityGroupId"),
        ({**TEAM, "roleArn": b"not-an-arn"}, "roleArn"),
        ({**TEAM, "accessKeySecret": b"\xff\xfe"}, "accessKeySecret"),
    ],
)
def test_a_malformed_secret_is_named_with_its_key_and_never_quoted(data: dict[str, bytes], key: str) -> None:
    with pytest.raises(OperatorError) as caught:
        accounts().resolve("ns", "acr-eci-credentials", False, data)
    assert caught.value.reason == "InvalidCredentials" and not caught.value.retryable
    assert "Secret ns/acr-eci-credentials" in caught.value.message and key in caught.value.message
    assert "team-secret-value-1234" not in caught.value.message


def test_accounts_no_resource_uses_are_forgotten() -> None:
    held = accounts()
    used = held.resolve("team-a", "acr-eci-credentials", False, TEAM)
    held.resolve("team-b", "acr-eci-credentials", False, TEAM)
    assert len(held.all()) == 3
    held.retain([used])
    assert held.all() == [held.own, used]
