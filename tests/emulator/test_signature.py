"""Authentication: signature v1.0, access keys, timestamps, nonces, STS tokens."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.signature import percent_encode, sign, string_to_sign
from eci_emulator.testing import REGION_ID, prepare


def _raw_request(
    emulator: EmulatorFixture, params: dict[str, str], secret: str, method: str = "GET"
) -> tuple[int, dict[str, Any]]:
    """Sign `params` independently of the SDK and send them."""
    params = dict(params)
    params["Signature"] = sign(secret, string_to_sign(method, params))
    query = "&".join(f"{percent_encode(key)}={percent_encode(value)}" for key, value in params.items())
    data = None
    url = f"{emulator.url}/?{query}"
    headers = {}
    if method == "POST":
        url, data = f"{emulator.url}/", query.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _common(emulator: EmulatorFixture, **overrides: str) -> dict[str, str]:
    params = {
        "Action": "DescribeContainerGroups",
        "Version": "2018-08-08",
        "Format": "JSON",
        "RegionId": REGION_ID,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "SignatureNonce": f"nonce-{time.monotonic_ns()}",
        "AccessKeyId": emulator.access_key_id,
    }
    params.update(overrides)
    return params


def test_a_good_request_signed_with_a_wrong_secret_gets_invalid_access_key_secret(
    eci_emulator: EmulatorFixture,
) -> None:
    client = AcsClient(eci_emulator.access_key_id, "not-the-secret", REGION_ID)
    request = prepare(DescribeContainerGroupsRequest(), eci_emulator, {})
    with pytest.raises(ServerException) as raised:
        client.do_action_with_exception(request)
    assert raised.value.get_error_code() == "InvalidAccessKeySecret"
    assert raised.value.get_http_status() == 400
    entry = eci_emulator.request_log.entries()[-1]
    assert entry["error_code"] == "SignatureDoesNotMatch"


def test_signature_mismatch_answers_the_server_string_to_sign(eci_emulator: EmulatorFixture) -> None:
    params = _common(eci_emulator)
    status, body = _raw_request(eci_emulator, params, "wrong")
    assert status == 400
    assert body["Code"] == "SignatureDoesNotMatch"
    assert body["Message"].endswith(f"server string to sign is:{string_to_sign('GET', params)}")
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_unknown_access_key_id(eci_emulator: EmulatorFixture) -> None:
    client = AcsClient("LTAI-nobody", "whatever", REGION_ID)
    with pytest.raises(ServerException) as raised:
        client.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), eci_emulator, {}))
    assert raised.value.get_error_code() == "InvalidAccessKeyId.NotFound"
    assert raised.value.get_http_status() == 404


def test_an_independently_signed_request_with_awkward_values_is_accepted(
    eci_emulator: EmulatorFixture,
) -> None:
    params = _common(eci_emulator, ContainerGroupName="a*b~c/d+e&f ü")
    status, body = _raw_request(eci_emulator, params, eci_emulator.access_key_secret)
    assert status == 200, body
    assert body["TotalCount"] == 0


def test_a_signed_form_body_is_accepted(eci_emulator: EmulatorFixture) -> None:
    status, body = _raw_request(eci_emulator, _common(eci_emulator), eci_emulator.access_key_secret, "POST")
    assert status == 200, body


def test_a_reused_nonce_is_refused(eci_emulator: EmulatorFixture) -> None:
    params = _common(eci_emulator, SignatureNonce="same-nonce")
    assert _raw_request(eci_emulator, params, eci_emulator.access_key_secret)[0] == 200
    status, body = _raw_request(eci_emulator, params, eci_emulator.access_key_secret)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_a_stale_timestamp_is_refused(eci_emulator: EmulatorFixture) -> None:
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 16 * 60))
    status, body = _raw_request(
        eci_emulator, _common(eci_emulator, Timestamp=stale), eci_emulator.access_key_secret
    )
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"Version": "2019-01-01"}, "InvalidVersion"),
        ({"SignatureMethod": "HMAC-SHA256"}, "InvalidSignatureMethod"),
        ({"SignatureVersion": "2.0"}, "InvalidSignatureVersion"),
        ({"Format": "XML"}, "InvalidParameter"),
        ({"Action": "RunInstances"}, "InvalidAction.NotFound"),
    ],
)
def test_bad_common_parameters(eci_emulator: EmulatorFixture, override: dict[str, str], code: str) -> None:
    status, body = _raw_request(
        eci_emulator, _common(eci_emulator, **override), eci_emulator.access_key_secret
    )
    assert body["Code"] == code, body
    assert status >= 400


def test_sts_keys_need_their_security_token(eci_emulator: EmulatorFixture) -> None:
    eci_emulator.add_access_key("STS.key", "sts-secret", security_token="the-token")
    request = prepare(DescribeContainerGroupsRequest(), eci_emulator, {})
    without = AcsClient("STS.key", "sts-secret", REGION_ID)
    with pytest.raises(ServerException) as raised:
        without.do_action_with_exception(request)
    assert raised.value.get_error_code() == "MissingSecurityToken"

    from aliyunsdkcore.auth.credentials import StsTokenCredential

    wrong = AcsClient(region_id=REGION_ID, credential=StsTokenCredential("STS.key", "sts-secret", "other"))
    with pytest.raises(ServerException) as raised:
        wrong.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), eci_emulator, {}))
    assert raised.value.get_error_code() == "InvalidSecurityToken.MismatchWithAccessKey"

    right = AcsClient(
        region_id=REGION_ID, credential=StsTokenCredential("STS.key", "sts-secret", "the-token")
    )
    answer = json.loads(
        right.do_action_with_exception(prepare(DescribeContainerGroupsRequest(), eci_emulator, {}))
    )
    assert answer["TotalCount"] == 0
    logged = eci_emulator.request_log.entries()[-1]["parameters"]
    assert logged["SecurityToken"] == "******"
