"""Waves of creates at ECI's rate limit: no look-up before a first create, and the adaptive limiter
sharing the account's budget with another client without any call failing for good."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest

from eci_emulator.pytest_plugin import EmulatorFixture
from eci_emulator.ratelimit import DEFAULT_LIMITS
from eci_emulator.testing import prepare
from tests.e2e.conftest import REGION, Cluster, acg, wait_for
from tests.e2e.test_lifecycle import ACR, StartOperator, created, groups_for, phase_is, web

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

OTHER_KEY = ("LTAI-other-client", "other-client-secret")


def test_a_first_create_sends_no_describe_before_it(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    start_operator()
    body = cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    uid = body["metadata"]["uid"]
    wait_for(phase_is(cluster, "web", "Running"))
    actions = [r["action"] for r in eci_emulator.admin.requests()]
    first_create = actions.index("CreateContainerGroup")
    assert "DescribeContainerGroups" not in actions[:first_create], actions[: first_create + 1]
    assert len(created(eci_emulator)) == 1
    assert len(groups_for(eci_emulator, uid)) == 1
    assert cluster.status("web")["createSent"]["incarnation"] == 0


def other_client(eci: EmulatorFixture, stop: threading.Event, rate: float, burst: int) -> None:
    """Another client of the same account: `burst` CreateContainerGroup calls at once (its own wave,
    which empties ECI's bucket), then `rate` per second, whatever ECI answers (they lack containers:
    each takes a token from ECI's bucket and makes no group)."""
    sdk = AcsClient(*OTHER_KEY, REGION)
    due = time.monotonic()
    sent = 0
    while not stop.is_set():
        with contextlib.suppress(ServerException, ClientException):
            sdk.do_action_with_exception(prepare(CreateContainerGroupRequest(), eci, {"RegionId": REGION}))
        sent += 1
        if sent == burst:
            due = time.monotonic()
        if sent >= burst:
            due += 1 / rate
        stop.wait(max(0.0, due - time.monotonic()))


def test_a_wave_shares_the_documented_budget_with_another_client_and_no_call_fails_for_good(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    rate, burst = DEFAULT_LIMITS["CreateContainerGroup"]
    assert (rate, burst) == (20.0, 100.0)  # ECI's documented Create bucket
    eci_emulator.admin.set_rate_limit("CreateContainerGroup", rate=rate, burst=burst)
    eci_emulator.add_access_key(*OTHER_KEY)
    operator = start_operator(ECI_POLL_INTERVAL_SECONDS="2", ACR_ECI_LOG_LEVEL="INFO")
    stop = threading.Event()
    # It spends the burst and then half the refill: the operator, whose own bucket starts full, is
    # throttled at once, however fast this machine lets it go.
    other = threading.Thread(
        target=other_client, args=(eci_emulator, stop, rate / 2, int(burst)), daemon=True
    )
    other.start()
    try:
        names = [f"wave-{index:03d}" for index in range(150)]
        for name in names:
            cluster.apply(acg(name, web(), acrRegistryInfos=ACR))

        def with_ids() -> int:
            listing = cluster.custom.list_namespaced_custom_object(
                "eci.acr-operator.dev", "v1alpha1", cluster.namespace, "acrcontainergroups"
            )
            return sum(1 for item in listing["items"] if (item.get("status") or {}).get("containerGroupId"))

        wait_for(lambda: with_ids() == len(names), timeout=240, interval=1.0, what="every group id")
    finally:
        stop.set()
        other.join(10)
    ours = [
        r for r in eci_emulator.admin.requests("CreateContainerGroup") if r["access_key_id"] != OTHER_KEY[0]
    ]
    theirs = [
        r for r in eci_emulator.admin.requests("CreateContainerGroup") if r["access_key_id"] == OTHER_KEY[0]
    ]
    assert any(r["error_code"] == "Throttling.User" for r in ours), "the shared budget never throttled us"
    assert any(r["error_code"] != "Throttling.User" for r in theirs), "the other client got nothing through"
    assert "ECI throttled CreateContainerGroup" in operator.log()
    # No create failed for good: no resource ever showed a Throttling failure, and each made one group.
    reasons = {e.reason for e in cluster.core.list_namespaced_event(cluster.namespace).items}
    assert not [reason for reason in reasons if "Throttling" in (reason or "")], reasons
    tokens = {r["parameters"]["ClientToken"] for r in ours if r["http_status"] == 200}
    assert len(tokens) == len(names)
    assert "Synced" not in {
        c["type"]
        for name in names
        for c in cluster.status(name).get("conditions") or []
        if c["status"] == "False"
    }
