"""The emulated STS: AssumeRole and AssumeRoleWithOIDC through the real clients (alibabacloud-credentials'
providers, aliyun-python-sdk-core), the credentials they issue used on ECI, and their expiry."""

from __future__ import annotations

import asyncio
import calendar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import OIDCRoleArnCredentialsProvider, RamRoleArnCredentialsProvider
from alibabacloud_eci20180808 import models as eci_models
from alibabacloud_eci20180808.client import Client as EciClient
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest

from eci_emulator.admin import AdminClient, AdminError
from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.signature import percent_encode, sign, string_to_sign
from eci_emulator.testing import REGION_ID, container_params, oidc_token, prepare

ACCOUNT = "1234567890123456"
ROLE_ARN = f"acs:ram::{ACCOUNT}:role/acr-eci-operator"
OTHER_ROLE_ARN = f"acs:ram::{ACCOUNT}:role/someone-else"
PROVIDER_ARN = f"acs:ram::{ACCOUNT}:oidc-provider/ack-rrsa-c0ffee"
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Sts:
    emulator: EmulatorFixture
    token: str
    token_file: Path

    def oidc_provider(self, **overrides: Any) -> OIDCRoleArnCredentialsProvider:
        """alibabacloud-credentials' RRSA provider, pointed at the emulator over http."""
        settings: dict[str, Any] = {
            "role_arn": ROLE_ARN,
            "oidc_provider_arn": PROVIDER_ARN,
            "oidc_token_file_path": str(self.token_file),
            "role_session_name": "acr-eci-operator",
            "sts_endpoint": self.emulator.url,
        }
        settings.update(overrides)
        return OIDCRoleArnCredentialsProvider(**settings)

    def ram_role_provider(self, **overrides: Any) -> RamRoleArnCredentialsProvider:
        settings: dict[str, Any] = {
            "access_key_id": self.emulator.access_key_id,
            "access_key_secret": self.emulator.access_key_secret,
            "role_arn": ROLE_ARN,
            "role_session_name": "ram-role-test",
            "sts_endpoint": self.emulator.url,
        }
        settings.update(overrides)
        return RamRoleArnCredentialsProvider(**settings)


@pytest.fixture
def sts(eci_emulator: EmulatorFixture, tmp_path: Path) -> Sts:
    token = oidc_token()
    eci_emulator.add_oidc_provider(PROVIDER_ARN, [token])
    eci_emulator.add_role(ROLE_ARN, [PROVIDER_ARN])
    eci_emulator.add_role(OTHER_ROLE_ARN, [], access_key_ids=["LTAI-someone-else"])
    token_file = tmp_path / "token"
    token_file.write_text(token)
    return Sts(eci_emulator, token, token_file)


def eci_v3(emulator: EmulatorFixture, **config: Any) -> EciClient:
    """The tea SDK (signature v3) pointed at the emulator over http."""
    return EciClient(Config(endpoint=emulator.endpoint, protocol="http", region_id=REGION_ID, **config))


def describe_v3(client: EciClient) -> dict[str, Any]:
    answer = client.describe_container_groups(eci_models.DescribeContainerGroupsRequest(region_id=REGION_ID))
    body: dict[str, Any] = answer.body.to_map()
    return body


def create_v3(client: EciClient, name: str = "web") -> str:
    request = eci_models.CreateContainerGroupRequest(
        region_id=REGION_ID,
        container_group_name=name,
        container=[eci_models.CreateContainerGroupRequestContainer(name="main", image="nginx:1.25")],
    )
    return str(client.create_container_group(request).body.container_group_id)


def sts_request(
    emulator: EmulatorFixture, params: dict[str, str], secret: str | None = None
) -> tuple[int, dict[str, Any]]:
    """An STS request over plain HTTP (signed v1.0 with `secret` when given), as the credentials providers
    send it: GET with every parameter in the query."""
    params = {"Format": "JSON", "Version": "2015-04-01", **params}
    if secret is not None:
        params.update(
            SignatureMethod="HMAC-SHA1",
            SignatureVersion="1.0",
            SignatureNonce=f"nonce-{time.monotonic_ns()}",
            Timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            AccessKeyId=params.get("AccessKeyId", emulator.access_key_id),
        )
        params["Signature"] = sign(secret, string_to_sign("GET", params))
    query = "&".join(f"{percent_encode(key)}={percent_encode(value)}" for key, value in params.items())
    try:
        with urllib.request.urlopen(f"{emulator.url}/?{query}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def oidc_params(token: str, **overrides: str) -> dict[str, str]:
    return {
        "Action": "AssumeRoleWithOIDC",
        "RoleArn": ROLE_ARN,
        "OIDCProviderArn": PROVIDER_ARN,
        "OIDCToken": token,
        "RoleSessionName": "session-1",
        **overrides,
    }


def utc(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


# ---- the real clients ---------------------------------------------------------------------------------


def test_rrsa_credentials_sign_eci_calls_until_the_emulator_clock_passes_their_expiry(sts: Sts) -> None:
    emulator = sts.emulator
    emulator.set_sts_lifetime(60)
    provider = sts.oidc_provider()
    credentials = provider.get_credentials()
    assert credentials.get_access_key_id().startswith("STS.")
    assert credentials.get_security_token()

    client = eci_v3(emulator, credential=CredentialClient(provider=provider))
    group_id = create_v3(client)
    group = emulator.group(group_id)
    assert group is not None
    key_id = group["created_by_access_key_id"]
    assert key_id.startswith("STS.")
    assert group["created_by_role_arn"] == ROLE_ARN
    assert emulator.admin.group(group_id)["created_by_role_arn"] == ROLE_ARN  # type: ignore[index]
    [issued] = [item for item in emulator.sts_credentials() if item["AccessKeyId"] == key_id]
    assert (issued["RoleArn"], issued["RoleSessionName"], issued["Expired"]) == (
        ROLE_ARN,
        "acr-eci-operator",
        False,
    )

    old = eci_v3(
        emulator,
        access_key_id=credentials.get_access_key_id(),
        access_key_secret=credentials.get_access_key_secret(),
        security_token=credentials.get_security_token(),
    )
    assert describe_v3(old)["TotalCount"] == 1
    emulator.advance_clock(61)
    with pytest.raises(tea_exceptions.ClientException) as raised:
        describe_v3(old)
    assert (raised.value.code, raised.value.status_code) == ("InvalidSecurityToken.Expired", 400)
    v1 = AcsClient(
        region_id=REGION_ID,
        credential=StsTokenCredential(
            credentials.get_access_key_id(),
            credentials.get_access_key_secret(),
            credentials.get_security_token(),
        ),
    )
    with pytest.raises(ServerException) as refused:
        v1.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), emulator, {}))
    assert refused.value.get_error_code() == "InvalidSecurityToken.Expired"

    # The provider refreshes (the credentials had less than its 15-minute margin left) and goes on working.
    assert describe_v3(client)["TotalCount"] == 1
    assert provider.get_credentials().get_access_key_id() != credentials.get_access_key_id()
    assert {entry["action"] for entry in emulator.requests()} >= {
        "AssumeRoleWithOIDC",
        "DescribeContainerGroups",
    }


def test_ram_role_arn_credentials_from_a_base_key_sign_v1_calls(sts: Sts) -> None:
    emulator = sts.emulator
    credentials = sts.ram_role_provider().get_credentials()
    assert credentials.get_access_key_id().startswith("STS.")
    client = AcsClient(
        region_id=REGION_ID,
        credential=StsTokenCredential(
            credentials.get_access_key_id(),
            credentials.get_access_key_secret(),
            credentials.get_security_token(),
        ),
    )
    request = prepare(
        CreateContainerGroupRequest(),
        emulator,
        {"ContainerGroupName": "web", **container_params(1, "main", "nginx:1.25")},
    )
    group_id = json.loads(client.do_action_with_exception(request))["ContainerGroupId"]
    group = emulator.group(group_id)
    assert group is not None
    assert group["created_by_access_key_id"] == credentials.get_access_key_id()
    assert group["created_by_role_arn"] == ROLE_ARN
    assert sts.emulator.requests("AssumeRole")[-1]["access_key_id"] == emulator.access_key_id


def test_the_async_paths_work_too(sts: Sts) -> None:
    """The operator runs under asyncio: the providers' and the tea SDK's async calls (aiohttp)."""

    async def run() -> tuple[str, str, int]:
        provider = sts.oidc_provider()
        oidc = await provider.get_credentials_async()
        ram = await sts.ram_role_provider().get_credentials_async()
        client = eci_v3(sts.emulator, credential=CredentialClient(provider=provider))
        answer = await client.describe_container_groups_async(
            eci_models.DescribeContainerGroupsRequest(region_id=REGION_ID)
        )
        return oidc.get_access_key_id(), ram.get_access_key_id(), int(answer.body.total_count)

    oidc_key, ram_key, count = asyncio.run(run())
    assert oidc_key.startswith("STS.") and ram_key.startswith("STS.") and count == 0
    assert [entry["http_status"] for entry in sts.emulator.requests()] == [200, 200, 200]


def test_a_group_made_with_a_base_key_names_that_key(sts: Sts) -> None:
    client = eci_v3(
        sts.emulator,
        access_key_id=sts.emulator.access_key_id,
        access_key_secret=sts.emulator.access_key_secret,
    )
    group = sts.emulator.group(create_v3(client))
    assert group is not None
    assert (group["created_by_access_key_id"], group["created_by_role_arn"]) == (
        sts.emulator.access_key_id,
        None,
    )


def test_the_providers_report_sts_refusals(sts: Sts, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text(oidc_token())
    with pytest.raises(CredentialException) as raised:
        sts.oidc_provider(oidc_token_file_path=str(wrong)).get_credentials()
    assert "AuthenticationFail.OIDCToken.InvalidSignature" in str(raised.value)
    assert "http_code: 401" in str(raised.value)
    with pytest.raises(CredentialException) as raised:
        sts.ram_role_provider(role_arn=f"acs:ram::{ACCOUNT}:role/missing").get_credentials()
    assert "EntityNotExist.Role" in str(raised.value)
    with pytest.raises(CredentialException) as raised:
        sts.ram_role_provider(access_key_secret="not-the-secret").get_credentials()
    assert "SignatureDoesNotMatch" in str(raised.value)


def test_assume_role_through_aliyun_python_sdk_core(sts: Sts) -> None:
    emulator = sts.emulator
    client = AcsClient(emulator.access_key_id, emulator.access_key_secret, REGION_ID)

    def assume(role_arn: str, client: AcsClient = client) -> dict[str, Any]:
        request = CommonRequest(domain=emulator.endpoint, version="2015-04-01", action_name="AssumeRole")
        request.set_protocol_type("http")
        request.add_query_param("RoleArn", role_arn)
        request.add_query_param("RoleSessionName", "core-sdk")
        request.add_query_param("DurationSeconds", "900")
        answer: dict[str, Any] = json.loads(client.do_action_with_exception(request))
        return answer

    answer = assume(ROLE_ARN)
    assert set(answer) == {"RequestId", "AssumedRoleUser", "Credentials"}
    assert answer["AssumedRoleUser"]["Arn"] == f"{ROLE_ARN}/core-sdk"
    assert answer["AssumedRoleUser"]["AssumedRoleId"].endswith(":core-sdk")
    assert set(answer["Credentials"]) == {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(emulator.clock.now() + 900, abs=5)
    with pytest.raises(ServerException) as raised:
        assume(OTHER_ROLE_ARN)
    assert (raised.value.get_error_code(), raised.value.get_http_status()) == (
        "AuthenticationFail.NoPermission",
        401,
    )
    with pytest.raises(ServerException) as raised:
        assume(f"acs:ram::{ACCOUNT}:role/missing")
    assert (raised.value.get_error_code(), raised.value.get_http_status()) == ("EntityNotExist.Role", 404)
    with pytest.raises(ServerException) as raised:
        assume("not-an-arn")
    assert raised.value.get_error_code() == "InvalidParameter.RoleArn"

    # Role chaining: an STS key assumes a role too, until it expires.
    issued = answer["Credentials"]
    chained = AcsClient(
        region_id=REGION_ID,
        credential=StsTokenCredential(
            issued["AccessKeyId"], issued["AccessKeySecret"], issued["SecurityToken"]
        ),
    )
    assert assume(ROLE_ARN, chained)["Credentials"]["AccessKeyId"].startswith("STS.")
    emulator.advance_clock(901)
    with pytest.raises(ServerException) as raised:
        assume(ROLE_ARN, chained)
    assert raised.value.get_error_code() == "InvalidSecurityToken.Expired"


# ---- AssumeRoleWithOIDC on the wire -----------------------------------------------------------------


def test_assume_role_with_oidc_answers_like_sts(sts: Sts) -> None:
    status, answer = sts_request(sts.emulator, oidc_params(sts.token))
    assert status == 200, answer
    assert set(answer) == {"RequestId", "AssumedRoleUser", "Credentials", "OIDCTokenInfo"}
    assert answer["AssumedRoleUser"]["Arn"] == f"{ROLE_ARN}/session-1"
    info = answer["OIDCTokenInfo"]
    assert info["ClientIds"] == "sts.aliyuncs.com"
    assert info["Subject"] == "system:serviceaccount:acr-eci-system:acr-eci-operator"
    assert info["VerificationInfo"] == "Success"
    assert info["Issuer"].startswith("https://")
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(time.time() + 3600, abs=5)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"OIDCToken": "not.a-jwt"}, 401, "AuthenticationFail.OIDCToken.Invalid"),
        ({"OIDCToken": "abc"}, 400, "InvalidParameter.OIDCToken"),
        ({"OIDCToken": ""}, 401, "AuthenticationFail.OIDCToken.Invalid"),
        (
            {"OIDCProviderArn": f"acs:ram::{ACCOUNT}:oidc-provider/unknown"},
            401,
            "AuthenticationFail.NoPermission",
        ),
        ({"OIDCProviderArn": "provider"}, 400, "InvalidParameter.OIDCProviderArn"),
        ({"RoleArn": f"acs:ram::{ACCOUNT}:role/missing"}, 404, "EntityNotExist.Role"),
        ({"RoleArn": OTHER_ROLE_ARN}, 401, "AuthenticationFail.NoPermission"),
        ({"RoleSessionName": "a"}, 400, "InvalidParameter.RoleSessionName"),
        ({"RoleSessionName": "white space"}, 400, "InvalidParameter.RoleSessionName"),
        ({"DurationSeconds": "899"}, 400, "InvalidParameter.DurationSeconds"),
        ({"DurationSeconds": "3601"}, 400, "InvalidParameter.DurationSeconds"),
        ({"Policy": "{not json"}, 400, "InvalidParameter.PolicyGrammar"),
        ({"Unknown": "x"}, 400, "InvalidParameter"),
    ],
)
def test_assume_role_with_oidc_refusals(sts: Sts, change: dict[str, str], status: int, code: str) -> None:
    answer_status, answer = sts_request(sts.emulator, oidc_params(sts.token, **change))
    assert (answer_status, answer["Code"]) == (status, code), answer
    assert set(answer) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert sts.token not in json.dumps(answer)


@pytest.mark.parametrize("missing", ["RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName"])
def test_assume_role_with_oidc_needs_its_parameters(sts: Sts, missing: str) -> None:
    params = oidc_params(sts.token)
    del params[missing]
    status, answer = sts_request(sts.emulator, params)
    assert (status, answer["Code"]) == (400, "MissingParameter")
    assert missing in answer["Message"]


def test_oidc_tokens_are_checked_for_audience_issuer_and_expiry(sts: Sts) -> None:
    emulator = sts.emulator
    other_audience = oidc_token(audience="somebody-else")
    emulator.add_oidc_token(PROVIDER_ARN, other_audience)
    status, answer = sts_request(emulator, oidc_params(other_audience))
    assert (status, answer["Code"]) == (401, "AuthenticationFail.OIDCToken.AudienceNotMatch")

    expired = oidc_token(expires_at=time.time() - 1)
    emulator.add_oidc_token(PROVIDER_ARN, expired)
    status, answer = sts_request(emulator, oidc_params(expired))
    assert (status, answer["Code"]) == (401, "AuthenticationFail.OIDCToken.Expired")

    # The registered token expires by the emulator's clock too.
    emulator.advance_clock(3601)
    status, answer = sts_request(emulator, oidc_params(sts.token))
    assert (status, answer["Code"]) == (401, "AuthenticationFail.OIDCToken.Expired")


def test_a_provider_may_accept_any_jwt_for_its_audience(eci_emulator: EmulatorFixture) -> None:
    issuer = "https://oidc.example.com/cluster"
    eci_emulator.add_oidc_provider(PROVIDER_ARN, accept_any_jwt=True, issuer=issuer)
    eci_emulator.add_role(ROLE_ARN, [PROVIDER_ARN])
    status, answer = sts_request(eci_emulator, oidc_params(oidc_token(issuer=issuer)))
    assert status == 200, answer
    status, answer = sts_request(eci_emulator, oidc_params(oidc_token(issuer="https://elsewhere")))
    assert (status, answer["Code"]) == (401, "AuthenticationFail.OIDCToken.IssuerNotMatch")
    status, answer = sts_request(eci_emulator, oidc_params(oidc_token(issuer=issuer, audience="x")))
    assert (status, answer["Code"]) == (401, "AuthenticationFail.OIDCToken.AudienceNotMatch")


def test_the_lifetime_is_as_asked_capped_by_the_knob(sts: Sts) -> None:
    emulator = sts.emulator
    status, answer = sts_request(emulator, oidc_params(sts.token, DurationSeconds="1800"))
    assert status == 200, answer
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(time.time() + 1800, abs=5)

    emulator.set_sts_lifetime(60)
    status, answer = sts_request(emulator, oidc_params(sts.token, DurationSeconds="1800"))
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(time.time() + 60, abs=5)

    status, answer = sts_request(emulator, oidc_params(sts.token, DurationSeconds="120"))
    assert (status, answer["Code"]) == (400, "InvalidParameter.DurationSeconds")
    emulator.set_sts_lifetime(None, min_duration_seconds=60)
    status, answer = sts_request(emulator, oidc_params(sts.token, DurationSeconds="120"))
    assert status == 200, answer
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(time.time() + 120, abs=5)

    # Expiration is on the emulator's clock.
    emulator.advance_clock(1000)
    status, answer = sts_request(emulator, oidc_params(sts.token, DurationSeconds="900"))
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(time.time() + 1900, abs=5)


def test_issued_keys_need_their_token_and_expire(sts: Sts) -> None:
    emulator = sts.emulator
    emulator.set_sts_lifetime(60)
    _, answer = sts_request(emulator, oidc_params(sts.token))
    issued = answer["Credentials"]

    def describe(token: str | None) -> ServerException | dict[str, Any]:
        credential = (
            StsTokenCredential(issued["AccessKeyId"], issued["AccessKeySecret"], token)
            if token is not None
            else None
        )
        client = (
            AcsClient(region_id=REGION_ID, credential=credential)
            if credential is not None
            else AcsClient(issued["AccessKeyId"], issued["AccessKeySecret"], REGION_ID)
        )
        try:
            answer: dict[str, Any] = json.loads(
                client.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), emulator, {}))
            )
            return answer
        except ServerException as error:
            return error

    ok = describe(issued["SecurityToken"])
    assert isinstance(ok, dict) and ok["TotalCount"] == 0
    wrong = describe("CAIS-not-this-one")
    assert isinstance(wrong, ServerException)
    assert wrong.get_error_code() == "InvalidSecurityToken.MismatchWithAccessKey"
    missing = describe(None)
    assert isinstance(missing, ServerException) and missing.get_error_code() == "MissingSecurityToken"
    emulator.advance_clock(59)
    assert isinstance(describe(issued["SecurityToken"]), dict)
    emulator.advance_clock(1)
    expired = describe(issued["SecurityToken"])
    assert isinstance(expired, ServerException)
    assert (expired.get_error_code(), expired.get_http_status()) == ("InvalidSecurityToken.Expired", 400)
    assert issued["SecurityToken"] not in expired.get_error_msg()
    assert [item["Expired"] for item in emulator.sts_credentials()] == [True]


def test_no_secret_reaches_the_request_log(sts: Sts) -> None:
    emulator = sts.emulator
    credentials = sts.oidc_provider().get_credentials()
    wrong_secret = AcsClient(
        region_id=REGION_ID,
        credential=StsTokenCredential(
            credentials.get_access_key_id(), "wrong", credentials.get_security_token()
        ),
    )
    with pytest.raises(ServerException):
        wrong_secret.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), emulator, {}))
    client = eci_v3(
        emulator,
        access_key_id=credentials.get_access_key_id(),
        access_key_secret=credentials.get_access_key_secret(),
        security_token=credentials.get_security_token(),
    )
    describe_v3(client)
    logged = json.dumps(emulator.requests()) + json.dumps(emulator.admin.sts())
    for secret in (sts.token, credentials.get_access_key_secret(), credentials.get_security_token()):
        assert secret not in logged
    oidc_entry = emulator.requests("AssumeRoleWithOIDC")[-1]
    assert oidc_entry["parameters"]["OIDCToken"] == "******"
    assert oidc_entry["product"] == "Sts"


def test_reset_forgets_the_issued_keys(sts: Sts) -> None:
    _, answer = sts_request(sts.emulator, oidc_params(sts.token))
    issued = answer["Credentials"]
    sts.emulator.reset()
    client = AcsClient(
        region_id=REGION_ID,
        credential=StsTokenCredential(
            issued["AccessKeyId"], issued["AccessKeySecret"], issued["SecurityToken"]
        ),
    )
    with pytest.raises(ServerException) as raised:
        client.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), sts.emulator, {}))
    assert raised.value.get_error_code() == "InvalidAccessKeyId.NotFound"
    assert sts.emulator.sts_credentials() == []
    status, _ = sts_request(sts.emulator, oidc_params(sts.token))  # roles and providers stay
    assert status == 200


def test_sts_faults_can_be_injected(sts: Sts) -> None:
    sts.emulator.admin.set_fault("AssumeRoleWithOIDC", error_code="ServiceUnavailable", times=1)
    status, answer = sts_request(sts.emulator, oidc_params(sts.token))
    assert (status, answer["Code"]) == (503, "ServiceUnavailable")
    assert sts_request(sts.emulator, oidc_params(sts.token))[0] == 200


# ---- the admin API and the CLI -------------------------------------------------------------------------


def test_sts_is_configured_over_the_admin_api(eci_emulator: EmulatorFixture) -> None:
    admin = eci_emulator.admin
    token = oidc_token()
    admin.add_oidc_provider(PROVIDER_ARN)
    admin.add_oidc_token(PROVIDER_ARN, token)
    admin.add_role(ROLE_ARN, [PROVIDER_ARN])
    assert admin.set_sts_lifetime(60) == {"sts_lifetime_seconds": 60.0, "sts_min_duration_seconds": 900}
    status, answer = sts_request(eci_emulator, oidc_params(token))
    assert status == 200, answer
    assert utc(answer["Credentials"]["Expiration"]) == pytest.approx(time.time() + 60, abs=5)
    state = admin.sts()
    assert state["roles"][0]["arn"] == ROLE_ARN
    assert state["oidc_providers"][0]["token_count"] == 1
    assert token not in json.dumps(state)
    [issued] = admin.sts_credentials()
    assert issued["AccessKeyId"] == answer["Credentials"]["AccessKeyId"]
    with pytest.raises(AdminError) as raised:
        admin.add_oidc_token(f"acs:ram::{ACCOUNT}:oidc-provider/unknown", token)
    assert raised.value.status == 404
    with pytest.raises(AdminError) as raised:
        admin.add_role("not-an-arn")
    assert raised.value.status == 400
    with pytest.raises(AdminError) as raised:
        admin.set_sts_lifetime(0)
    assert raised.value.status == 400


def test_the_cli_serves_sts(tmp_path: Path) -> None:
    token = oidc_token()
    token_file = tmp_path / "token"
    token_file.write_text(token)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eci_emulator.cli",
            "--port",
            "0",
            "--access-key",
            "cli-key:cli-secret",
            "--oidc-provider",
            PROVIDER_ARN,
            "--oidc-token",
            f"{PROVIDER_ARN}=@{token_file}",
            "--sts-role",
            f"{ROLE_ARN}={PROVIDER_ARN}",
            "--sts-lifetime-seconds",
            "60",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={key: value for key, value in os.environ.items() if not key.startswith("ALIBABA_CLOUD_")},
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        provider = OIDCRoleArnCredentialsProvider(
            role_arn=ROLE_ARN,
            oidc_provider_arn=PROVIDER_ARN,
            oidc_token_file_path=str(token_file),
            role_session_name="cli",
            sts_endpoint=url,
        )
        credentials = provider.get_credentials()
        assert float(credentials.get_expiration()) == pytest.approx(time.time() + 60, abs=5)
        admin = AdminClient(url)
        assert admin.sts()["settings"]["sts_lifetime_seconds"] == 60
        client = EciClient(
            Config(
                endpoint=url.removeprefix("http://"),
                protocol="http",
                region_id=REGION_ID,
                credential=CredentialClient(provider=provider),
            )
        )
        assert describe_v3(client)["TotalCount"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
