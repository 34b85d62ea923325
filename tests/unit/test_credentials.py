"""Where the operator's credentials come from (the order of sources, a Secret's keys) and how they are
kept current (files followed through Kubernetes' `..data` swap, STS sessions renewed ahead of expiry)."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from acr_eci_operator.credentials import (
    KIND_ACCESS_KEY,
    KIND_ACCESS_KEY_FILES,
    KIND_OIDC_ROLE,
    KIND_RAM_ROLE,
    KIND_STS_TOKEN,
    CredentialsError,
    CredentialSource,
    CredentialValues,
    FileCredentials,
    StsCredentials,
    StsEndpoint,
    credentials_from_mapping,
    open_credentials,
    source_from_env,
    source_from_mapping,
)
from acr_eci_operator.settings import SettingsError

ROLE = "acs:ram::1234567890123456:role/eci-operator"
PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee"
AK = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-base", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "base-secret-value"}
OIDC = {
    "ALIBABA_CLOUD_ROLE_ARN": ROLE,
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": PROVIDER,
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
}


# -- the order of sources ------------------------------------------------------------------------------


def test_an_access_key_pair_from_the_environment() -> None:
    source = source_from_env(AK)
    assert source.kind == KIND_ACCESS_KEY and source.identity == "LTAI-base"


def test_with_a_security_token_it_is_an_sts_token() -> None:
    source = source_from_env({**AK, "ALIBABA_CLOUD_SECURITY_TOKEN": "tok-value"})
    assert source.kind == KIND_STS_TOKEN and source.security_token == "tok-value"


def test_files_in_a_directory(tmp_path: Path) -> None:
    source = source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)})
    assert source.kind == KIND_ACCESS_KEY_FILES and source.directory == str(tmp_path)


def test_rrsa_when_no_access_key_is_given() -> None:
    source = source_from_env({**OIDC, "ALIBABA_CLOUD_ROLE_SESSION_NAME": "op-1"})
    assert source.kind == KIND_OIDC_ROLE
    assert (source.role_arn, source.oidc_provider_arn, source.role_session_name) == (ROLE, PROVIDER, "op-1")
    assert source.identity == ROLE
    assert source.sts_endpoint == StsEndpoint("sts.aliyuncs.com", "https")


def test_an_access_key_without_a_role_wins_over_incomplete_rrsa() -> None:
    source = source_from_env({**AK, "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/t"})
    assert source.kind == KIND_ACCESS_KEY


def test_rrsa_wins_over_a_ram_role_assumed_with_an_access_key() -> None:
    assert source_from_env({**AK, **OIDC}).kind == KIND_OIDC_ROLE


def test_a_role_with_an_access_key_is_assumed_with_it(tmp_path: Path) -> None:
    source = source_from_env({**AK, "ALIBABA_CLOUD_ROLE_ARN": ROLE})
    assert source.kind == KIND_RAM_ROLE and source.identity == ROLE
    assert source.base is not None and source.base.kind == KIND_ACCESS_KEY
    files = source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path), "ALIBABA_CLOUD_ROLE_ARN": ROLE})
    assert files.kind == KIND_RAM_ROLE and files.base is not None and files.base.kind == KIND_ACCESS_KEY_FILES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sts-vpc.cn-beijing.aliyuncs.com", StsEndpoint("sts-vpc.cn-beijing.aliyuncs.com", "https")),
        ("https://sts.cn-beijing.aliyuncs.com", StsEndpoint("sts.cn-beijing.aliyuncs.com", "https")),
        ("http://127.0.0.1:8085", StsEndpoint("127.0.0.1:8085", "http")),
    ],
)
def test_the_sts_endpoint_override(raw: str, expected: StsEndpoint) -> None:
    source = source_from_env({**OIDC, "ALIBABA_CLOUD_STS_ENDPOINT": raw})
    assert source.sts_endpoint == expected
    # http reaches the library as a URL; https as the bare host it prefixes itself.
    assert expected.for_library() == (raw if expected.protocol == "http" else expected.host)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-x"}, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cret-x"}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ({"ALIBABA_CLOUD_SECURITY_TOKEN": "tok"}, "ALIBABA_CLOUD_SECURITY_TOKEN"),
        ({**AK, "ACR_ECI_CREDENTIALS_DIR": "/etc/x"}, "ACR_ECI_CREDENTIALS_DIR"),
        ({"ALIBABA_CLOUD_ROLE_ARN": ROLE}, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
        ({**OIDC, "ALIBABA_CLOUD_OIDC_TOKEN_FILE": ""}, "ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
        ({**OIDC, "ALIBABA_CLOUD_ROLE_ARN": ""}, "ALIBABA_CLOUD_ROLE_ARN"),
        ({**OIDC, "ALIBABA_CLOUD_ROLE_ARN": "eci-operator"}, "ALIBABA_CLOUD_ROLE_ARN"),
        ({**OIDC, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "ack-rrsa"}, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
        ({**OIDC, "ALIBABA_CLOUD_ROLE_SESSION_NAME": "has space"}, "ALIBABA_CLOUD_ROLE_SESSION_NAME"),
        ({**OIDC, "ALIBABA_CLOUD_STS_ENDPOINT": "ftp://sts"}, "ALIBABA_CLOUD_STS_ENDPOINT"),
        ({**AK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "two words"}, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    ],
)
def test_a_missing_or_malformed_source_is_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as raised:
        source_from_env(env)
    assert "base-secret-value" not in str(raised.value) and "two words" not in str(raised.value)


def test_no_secret_in_a_source_repr_or_description() -> None:
    for source in (
        source_from_env({**AK, "ALIBABA_CLOUD_SECURITY_TOKEN": "tok-value-1234"}),
        source_from_env({**AK, "ALIBABA_CLOUD_ROLE_ARN": ROLE}),
    ):
        for text in (repr(source), source.describe(), repr(open_credentials(source).source)):
            assert "base-secret-value" not in text and "tok-value-1234" not in text


# -- a Secret's keys -----------------------------------------------------------------------------------


def test_a_secret_with_an_access_key() -> None:
    source = source_from_mapping({"accessKeyId": "LTAI-team", "accessKeySecret": "team-secret\n"})
    assert source.kind == KIND_ACCESS_KEY
    assert (source.access_key_id, source.access_key_secret) == ("LTAI-team", "team-secret")
    values = credentials_from_mapping(
        {"accessKeyId": "LTAI-team", "accessKeySecret": "team-secret"}
    ).current()
    assert values == CredentialValues("LTAI-team", "team-secret")


def test_a_secret_with_an_sts_token_and_a_role() -> None:
    sts = source_from_mapping({"accessKeyId": "STS.a", "accessKeySecret": "s", "securityToken": "t"})
    assert sts.kind == KIND_STS_TOKEN and sts.security_token == "t"
    endpoint = StsEndpoint("127.0.0.1:9", "http")
    role = source_from_mapping(
        {"accessKeyId": "LTAI-a", "accessKeySecret": "s", "roleArn": ROLE, "roleSessionName": "team-a"},
        sts_endpoint=endpoint,
    )
    assert role.kind == KIND_RAM_ROLE and role.identity == ROLE and role.role_session_name == "team-a"
    assert role.sts_endpoint == endpoint and role.base is not None and role.base.access_key_id == "LTAI-a"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"accessKeySecret": "s"}, "accessKeyId"),
        ({"accessKeyId": "LTAI-a", "accessKeySecret": "  "}, "accessKeySecret"),
        ({"accessKeyId": "LTAI-a", "accessKeySecret": "s", "accesKeyId": "typo"}, "accesKeyId"),
        ({"accessKeyId": "LTAI a", "accessKeySecret": "s"}, "accessKeyId"),
        ({"accessKeyId": "LTAI-a", "accessKeySecret": "s", "securityToken": "a\nb"}, "securityToken"),
        ({"accessKeyId": "LTAI-a", "accessKeySecret": "s", "roleArn": "role/x"}, "roleArn"),
        ({"accessKeyId": "LTAI-a", "accessKeySecret": "s", "roleSessionName": "x"}, "roleSessionName"),
        (
            {"accessKeyId": "LTAI-a", "accessKeySecret": "s", "roleArn": ROLE, "roleSessionName": "é"},
            "roleSessionName",
        ),
    ],
)
def test_a_malformed_secret_is_refused_naming_the_key(data: dict[str, str], key: str) -> None:
    with pytest.raises(CredentialsError) as raised:
        source_from_mapping(data, origin="Secret team-a/acr-eci-credentials")
    error = raised.value
    assert error.reason == "InvalidCredentials" and not error.retryable
    assert key in error.message and "team-a/acr-eci-credentials" in error.message
    assert "a\nb" not in error.message


# -- AccessKey files -----------------------------------------------------------------------------------


def secret_volume(directory: Path, files: dict[str, str], generation: int) -> None:
    """Write files as the kubelet writes a Secret volume: a new timestamped directory, a `..data` symlink
    swapped to it atomically, and each file name a symlink through `..data`."""
    target = directory / f"..2026_01_01_00_00_0{generation}.000000000"
    target.mkdir()
    for name, content in files.items():
        (target / name).write_text(content)
    link = directory / "..data_tmp"
    link.symlink_to(target.name)
    os.replace(link, directory / "..data")
    for name in files:
        visible = directory / name
        if not visible.is_symlink():
            visible.symlink_to(Path("..data") / name)


def test_files_are_followed_through_the_data_symlink_swap(tmp_path: Path) -> None:
    secret_volume(tmp_path, {"accessKeyId": "LTAI-one", "accessKeySecret": "secret-one\n"}, 1)
    credentials = FileCredentials(
        source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}), check_interval=0
    )
    assert credentials.current() == CredentialValues("LTAI-one", "secret-one")
    assert credentials.identity == "LTAI-one" and credentials.refreshes == 0
    secret_volume(tmp_path, {"accessKeyId": "LTAI-two", "accessKeySecret": "secret-two"}, 2)
    assert credentials.current() == CredentialValues("LTAI-two", "secret-two")
    assert credentials.identity == "LTAI-two" and credentials.refreshes == 1
    assert credentials.current() == CredentialValues("LTAI-two", "secret-two")
    assert credentials.refreshes == 1
    assert credentials.secrets()[:2] == ["secret-two", "secret-one"]


def test_a_file_token_makes_sts_credentials(tmp_path: Path) -> None:
    secret_volume(tmp_path, {"accessKeyId": "STS.a", "accessKeySecret": "s", "securityToken": "tok"}, 1)
    values = open_credentials(source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)})).current()
    assert values == CredentialValues("STS.a", "s", "tok")


def test_a_half_written_change_keeps_the_last_good_values(tmp_path: Path) -> None:
    (tmp_path / "accessKeyId").write_text("LTAI-one")
    (tmp_path / "accessKeySecret").write_text("secret-one")
    credentials = FileCredentials(
        source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}), check_interval=0
    )
    (tmp_path / "accessKeySecret").write_text("")
    assert credentials.current() == CredentialValues("LTAI-one", "secret-one")
    (tmp_path / "accessKeySecret").write_text("secret-two")
    assert credentials.current() == CredentialValues("LTAI-one", "secret-two")


def test_missing_files_at_start_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "accessKeyId").write_text("LTAI-one")
    with pytest.raises(CredentialsError, match="accessKeySecret is missing or empty"):
        open_credentials(source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}))


def test_refresh_reads_the_files_at_once(tmp_path: Path) -> None:
    (tmp_path / "accessKeyId").write_text("LTAI-one")
    (tmp_path / "accessKeySecret").write_text("secret-one")
    credentials = FileCredentials(
        source_from_env({"ACR_ECI_CREDENTIALS_DIR": str(tmp_path)}), check_interval=3600
    )
    first = credentials.current()
    assert credentials.refresh(first) == first  # nothing newer: the caller does not retry
    (tmp_path / "accessKeySecret").write_text("secret-two")
    assert credentials.current() == first  # not checked again yet
    assert credentials.refresh(first) == CredentialValues("LTAI-one", "secret-two")


# -- STS sessions --------------------------------------------------------------------------------------


class Sts:
    """An STS stand-in in the same process: hands out sessions of `lifetime` seconds, counted."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.fail: CredentialsError | None = None

    def fetch(self) -> CredentialValues:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return CredentialValues(
            f"STS.key-{self.calls}",
            f"secret-{self.calls}",
            f"token-{self.calls}",
            time.time() + self.lifetime,
        )


ROLE_SOURCE = CredentialSource(
    KIND_OIDC_ROLE, role_arn=ROLE, oidc_provider_arn=PROVIDER, oidc_token_file="/t"
)


def test_a_short_session_is_reused_then_renewed_a_third_of_its_lifetime_ahead() -> None:
    sts = Sts(lifetime=3.0)
    credentials = StsCredentials(ROLE_SOURCE, sts.fetch)
    first = credentials.current()
    assert [credentials.current() for _ in range(50)] == [first] * 50 and sts.calls == 1
    time.sleep(2.2)  # past 2/3 of the lifetime: due
    second = credentials.current()
    assert second.access_key_id == "STS.key-2" and sts.calls == 2 and credentials.refreshes == 1
    assert credentials.identity == ROLE


def test_a_long_session_is_renewed_15_minutes_ahead() -> None:
    sts = Sts(lifetime=3600.0)
    credentials = StsCredentials(ROLE_SOURCE, sts.fetch)
    values = credentials.current()
    assert values.expiration is not None
    assert credentials._refresh_at == pytest.approx(values.expiration - 900, abs=0.01)


def test_a_failed_renewal_keeps_valid_values_and_a_refusal_forces_one() -> None:
    sts = Sts(lifetime=1.5)
    credentials = StsCredentials(ROLE_SOURCE, sts.fetch)
    first = credentials.current()
    time.sleep(1.1)  # due, still valid
    sts.fail = CredentialsError("Throttling", "STS busy")
    assert credentials.current() == first
    time.sleep(0.6)  # expired: nothing to fall back on
    with pytest.raises(CredentialsError, match="STS busy"):
        credentials.current()
    sts.fail = None
    renewed = credentials.refresh(first)
    assert renewed != first and credentials.refresh(first) == renewed  # one fetch for one refusal
    assert sts.calls == 4


def test_while_one_thread_renews_the_others_sign_with_valid_values() -> None:
    started, release = threading.Event(), threading.Event()
    sts = Sts(lifetime=1.2)

    def slow_fetch() -> CredentialValues:
        if sts.calls >= 1:
            started.set()
            release.wait(5)
        return sts.fetch()

    credentials = StsCredentials(ROLE_SOURCE, slow_fetch)
    first = credentials.current()
    time.sleep(0.9)
    renewer = threading.Thread(target=credentials.current)
    renewer.start()
    assert started.wait(5)
    assert credentials.current() == first  # not blocked behind the fetch
    release.set()
    renewer.join(5)
    assert credentials.current().access_key_id == "STS.key-2"


def test_the_library_logs_nothing_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    from acr_eci_operator.credentials import silence_library_logging

    silence_library_logging()
    library = logging.getLogger("credentials")
    assert library.disabled and not library.handlers and not library.propagate
