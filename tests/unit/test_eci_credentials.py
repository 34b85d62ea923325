"""The ECI client signs with its Credentials object, whatever the environment says, and refreshes them
once when ECI refuses them: checked on the wire, as the (in-process) emulator received each request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from acr_eci_operator.credentials import (
    CredentialsError,
    FileCredentials,
    credentials_from_env,
    credentials_from_mapping,
    source_from_env,
)
from acr_eci_operator.eci import EciClient, EciError
from acr_eci_operator.settings import Settings
from eci_emulator.faults import Fault
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import oidc_token

REGION = "cn-beijing"


def client_for(emulator: EmulatorFixture, credentials: object) -> EciClient:
    settings = Settings.from_env({"ALIBABA_CLOUD_REGION_ID": REGION, "ECI_ENDPOINT": emulator.url})
    return EciClient(settings, credentials, max_attempts=1)  # type: ignore[arg-type]


def describe(client: EciClient) -> list[dict[str, object]]:
    return asyncio.run(client.describe_container_groups(REGION, ["eci-none"]))


def wire(emulator: EmulatorFixture) -> list[tuple[str, str, str]]:
    """(AccessKeyId, SecurityToken as received, error code) of every request, in order."""
    return [
        (
            entry["access_key_id"],
            "present" if entry["parameters"].get("SecurityToken") else "",
            entry.get("error_code") or "",
        )
        for entry in emulator.requests()
    ]


def test_the_credentials_object_wins_over_every_key_variable_of_the_environment(
    eci_emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK ranks ALIYUN_ACCESS_KEY_* above a credential object; the operator's own pair must win.
    for name in ("ALIYUN_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"):
        monkeypatch.setenv(name, "LTAI-from-the-environment")
    for name in ("ALIYUN_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.setenv(name, "secret-from-the-environment")
    credentials = credentials_from_mapping(
        {"accessKeyId": eci_emulator.access_key_id, "accessKeySecret": eci_emulator.access_key_secret}
    )
    assert describe(client_for(eci_emulator, credentials)) == []
    assert wire(eci_emulator) == [(eci_emulator.access_key_id, "", "")]


def test_an_sts_token_goes_on_every_request(eci_emulator: EmulatorFixture) -> None:
    eci_emulator.add_access_key("STS.session-1", "session-secret", security_token="session-token")
    credentials = credentials_from_env(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.session-1",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "session-secret",
            "ALIBABA_CLOUD_SECURITY_TOKEN": "session-token",
        }
    )
    client = client_for(eci_emulator, credentials)
    describe(client)
    describe(client)
    assert wire(eci_emulator) == [("STS.session-1", "present", "")] * 2


def write_files(directory: Path, key_id: str, secret: str, token: str | None = None) -> None:
    (directory / "accessKeyId").write_text(key_id)
    (directory / "accessKeySecret").write_text(secret)
    if token is not None:
        (directory / "securityToken").write_text(token)


def test_a_refused_token_is_refreshed_and_the_call_retried_once(
    eci_emulator: EmulatorFixture, tmp_path: Path
) -> None:
    eci_emulator.add_access_key("STS.session-1", "session-secret", security_token="token-2")
    write_files(tmp_path, "STS.session-1", "session-secret", "token-1")
    # Files looked at only when refused, so the first request goes out with the old token.
    credentials = FileCredentials(
        source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}), check_interval=3600
    )
    client = client_for(eci_emulator, credentials)
    write_files(tmp_path, "STS.session-1", "session-secret", "token-2")
    assert describe(client) == []
    assert wire(eci_emulator) == [
        ("STS.session-1", "present", "InvalidSecurityToken.MismatchWithAccessKey"),
        ("STS.session-1", "present", ""),
    ]
    assert credentials.refreshes == 1


def test_without_newer_credentials_a_refusal_is_not_retried(eci_emulator: EmulatorFixture) -> None:
    eci_emulator.set_fault(
        "DescribeContainerGroups",
        Fault(error_code="InvalidSecurityToken.Expired", http_status=400, message="token expired", times=3),
    )
    credentials = credentials_from_env(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": eci_emulator.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": eci_emulator.access_key_secret,
        }
    )
    with pytest.raises(EciError) as raised:
        describe(client_for(eci_emulator, credentials))
    assert raised.value.code == "InvalidSecurityToken.Expired" and not raised.value.retryable
    assert eci_emulator.access_key_secret not in str(raised.value)
    assert len(wire(eci_emulator)) == 1


def test_a_rotated_key_is_used_by_the_next_call(eci_emulator: EmulatorFixture, tmp_path: Path) -> None:
    eci_emulator.add_access_key("LTAI-second", "second-secret")
    write_files(tmp_path, eci_emulator.access_key_id, eci_emulator.access_key_secret)
    credentials = FileCredentials(
        source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}), check_interval=0
    )
    client = client_for(eci_emulator, credentials)
    describe(client)
    write_files(tmp_path, "LTAI-second", "second-secret")
    describe(client)
    assert [key for key, _, _ in wire(eci_emulator)] == [eci_emulator.access_key_id, "LTAI-second"]


# -- STS at the (in-process) emulator: the library's providers, our schedule and errors ----------------

ACCOUNT = "1234567890123456"
ROLE_ARN = f"acs:ram::{ACCOUNT}:role/acr-eci-operator"
PROVIDER_ARN = f"acs:ram::{ACCOUNT}:oidc-provider/ack-rrsa-c0ffee"


def rrsa_env(emulator: EmulatorFixture, token_file: Path) -> dict[str, str]:
    return {
        "ALIBABA_CLOUD_ROLE_ARN": ROLE_ARN,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file),
        "ALIBABA_CLOUD_ROLE_SESSION_NAME": "unit-test",
        "ALIBABA_CLOUD_STS_ENDPOINT": emulator.url,
    }


def test_rrsa_credentials_sign_eci_calls(eci_emulator: EmulatorFixture, tmp_path: Path) -> None:
    token = oidc_token()
    eci_emulator.add_oidc_provider(PROVIDER_ARN, [token])
    eci_emulator.add_role(ROLE_ARN, [PROVIDER_ARN])
    (tmp_path / "token").write_text(token)
    credentials = credentials_from_env(rrsa_env(eci_emulator, tmp_path / "token"))
    client = client_for(eci_emulator, credentials)
    describe(client)
    describe(client)
    (session,) = eci_emulator.admin.sts_credentials()
    assert (session["RoleArn"], session["RoleSessionName"]) == (ROLE_ARN, "unit-test")
    signed = (session["AccessKeyId"], "present", "")
    assert wire(eci_emulator) == [("", "", ""), signed, signed]  # one AssumeRoleWithOIDC, two calls
    assert credentials.identity == ROLE_ARN


def test_a_refused_oidc_token_is_an_error_with_stss_code_and_no_token(
    eci_emulator: EmulatorFixture, tmp_path: Path
) -> None:
    eci_emulator.add_oidc_provider(PROVIDER_ARN, [oidc_token()])
    eci_emulator.add_role(ROLE_ARN, [PROVIDER_ARN])
    unknown = oidc_token()
    (tmp_path / "token").write_text(unknown)
    credentials = credentials_from_env(rrsa_env(eci_emulator, tmp_path / "token"))
    with pytest.raises(CredentialsError) as raised:
        describe(client_for(eci_emulator, credentials))
    error = raised.value
    assert error.reason.startswith("AuthenticationFail") and error.retryable
    assert ROLE_ARN in error.message and eci_emulator.url in error.message
    assert unknown not in str(error) and unknown[:40] not in str(error)
    assert [entry["action"] for entry in eci_emulator.requests()] == ["AssumeRoleWithOIDC"]


def test_an_unreadable_token_file_and_an_unreachable_sts_are_named(
    eci_emulator: EmulatorFixture, tmp_path: Path
) -> None:
    missing = credentials_from_env(rrsa_env(eci_emulator, tmp_path / "nothing-here"))
    with pytest.raises(CredentialsError, match="cannot read the OIDC token file") as raised:
        missing.current()
    assert raised.value.reason == "OIDCTokenUnreadable"
    (tmp_path / "token").write_text(oidc_token())
    closed = {
        **rrsa_env(eci_emulator, tmp_path / "token"),
        "ALIBABA_CLOUD_STS_ENDPOINT": "http://127.0.0.1:9",
    }
    with pytest.raises(CredentialsError, match="connection") as raised:
        credentials_from_env(closed).current()
    assert raised.value.reason == "Sts.Unreachable"


def test_a_ram_role_is_assumed_with_the_access_key_files(
    eci_emulator: EmulatorFixture, tmp_path: Path
) -> None:
    eci_emulator.add_role(ROLE_ARN, [], access_key_ids=[eci_emulator.access_key_id])
    write_files(tmp_path, eci_emulator.access_key_id, eci_emulator.access_key_secret)
    credentials = credentials_from_env(
        {
            "ACR_ECI_CREDENTIALS_DIR": str(tmp_path),
            "ALIBABA_CLOUD_ROLE_ARN": ROLE_ARN,
            "ALIBABA_CLOUD_STS_ENDPOINT": eci_emulator.url,
        }
    )
    describe(client_for(eci_emulator, credentials))
    (assume,) = eci_emulator.requests("AssumeRole")
    assert assume["access_key_id"] == eci_emulator.access_key_id and assume["http_status"] == 200
    (session,) = eci_emulator.admin.sts_credentials()
    assert [key for key, _, _ in wire(eci_emulator)][1:] == [session["AccessKeyId"]]
