"""Hostile and odd input: nothing sticks, nothing leaks, every answer names the cause."""

from __future__ import annotations

import base64
import json

import pytest

from eci_emulator.pytest_plugin import EmulatorFixture
from local_control_plane.cluster import free_port
from tests.e2e.conftest import GROUP, PLURAL, VERSION, Cluster, acg, create_group_directly, wait_for
from tests.e2e.test_lifecycle import ACR, NGINX, StartOperator, created, groups_for, phase_is, tags, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

SIGNATURE_MATERIAL = ("Signature=", "SignatureNonce=", "AccessKeyId=", "LTAI-emulator-test-key&")
"""What a quoted signed URL would show. The AccessKey id alone is the operator's identity, which the
start-up log and status.account name by design (never a secret)."""


def test_a_secret_that_is_not_text_is_named_without_its_value(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator(ACR_ECI_RETRY_CAP_SECONDS="2")
    binary = b"\xff\xfe\x00\x81-not-text"
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        {"metadata": {"name": "blob"}, "data": {"value": base64.b64encode(binary).decode()}},
    )
    env = [{"name": "BLOB", "valueFrom": {"secretKeyRef": {"name": "blob", "key": "value"}}}]
    cluster.apply(acg("web", web(env=env), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "SecretNotText")
    synced = cluster.condition("web", "Synced")
    assert "'blob'" in synced["message"] and "'value'" in synced["message"]
    assert "spec.containers[0].env[0].valueFrom.secretKeyRef" in synced["message"]
    assert not eci_emulator.admin.requests("CreateContainerGroup")
    body = cluster.get("web") or {}
    written = json.dumps(body) + "".join(e.message or "" for e in cluster.events("web")) + operator.log()
    assert "Traceback" not in operator.log()
    assert "not-text" not in written and "\\xff" not in written and "0xff" not in written

    # Put text in the Secret: the retry picks it up.
    cluster.core.patch_namespaced_secret("blob", cluster.namespace, {"stringData": {"value": "text now"}})
    wait_for(phase_is(cluster, "web", "Running"), timeout=90)


def test_an_unreachable_eci_is_reported_by_kind_and_host_without_the_signed_url(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # nothing listens there
    operator = start_operator(
        ECI_ENDPOINT=f"http://{endpoint}", ECI_CONNECT_TIMEOUT_SECONDS="0.5", ACR_ECI_RETRY_CAP_SECONDS="1"
    )
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "SDK.HttpError", what="the outage")
    message = cluster.condition("web", "Synced")["message"]
    assert message.endswith(f"ECI endpoint {endpoint} unreachable: connection refused"), message
    wait_for(lambda: "SDK.HttpError" in {e.reason for e in cluster.events("web")}, what="the Warning event")
    # Retried with back-off, the failure stays shown and is announced once, not at every attempt.
    wait_for(lambda: operator.log().count("retry 5 in") >= 3, what="three attempts, each retried in the call")
    assert cluster.condition("web", "Synced")["reason"] == "SDK.HttpError"
    assert len([e for e in cluster.events("web") if e.reason == "SDK.HttpError"]) == 1
    written = [
        json.dumps(cluster.get("web")),
        *(e.message or "" for e in cluster.events("web")),
        operator.log(),
    ]
    for text in written:
        for material in SIGNATURE_MATERIAL:
            assert material not in text, f"{material} leaked"


def test_a_name_of_200_characters_gets_tags_within_ecis_limits(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    name = "a" * 200
    body = cluster.apply(acg(name, web(), acrRegistryInfos=ACR, containerGroupName="short-name"))
    wait_for(phase_is(cluster, name, "Running"))
    (group,) = groups_for(eci_emulator, body["metadata"]["uid"])
    assert all(len(value) <= 128 for value in tags(group).values())
    assert tags(group)["acr-eci-operator/name"].startswith("a" * 100)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")


def test_an_acr_entry_of_another_region_is_not_taken_as_covering_the_image(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator()
    shanghai = [{"instanceId": "cri-nwj395hgf6f3abcd", "instanceName": "testabcd", "regionId": "cn-shanghai"}]
    cluster.apply(acg("web", web(NGINX), acrRegistryInfos=shanghai))
    wait_for(lambda: cluster.condition("web", "RegistryAccess").get("reason") == "AcrRegistryInfoMissing")
    message = cluster.condition("web", "RegistryAccess")["message"]
    assert "regionId cn-shanghai is not the image's region cn-beijing" in message


def test_a_status_pointing_at_another_resources_group_never_touches_that_group(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    operator = start_operator()
    mine = cluster.apply(acg("mine", web(), acrRegistryInfos=ACR))
    cluster.apply(acg("victim", web(), acrRegistryInfos=ACR))
    wait_for(lambda: all(cluster.status(n).get("phase") == "Running" for n in ("mine", "victim")))
    own_id = cluster.status("mine")["containerGroupId"]
    victim_id = cluster.status("victim")["containerGroupId"]

    def hijack() -> None:
        cluster.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, cluster.namespace, PLURAL, "mine", {"status": {"containerGroupId": victim_id}}
        )

    # While the operator runs: the foreign id is dropped and the resource's own group found again.
    hijack()
    wait_for(lambda: "ContainerGroupNotOwned" in {e.reason for e in cluster.events("mine")})
    wait_for(lambda: cluster.status("mine").get("containerGroupId") == own_id, what="its own group again")

    # Written while the operator is down, then deleted: the victim's group survives.
    operator.stop()
    hijack()
    cluster.delete("mine")
    start_operator()
    wait_for(lambda: cluster.get("mine") is None, what="the resource gone")
    assert [
        g for g in groups_for(eci_emulator, mine["metadata"]["uid"]) if g["Status"] != "Terminating"
    ] == []
    assert (eci_emulator.admin.group(victim_id) or {}).get("Status") == "Running"
    assert all(
        r["parameters"]["ContainerGroupId"] != victim_id
        for r in eci_emulator.admin.requests("DeleteContainerGroup")
    )
    # Its own group, adopted again by its uid tag, may be updated; the victim's never is.
    touched = {
        r["parameters"]["ContainerGroupId"] for r in eci_emulator.admin.requests("UpdateContainerGroup")
    }
    assert victim_id not in touched


def test_a_new_resource_says_creating_while_eci_does_not_answer(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    eci_emulator.admin.set_fault("CreateContainerGroup", latency_seconds=8.0, rate=1.0, times=1)
    start_operator()
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(
        lambda: cluster.condition("web", "Synced").get("reason") == "Creating", timeout=5, what="Creating"
    )
    assert cluster.condition("web", "Synced")["status"] == "Unknown"
    assert not cluster.status("web").get("containerGroupId")
    wait_for(phase_is(cluster, "web", "Running"), timeout=60)


def test_limits_are_enforced_by_name_before_anything_reaches_eci(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    many = acg("many", web(), acrRegistryInfos=ACR)
    many["metadata"]["annotations"] = {
        "k8s.aliyun.com/acr-instance-ids": ",".join(f"cri-{index:020d}" for index in range(50))
    }
    cluster.apply(many)
    cluster.apply(acg("elsewhere", web(), acrRegistryInfos=ACR, regionId="cn-nowhere-9"))
    cluster.apply(acg("tiny", web(), acrRegistryInfos=ACR, cpu=0.25, memory=0.5))
    wait_for(lambda: cluster.condition("many", "Synced").get("reason") == "InvalidSpec")
    assert (
        "metadata.annotations[k8s.aliyun.com/acr-instance-ids]"
        in cluster.condition("many", "Synced")["message"]
    )
    wait_for(lambda: cluster.condition("elsewhere", "Synced").get("reason") == "InvalidSpec")
    assert "spec.regionId" in cluster.condition("elsewhere", "Synced")["message"]
    wait_for(phase_is(cluster, "tiny", "Running"))
    (create,) = eci_emulator.admin.requests("CreateContainerGroup")
    assert (create["parameters"]["Cpu"], create["parameters"]["Memory"]) == ("0.25", "0.5")
    assert create["parameters"]["ContainerGroupName"] == "tiny"


def test_a_resource_larger_than_the_annotation_limit_is_created_updated_and_deleted(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    # 4 containers x 256 variables x (128-character name, 256-character value): about 430 KB, over the
    # 256 KiB that all annotations of an object may hold (the operator writes none).
    def containers(marker: str) -> list[dict[str, object]]:
        return [
            {
                "name": f"c{index}",
                "image": NGINX,
                "env": [{"name": f"V{n:03d}".ljust(128, "x"), "value": marker * 256} for n in range(256)],
            }
            for index in range(4)
        ]

    start_operator()
    cluster.apply(acg("big", containers("a"), acrRegistryInfos=ACR))
    size = len(json.dumps(cluster.get("big")))
    assert size > 400_000
    wait_for(phase_is(cluster, "big", "Running"), timeout=90)
    cluster.patch("big", {"spec": {"containers": containers("b")}})
    wait_for(lambda: cluster.condition("big", "Synced").get("reason") == "Updated", timeout=90)
    (update,) = eci_emulator.admin.requests("UpdateContainerGroup")
    assert update["parameters"]["Container.4.EnvironmentVar.256.Value"] == "b" * 256
    assert not [
        key
        for key in (cluster.get("big") or {})["metadata"].get("annotations") or {}
        if "acr-operator" in key
    ]
    cluster.delete("big")
    wait_for(lambda: cluster.get("big") is None, timeout=60, what="the large resource deleted")
    assert eci_emulator.admin.groups() == [] or all(
        g["Status"] == "Terminating" for g in eci_emulator.admin.groups()
    )


def test_a_foreign_group_in_another_region_does_not_move_the_resource_there(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    cluster.apply(acg("mine", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "mine", "Running"))
    own_id = cluster.status("mine")["containerGroupId"]
    foreign = create_group_directly(eci_emulator, "cn-shanghai", "someone-else")
    cluster.custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        cluster.namespace,
        PLURAL,
        "mine",
        {"status": {"containerGroupId": foreign, "regionId": "cn-shanghai"}},
    )
    wait_for(lambda: "ContainerGroupNotOwned" in {e.reason for e in cluster.events("mine")})
    wait_for(lambda: cluster.status("mine").get("containerGroupId") == own_id, what="its own group again")
    assert cluster.status("mine")["regionId"] == "cn-beijing"
    creates = [r["parameters"] for r in eci_emulator.admin.requests("CreateContainerGroup")]
    assert [p["RegionId"] for p in creates if "ClientToken" not in p] == ["cn-shanghai"]  # the test's own
    # The operator's creates: all in its region, one token (a replay returns its own group, never a new one).
    ours = [p for p in creates if "ClientToken" in p]
    assert {p["RegionId"] for p in ours} == {"cn-beijing"} and len({p["ClientToken"] for p in ours}) == 1
    assert len(eci_emulator.admin.groups()) == 2


def test_orphan_lets_a_resource_go_when_eci_refuses_even_the_lookup(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator(ACR_ECI_RETRY_CAP_SECONDS="1")
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(phase_is(cluster, "web", "Running"))
    eci_emulator.admin.set_fault("*", error_code="Forbidden.RAM", http_status=403)
    cluster.delete("web")
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "Forbidden.RAM")
    assert "deletionPolicy: Orphan" in cluster.condition("web", "Synced")["message"]
    cluster.patch("web", {"spec": {"deletionPolicy": "Orphan"}})
    wait_for(lambda: cluster.get("web") is None, what="the resource let go")


def test_an_unrelated_not_found_code_on_delete_does_not_count_as_the_group_gone(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator(ACR_ECI_RETRY_CAP_SECONDS="1")
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR, zoneId="cn-beijing-a", updateStrategy="Recreate"))
    wait_for(phase_is(cluster, "web", "Running"))
    group_id = cluster.status("web")["containerGroupId"]
    eci_emulator.admin.set_fault(
        "DeleteContainerGroup", error_code="InvalidAccessKeyId.NotFound", http_status=404
    )
    cluster.patch("web", {"spec": {"zoneId": "cn-beijing-b"}})
    wait_for(lambda: cluster.condition("web", "Synced").get("reason") == "InvalidAccessKeyId.NotFound")
    assert cluster.status("web")["containerGroupId"] == group_id
    assert len(created(eci_emulator)) == 1
    eci_emulator.admin.clear_faults()
    wait_for(lambda: cluster.status("web").get("containerGroupId") not in (None, group_id), what="replaced")
    assert created(eci_emulator)[-1]["parameters"]["ZoneId"] == "cn-beijing-b"
