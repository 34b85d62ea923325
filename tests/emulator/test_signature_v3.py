"""Signature v3 (ACS3-HMAC-SHA256): the tea SDK (alibabacloud-eci20180808) end to end, and requests signed
here independently of both the SDK and the emulator's own code."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import pytest
from alibabacloud_eci20180808 import models as eci_models
from alibabacloud_eci20180808.client import Client as EciClient
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.testing import REGION_ID

ROLE_ARN = "acs:ram::1234567890123456:role/acr-eci-operator"


def client_for(emulator: EmulatorFixture, **credentials: Any) -> EciClient:
    settings = {
        "access_key_id": emulator.access_key_id,
        "access_key_secret": emulator.access_key_secret,
        **credentials,
    }
    return EciClient(Config(endpoint=emulator.endpoint, protocol="http", region_id=REGION_ID, **settings))


def refused(call: Any) -> tea_exceptions.ClientException:
    with pytest.raises(tea_exceptions.ClientException) as raised:
        call()
    return raised.value


def test_the_tea_sdk_creates_describes_updates_and_deletes(eci_emulator: EmulatorFixture) -> None:
    client = client_for(eci_emulator)
    created = client.create_container_group(
        eci_models.CreateContainerGroupRequest(
            region_id=REGION_ID,
            container_group_name="web",
            restart_policy="Always",
            tag=[eci_models.CreateContainerGroupRequestTag(key="app", value="web ü*~/+&")],
            container=[
                eci_models.CreateContainerGroupRequestContainer(
                    name="main",
                    image="nginx:1.25",
                    environment_var=[
                        eci_models.CreateContainerGroupRequestContainerEnvironmentVar(key="A", value="a b")
                    ],
                )
            ],
        )
    )
    group_id = created.body.container_group_id
    assert group_id.startswith("eci-")
    eci_emulator.advance_clock(10)

    described = client.describe_container_groups(
        eci_models.DescribeContainerGroupsRequest(
            region_id=REGION_ID, container_group_ids=json.dumps([group_id])
        )
    ).body
    assert described.total_count == 1
    [group] = described.container_groups
    assert (group.status, group.container_group_name) == ("Running", "web")
    assert [(tag.key, tag.value) for tag in group.tags] == [("app", "web ü*~/+&")]
    assert group.containers[0].image == "nginx:1.25"

    client.update_container_group(
        eci_models.UpdateContainerGroupRequest(
            region_id=REGION_ID,
            container_group_id=group_id,
            container=[eci_models.UpdateContainerGroupRequestContainer(name="main", image="nginx:1.27")],
        )
    )
    spec = eci_emulator.group_spec(group_id)
    assert spec is not None and spec.containers[0].image == "nginx:1.27"

    client.delete_container_group(
        eci_models.DeleteContainerGroupRequest(region_id=REGION_ID, container_group_id=group_id)
    )
    assert [deletion["ContainerGroupId"] for deletion in eci_emulator.deletions()] == [group_id]
    entries = eci_emulator.requests()
    assert [entry["action"] for entry in entries] == [
        "CreateContainerGroup",
        "DescribeContainerGroups",
        "UpdateContainerGroup",
        "DeleteContainerGroup",
    ]
    assert {entry.get("signature_version") for entry in entries} == {"3"}
    assert {entry["access_key_id"] for entry in entries} == {eci_emulator.access_key_id}


def test_a_wrong_secret_is_refused(eci_emulator: EmulatorFixture) -> None:
    client = client_for(eci_emulator, access_key_secret="not-the-secret")
    error = refused(
        lambda: client.describe_container_groups(
            eci_models.DescribeContainerGroupsRequest(region_id=REGION_ID)
        )
    )
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in error.data["Message"]


def test_an_unknown_key_is_refused(eci_emulator: EmulatorFixture) -> None:
    client = client_for(eci_emulator, access_key_id="LTAI-nobody")
    error = refused(
        lambda: client.describe_container_groups(
            eci_models.DescribeContainerGroupsRequest(region_id=REGION_ID)
        )
    )
    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 404)


def test_sts_credentials_sign_v3_requests_with_their_token(eci_emulator: EmulatorFixture) -> None:
    eci_emulator.add_role(ROLE_ARN)
    status, answer = send_v3(
        eci_emulator,
        "AssumeRole",
        query={"RoleArn": ROLE_ARN, "RoleSessionName": "v3-session"},
        version="2015-04-01",
    )
    assert status == 200, answer
    issued = answer["Credentials"]
    client = client_for(
        eci_emulator,
        access_key_id=issued["AccessKeyId"],
        access_key_secret=issued["AccessKeySecret"],
        security_token=issued["SecurityToken"],
    )
    describe = eci_models.DescribeContainerGroupsRequest(region_id=REGION_ID)
    assert client.describe_container_groups(describe).body.total_count == 0
    wrong = client_for(
        eci_emulator,
        access_key_id=issued["AccessKeyId"],
        access_key_secret=issued["AccessKeySecret"],
        security_token="CAIS-another-token",
    )
    assert refused(lambda: wrong.describe_container_groups(describe)).code == (
        "InvalidSecurityToken.MismatchWithAccessKey"
    )
    without = client_for(
        eci_emulator, access_key_id=issued["AccessKeyId"], access_key_secret=issued["AccessKeySecret"]
    )
    assert refused(lambda: without.describe_container_groups(describe)).code == "MissingSecurityToken"
    eci_emulator.advance_clock(3600)
    error = refused(lambda: client.describe_container_groups(describe))
    assert (error.code, error.status_code) == ("InvalidSecurityToken.Expired", 400)
    assert issued["SecurityToken"] not in json.dumps(eci_emulator.requests())


# ---- requests signed here ----------------------------------------------------------------------------


def _encode(value: str) -> str:
    return quote(value, safe="-_.~", encoding="utf-8")


def send_v3(
    emulator: EmulatorFixture,
    action: str,
    query: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    version: str = "2018-08-08",
    secret: str | None = None,
    headers: dict[str, str] | None = None,
    unsigned_headers: dict[str, str] | None = None,
    tamper_query: dict[str, str] | None = None,
    declared_sha256: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Sign one request with ACS3-HMAC-SHA256 as the V3 signature reference describes it, then send it
    (with `tamper_query` replacing query values after signing, `unsigned_headers` added after signing)."""
    query = {"RegionId": REGION_ID, **(query or {})} if version == "2018-08-08" else dict(query or {})
    body = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in (form or {}).items()).encode()
    payload_hash = hashlib.sha256(body).hexdigest()
    signed: dict[str, str] = {
        "host": emulator.endpoint,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": f"nonce-{time.monotonic_ns()}",
        "x-acs-content-sha256": declared_sha256 or payload_hash,
    }
    if form:
        signed["content-type"] = "application/x-www-form-urlencoded"
    signed.update(headers or {})
    names = sorted(signed)
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    canonical = "\n".join(
        [
            "POST",
            "/",
            canonical_query,
            "".join(f"{name}:{signed[name].strip()}\n" for name in names),
            ";".join(names),
            declared_sha256 or payload_hash,
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    key = (secret or emulator.access_key_secret).encode()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    sent_query = {**query, **(tamper_query or {})}
    url = f"{emulator.url}/?" + "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sent_query.items())
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in {**signed, **(unsigned_headers or {})}.items():
        request.add_header(name, value)
    request.add_header(
        "Authorization",
        f"ACS3-HMAC-SHA256 Credential={emulator.access_key_id},SignedHeaders={';'.join(names)},"
        f"Signature={signature}",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_independently_signed_request_is_accepted(eci_emulator: EmulatorFixture) -> None:
    status, answer = send_v3(
        eci_emulator, "DescribeContainerGroups", query={"ContainerGroupName": "a*b~c/d+e&f ü=g h"}
    )
    assert status == 200, answer
    assert answer["TotalCount"] == 0


def test_parameters_in_a_signed_form_body_are_accepted(eci_emulator: EmulatorFixture) -> None:
    status, answer = send_v3(
        eci_emulator,
        "CreateContainerGroup",
        form={"ContainerGroupName": "form", "Container.1.Name": "main", "Container.1.Image": "nginx:1.25"},
    )
    assert status == 200, answer
    assert eci_emulator.groups()[0]["ContainerGroupName"] == "form"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"tamper_query": {"RegionId": "cn-hangzhou"}}, 400, "SignatureDoesNotMatch"),
        ({"secret": "not-the-secret"}, 400, "SignatureDoesNotMatch"),
        ({"declared_sha256": hashlib.sha256(b"other").hexdigest()}, 400, "SignatureDoesNotMatch"),
        ({"unsigned_headers": {"x-acs-extra": "1"}}, 400, "IncompleteSignature"),
        ({"headers": {"x-acs-date": "2020-01-01T00:00:00Z"}}, 400, "InvalidTimeStamp.Expired"),
        ({"version": "2019-01-01"}, 400, "InvalidVersion"),
        ({"headers": {"x-acs-action": "RunInstances"}}, 404, "InvalidAction.NotFound"),
    ],
)
def test_refusals(eci_emulator: EmulatorFixture, change: dict[str, Any], status: int, code: str) -> None:
    answer_status, answer = send_v3(eci_emulator, "DescribeContainerGroups", **change)
    assert (answer_status, answer["Code"]) == (status, code), answer
    assert set(answer) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_a_reused_nonce_is_refused(eci_emulator: EmulatorFixture) -> None:
    nonce = {"x-acs-signature-nonce": "the-same-nonce"}
    assert send_v3(eci_emulator, "DescribeContainerGroups", headers=nonce)[0] == 200
    status, answer = send_v3(eci_emulator, "DescribeContainerGroups", headers=nonce)
    assert (status, answer["Code"]) == (400, "SignatureNonceUsed")


def test_a_malformed_authorization_header_is_refused(eci_emulator: EmulatorFixture) -> None:
    request = urllib.request.Request(
        f"{eci_emulator.url}/?RegionId={REGION_ID}",
        data=b"",
        method="POST",
        headers={
            "Authorization": "ACS3-HMAC-SHA256 Signature=abc",
            "x-acs-action": "DescribeContainerGroups",
            "x-acs-version": "2018-08-08",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    answer = json.loads(raised.value.read())
    assert (raised.value.code, answer["Code"]) == (400, "IncompleteSignature")
