"""The metrics: what each hook counts after a known sequence, the gauges computed from the controller's
state, the /metrics endpoint, and that no label carries a secret or a per-resource value."""

from __future__ import annotations

import ast
import asyncio
import contextvars
import datetime
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from acr_eci_operator import eci, metrics
from acr_eci_operator.cli import build_parser
from acr_eci_operator.controller import Controller, Entry, Resource
from acr_eci_operator.credentials import (
    KIND_ACCESS_KEY,
    KIND_OIDC_ROLE,
    CredentialSource,
    CredentialValues,
    StaticCredentials,
)
from acr_eci_operator.eci import EciClient, EciError
from acr_eci_operator.errors import KubernetesUnavailable
from acr_eci_operator.kube import Kube
from acr_eci_operator.planner import Observation
from acr_eci_operator.settings import RateLimit, Settings, SettingsError
from local_control_plane.cluster import free_port

SECRET = "very-secret-access-key-value"
PASSWORD = "registry-Passw0rd-value"
KEY_ID = "LTAI-metrics-test"
SETTINGS = Settings(region_id="cn-beijing")
CREDENTIALS = StaticCredentials(
    CredentialSource(KIND_ACCESS_KEY, access_key_id=KEY_ID, access_key_secret=SECRET)
)
NOW = 1_800_000_000.0


@pytest.fixture
def fresh() -> Iterator[metrics.Metrics]:
    """A Metrics of its own for the test, fed by the hooks; the one before is put back after."""
    before = metrics.current()
    yield metrics.install(metrics.Metrics(process=False, wall_clock=lambda: NOW))
    metrics.install(before)


def scripted(client: EciClient, answers: list[BaseException | dict[str, Any]]) -> list[Mapping[str, str]]:
    """Make the client's transport answer from a script (an exception is raised); returns the params
    of every request sent."""
    sent: list[Mapping[str, str]] = []

    def send(action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        sent.append(params)
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    client._send = send  # type: ignore[method-assign]
    return sent


# -- ECI calls ---------------------------------------------------------------------------------------


def test_a_throttled_then_successful_call_counts_both_attempts_by_code(
    fresh: metrics.Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eci, "backoff_delay", lambda *_, **__: 0.0)
    client = EciClient(SETTINGS, CREDENTIALS)
    throttled = EciError("DescribeContainerGroups", "Throttling.User", "slow down", 400)
    scripted(client, [throttled, {"ContainerGroups": []}])
    asyncio.run(client.call("DescribeContainerGroups", "cn-beijing", {}))

    action = {"action": "DescribeContainerGroups"}
    assert fresh.sample("acr_eci_eci_calls_total", {**action, "code": "Throttling.User"}) == 1
    assert fresh.sample("acr_eci_eci_calls_total", {**action, "code": "OK"}) == 1
    assert fresh.sample("acr_eci_eci_throttled_calls_total", action) == 1
    assert fresh.sample("acr_eci_eci_call_duration_seconds_count", action) == 2
    assert fresh.sample("acr_eci_rate_limit_wait_seconds_count", {"bucket": "describe"}) == 2
    assert fresh.sample("acr_eci_rate_limit_wait_seconds_count", {"bucket": "mutate"}) is None


def test_a_terminal_failure_is_counted_once_with_its_code(fresh: metrics.Metrics) -> None:
    client = EciClient(SETTINGS, CREDENTIALS)
    refused = EciError("CreateContainerGroup", "InvalidParameter", "bad", 400)
    scripted(client, [refused])
    with pytest.raises(EciError):
        asyncio.run(client.call("CreateContainerGroup", "cn-beijing", {"Container.1.Name": "web"}))

    action = {"action": "CreateContainerGroup"}
    assert fresh.sample("acr_eci_eci_calls_total", {**action, "code": "InvalidParameter"}) == 1
    assert fresh.sample("acr_eci_eci_calls_total", {**action, "code": "OK"}) is None
    assert fresh.sample("acr_eci_eci_throttled_calls_total", action) is None
    assert fresh.sample("acr_eci_rate_limit_wait_seconds_count", {"bucket": "mutate"}) == 1


def test_a_call_without_an_answer_counts_as_sdk_timeout(fresh: metrics.Metrics) -> None:
    client = EciClient(SETTINGS, CREDENTIALS)
    client.call_timeout = 0.05

    def hang(action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        time.sleep(0.5)
        return {}

    client._send = hang  # type: ignore[method-assign]
    with pytest.raises(EciError, match=r"SDK\.Timeout|no answer"):
        asyncio.run(client.call("DeleteContainerGroup", "cn-beijing", {}, retry=False))
    assert (
        fresh.sample("acr_eci_eci_calls_total", {"action": "DeleteContainerGroup", "code": "SDK.Timeout"})
        == 1
    )


def test_the_wait_for_the_token_bucket_is_measured(fresh: metrics.Metrics) -> None:
    settings = Settings(
        region_id="cn-beijing", rate_limits={"DescribeContainerGroups": RateLimit(rate=10.0, burst=1)}
    )
    client = EciClient(settings, CREDENTIALS)
    scripted(client, [{}, {}, {}])

    async def three() -> None:
        for _ in range(3):
            await client.call("DescribeContainerGroups", "cn-beijing", {})

    asyncio.run(three())
    # One token at once, then one every 0.1 s: the second and third call wait about 0.1 s each.
    waited = fresh.sample("acr_eci_rate_limit_wait_seconds_sum", {"bucket": "describe"})
    assert waited is not None and 0.15 <= waited < 5
    assert fresh.sample("acr_eci_rate_limit_wait_seconds_count", {"bucket": "describe"}) == 3


def test_no_secret_reaches_the_exposition(fresh: metrics.Metrics) -> None:
    client = EciClient(SETTINGS, CREDENTIALS)
    # ECI's message may quote a parameter: messages never become labels, codes do.
    echo = EciError("CreateContainerGroup", "InvalidParameter", f"the value {PASSWORD} is bad", 400)
    scripted(client, [echo])
    params = {"ImageRegistryCredential.1.Password": PASSWORD, "ContainerGroupName": "my-app-name"}
    with pytest.raises(EciError):
        asyncio.run(client.call("CreateContainerGroup", "cn-beijing", params))
    text = fresh.exposition().decode()
    assert 'code="InvalidParameter"' in text
    for value in (SECRET, PASSWORD, KEY_ID, "my-app-name"):
        assert value not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Throttling.User", "Throttling.User"),
        ("SDK.HttpError", "SDK.HttpError"),
        ("Throttling.User bad value", "Other"),
        ("x" * 65, "Other"),
        ("", "Other"),
        ("key=value", "Other"),
    ],
)
def test_label_values_are_short_tokens(value: str, expected: str) -> None:
    assert metrics.label(value) == expected


def test_throttling_codes() -> None:
    for code in ("Throttling", "Throttling.User", "Throttling.Api", "Rejected.Throttling"):
        assert metrics.THROTTLING.match(code)
    for code in ("ThrottlingX", "InvalidParameter", "OK"):
        assert not metrics.THROTTLING.match(code)


# -- reconciles, Kubernetes, credentials, polls --------------------------------------------------------


def test_reconcile_outcomes_by_action(fresh: metrics.Metrics) -> None:
    def reconcile_create_then_nothing() -> None:
        metrics.planned("Create")
        metrics.planned("Nothing")  # the create succeeded: the plan went on
        metrics.reconcile_done()

    def reconcile_failing_update() -> None:
        metrics.planned("Update")
        metrics.reconcile_failed("InvalidParameter")
        metrics.reconcile_done()  # nothing left to count

    def reconcile_failing_before_a_plan() -> None:
        metrics.reconcile_failed("SecretNotFound")

    for reconcile in (
        reconcile_create_then_nothing,
        reconcile_failing_update,
        reconcile_failing_before_a_plan,
    ):
        contextvars.Context().run(reconcile)  # as each worker task has its own context
    assert fresh.sample("acr_eci_reconciles_total", {"action": "Create", "outcome": "ok"}) == 1
    assert fresh.sample("acr_eci_reconciles_total", {"action": "Nothing", "outcome": "ok"}) == 1
    assert fresh.sample("acr_eci_reconciles_total", {"action": "Update", "outcome": "InvalidParameter"}) == 1
    assert fresh.sample("acr_eci_reconciles_total", {"action": "Update", "outcome": "ok"}) is None
    assert fresh.sample("acr_eci_reconciles_total", {"action": "Prepare", "outcome": "SecretNotFound"}) == 1


class FailingCustom:
    """CustomObjectsApi whose status writes fail with the given HTTP status (or hang)."""

    def __init__(self, status: int | None) -> None:
        self.status = status

    def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.status is None:
            time.sleep(0.5)
            return {}
        raise ApiException(status=self.status, reason="answer")


@pytest.mark.parametrize(("status", "label"), [(500, "500"), (409, "409"), (None, "timeout")])
def test_kubernetes_errors_are_counted_by_operation_and_status(
    fresh: metrics.Metrics, status: int | None, label: str
) -> None:
    kube = Kube(None, timeout=0.05)  # type: ignore[arg-type]
    kube.custom = FailingCustom(status)  # type: ignore[assignment]
    with pytest.raises(KubernetesUnavailable):
        asyncio.run(kube.patch_status("team-a", "web", {"phase": "Running"}))
    assert fresh.sample("acr_eci_kube_api_errors_total", {"operation": "patch_status", "status": label}) == 1


def test_a_gone_object_is_not_a_kubernetes_error(fresh: metrics.Metrics) -> None:
    kube = Kube(None)  # type: ignore[arg-type]
    kube.custom = FailingCustom(404)  # type: ignore[assignment]
    assert asyncio.run(kube.patch_status("team-a", "web", {})) is None
    assert "acr_eci_kube_api_errors_total{" not in fresh.exposition().decode()


def test_credential_refreshes_by_kind_of_source(fresh: metrics.Metrics) -> None:
    metrics.credential_refreshed(KIND_OIDC_ROLE)
    metrics.credential_refreshed(KIND_OIDC_ROLE)
    assert fresh.sample("acr_eci_credential_refreshes_total", {"source": "RRSA_AssumeRoleWithOIDC"}) == 2
    # Credentials count a refresh when they take values other than those they held (not the first ones).
    credentials = StaticCredentials(
        CredentialSource(KIND_ACCESS_KEY, access_key_id=KEY_ID, access_key_secret=SECRET)
    )
    assert fresh.sample("acr_eci_credential_refreshes_total", {"source": "AccessKey"}) is None
    credentials._take(CredentialValues("LTAI-rotated", "rotated-secret-value"), "rotated")
    assert fresh.sample("acr_eci_credential_refreshes_total", {"source": "AccessKey"}) == 1
    text = fresh.exposition().decode()
    assert "rotated-secret-value" not in text and "LTAI-rotated" not in text and SECRET not in text


def test_poll_cycles_and_lag(fresh: metrics.Metrics) -> None:
    class Poller:
        last_cycle = 100.0

        def clock(self) -> float:
            return 107.5

    metrics.poll_cycle(0.2)
    metrics.poll_cycle(0.4)
    assert fresh.sample("acr_eci_poll_cycle_duration_seconds_count") == 2
    assert fresh.sample("acr_eci_poll_cycle_duration_seconds_sum") == pytest.approx(0.6)
    assert fresh.sample("acr_eci_poll_lag_seconds") is None  # no poller watched yet
    metrics.watch(controller_with([]), Poller())
    assert fresh.sample("acr_eci_poll_lag_seconds") == 7.5


# -- gauges from the controller's state ----------------------------------------------------------------


def body(
    name: str,
    status: Mapping[str, Any] | None = None,
    deletion: datetime.datetime | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"namespace": "team-a", "name": name, "uid": f"uid-{name}", "generation": 1}
    if deletion is not None:
        metadata["deletionTimestamp"] = deletion.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": metadata, "spec": {}, "status": dict(status or {})}


def conditions(ready: tuple[str, str], synced: tuple[str, str]) -> list[dict[str, str]]:
    return [
        {"type": "Ready", "status": ready[0], "reason": ready[1]},
        {"type": "Synced", "status": synced[0], "reason": synced[1]},
    ]


def controller_with(entries: list[Entry], active: bool = True) -> Controller:
    controller = Controller(SETTINGS, None, None, None, active=active)  # type: ignore[arg-type]
    controller.entries = {entry.resource.uid: entry for entry in entries}
    return controller


def held_state() -> list[Entry]:
    at_now = datetime.datetime.fromtimestamp(NOW, datetime.UTC)
    running = Entry(
        Resource.from_body(
            body(
                "running",
                {
                    "containerGroupId": "eci-1",
                    "phase": "Running",
                    "conditions": conditions(("True", "Running"), ("True", "InSync")),
                },
            )
        )
    )
    # Status still says Pending; the latest observation says Running: the observation wins.
    observed = Entry(
        Resource.from_body(
            body(
                "observed",
                {
                    "containerGroupId": "eci-2",
                    "phase": "Pending",
                    "conditions": conditions(("False", "Pending"), ("True", "InSync")),
                },
            )
        ),
        observation=Observation("eci-2", "Running", True, False),
    )
    stuck = Entry(
        Resource.from_body(
            body(
                "stuck",
                {
                    "containerGroupId": "eci-3",
                    "phase": "Failed",
                    "conditions": conditions(("Unknown", "ObservationFailed"), ("False", "Forbidden.RAM")),
                },
                deletion=at_now - datetime.timedelta(minutes=10),
            )
        )
    )
    newer_deletion = Entry(
        Resource.from_body(body("leaving", {}, deletion=at_now - datetime.timedelta(minutes=1)))
    )
    fresh_resource = Entry(Resource.from_body(body("new")))
    return [running, observed, stuck, newer_deletion, fresh_resource]


def test_gauges_are_computed_from_what_the_controller_holds(fresh: metrics.Metrics) -> None:
    metrics.watch(controller_with(held_state()), None)

    def groups(phase: str) -> float | None:
        return fresh.sample("acr_eci_groups", {"phase": phase})

    assert groups("Running") == 2
    assert groups("Failed") == 1
    assert groups("Pending") == 0  # every phase is there, 0 when empty
    assert sum(groups(phase) or 0 for phase in metrics.PHASES) == 3  # resources without a group: none
    assert fresh.sample("acr_eci_active") == 1
    assert fresh.sample("acr_eci_resources") == 5
    ready = "acr_eci_resources_by_ready_reason"
    assert fresh.sample(ready, {"status": "True", "reason": "Running"}) == 1
    assert fresh.sample(ready, {"status": "Unknown", "reason": "ObservationFailed"}) == 1
    assert fresh.sample(ready, {"status": "Unknown", "reason": "NoCondition"}) == 2
    synced = "acr_eci_resources_by_synced_reason"
    assert fresh.sample(synced, {"status": "True", "reason": "InSync"}) == 2
    assert fresh.sample(synced, {"status": "False", "reason": "Forbidden.RAM"}) == 1
    assert fresh.sample("acr_eci_resources_deleting") == 2
    assert fresh.sample("acr_eci_oldest_deletion_age_seconds") == 600


def test_gauges_follow_the_state_without_drift(fresh: metrics.Metrics) -> None:
    controller = controller_with(held_state())
    metrics.watch(controller, None)
    assert fresh.sample("acr_eci_resources") == 5
    for uid in list(controller.entries):
        controller.forget(uid)
    assert fresh.sample("acr_eci_resources") == 0
    assert fresh.sample("acr_eci_groups", {"phase": "Running"}) == 0
    assert fresh.sample("acr_eci_oldest_deletion_age_seconds") == 0


def test_a_paused_replica_reports_no_resources(fresh: metrics.Metrics) -> None:
    metrics.watch(controller_with(held_state(), active=False), None)
    assert fresh.sample("acr_eci_active") == 0
    assert fresh.sample("acr_eci_resources") == 0
    assert fresh.sample("acr_eci_groups", {"phase": "Running"}) == 0


def test_no_resource_name_uid_or_group_id_in_any_label(fresh: metrics.Metrics) -> None:
    metrics.watch(controller_with(held_state()), None)
    text = fresh.exposition().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for value in sample.labels.values():
                assert not value.startswith(("eci-", "uid-")), (sample.name, value)
                assert value not in {"running", "observed", "stuck", "leaving", "new", "team-a"}


# -- the endpoint and the settings ---------------------------------------------------------------------


def test_the_endpoint_serves_the_registry(fresh: metrics.Metrics) -> None:
    metrics.watch(controller_with(held_state()), None)
    metrics.eci_answered("DescribeContainerGroups", "ServiceUnavailable", 0.3)
    port = free_port()

    def get(path: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.headers["Content-Type"], answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, "", ""

    async def scrape() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        runner = await metrics.serve("127.0.0.1", port)
        try:
            return await asyncio.to_thread(get, "/metrics"), await asyncio.to_thread(get, "/other")
        finally:
            await runner.cleanup()

    (status, content_type, text), (other, _, _) = asyncio.run(scrape())
    assert status == 200 and content_type.startswith("text/plain")
    assert other == 404
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    code = (("action", "DescribeContainerGroups"), ("code", "ServiceUnavailable"))
    assert samples[("acr_eci_eci_calls_total", code)] == 1
    assert samples[("acr_eci_groups", (("phase", "Running"),))] == 2
    assert samples[("acr_eci_oldest_deletion_age_seconds", ())] == 600
    # Stopped: the port no longer answers.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_the_metrics_address_setting_and_flag() -> None:
    env = {"ALIBABA_CLOUD_REGION_ID": "cn-beijing"}
    assert Settings.from_env(env).metrics_address is None
    assert Settings.from_env({**env, "ACR_ECI_METRICS_ADDRESS": "0.0.0.0:8081"}).metrics_address == (
        "0.0.0.0",
        8081,
    )
    assert Settings.from_env({**env, "ACR_ECI_METRICS_ADDRESS": ":9100"}).metrics_address == ("0.0.0.0", 9100)
    assert Settings.from_env({**env, "ACR_ECI_METRICS_ADDRESS": "[::1]:9100"}).metrics_address == (
        "::1",
        9100,
    )
    for bad in ("8081", "host:", "host:99999", "a b:80", "http://x:80/metrics"):
        with pytest.raises(SettingsError, match="ACR_ECI_METRICS_ADDRESS"):
            Settings.from_env({**env, "ACR_ECI_METRICS_ADDRESS": bad})
    args = build_parser().parse_args(["run", "-A", "--metrics-address", "127.0.0.1:9100"])
    assert args.metrics_address == ("127.0.0.1", 9100)
    assert build_parser().parse_args(["run", "-A"]).metrics_address is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "-A", "--metrics-address", "nowhere"])


def test_metrics_is_a_bottom_layer() -> None:
    """The hooks import metrics.py from eci, kube, poller and controller: it imports none of ours."""
    source = Path(metrics.__file__).read_text()
    imported = {
        node.module or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.level == 0
    } | {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {name for name in imported if name.startswith("acr_eci_operator")}
    assert "kopf" not in {name.split(".")[0] for name in imported}
