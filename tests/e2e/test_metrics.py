"""The operator's metrics end to end: the real operator process with --metrics-address, scraped by a real
Prometheus (Debian's, started and stopped by pid) that also evaluates the chart's alert rules; and the
/metrics endpoint read directly after a known sequence of calls, failures and a stuck deletion."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from eci_emulator.pytest_plugin import EmulatorFixture
from local_control_plane.cluster import free_port
from local_control_plane.prometheus import JOB, LocalPrometheus
from tests.e2e.conftest import REPO, Cluster, OperatorProcess, acg, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

NGINX = "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"
ACR = [{"instanceId": "cri-nwj395hgf6f3abcd"}]
StartOperator = Callable[..., OperatorProcess]
StartPrometheus = Callable[..., LocalPrometheus]


def web() -> list[dict[str, Any]]:
    return [{"name": "web", "image": NGINX}]


@pytest.fixture
def start_prometheus() -> Iterator[StartPrometheus]:
    """Start Prometheus processes for the test; each is stopped by pid afterwards."""
    started: list[LocalPrometheus] = []

    def start(targets: Sequence[str], rule_files: Sequence[Path] = ()) -> LocalPrometheus:
        prometheus = LocalPrometheus(targets, rule_files)
        started.append(prometheus)
        return prometheus.start()

    yield start
    for prometheus in started:
        prometheus.stop()
    for prometheus in started:
        assert prometheus.process is None


def chart_rules(path: Path) -> Path:
    """The chart's PrometheusRule (for a 0.5 s poll interval) as a Prometheus rule file."""
    tools = subprocess.run(
        ["bash", "scripts/fetch-tools.sh"], cwd=REPO, capture_output=True, text=True, check=True
    )
    helm = Path(tools.stdout.strip().splitlines()[-1]) / "helm"
    values = path.with_suffix(".values.yaml")
    values.write_text(
        yaml.safe_dump(
            {"metrics": {"prometheusRule": {"enabled": True}}, "eci": {"pollIntervalSeconds": 0.5}}
        )
    )
    rendered = subprocess.run(
        [
            str(helm),
            "template",
            "rel",
            str(REPO / "charts" / "acr-eci-operator"),
            "-f",
            str(values),
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rule = yaml.safe_load(rendered.stdout)
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def value(result: list[dict[str, Any]]) -> float | None:
    """The value of a one-sample vector (None when empty)."""
    if not result:
        return None
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in result}


def test_prometheus_counts_running_groups_and_eci_calls(
    cluster: Cluster,
    eci_emulator: EmulatorFixture,
    start_operator: StartOperator,
    start_prometheus: StartPrometheus,
    tmp_path: Path,
) -> None:
    port = free_port()
    # The first create is throttled (retried within the call): one Throttling.User, then OK.
    eci_emulator.admin.set_fault(
        "CreateContainerGroup", error_code="Throttling.User", http_status=400, times=1
    )
    start_operator("--metrics-address", f"127.0.0.1:{port}")
    prometheus = start_prometheus([f"127.0.0.1:{port}"], [chart_rules(tmp_path / "rules.yaml")])
    for name in ("web-a", "web-b"):
        cluster.apply(acg(name, web(), acrRegistryInfos=ACR))
    for name in ("web-a", "web-b"):
        wait_for(lambda name=name: cluster.status(name).get("phase") == "Running", what=f"{name} Running")

    wait_for(lambda: value(prometheus.query(f'up{{job="{JOB}"}}')) == 1, what="the target up")
    wait_for(
        lambda: value(prometheus.query('sum(acr_eci_groups{phase="Running"})')) == 2,
        what="2 Running groups in Prometheus",
    )
    assert value(prometheus.query("sum(acr_eci_resources)")) == 2
    assert value(prometheus.query('sum(acr_eci_resources_by_ready_reason{status="True"})')) == 2

    calls = by(prometheus.query("sum by (action) (acr_eci_eci_calls_total)"), "action")
    assert {"CreateContainerGroup", "DescribeContainerGroups"} <= set(calls), calls
    creates = by(prometheus.query('acr_eci_eci_calls_total{action="CreateContainerGroup"}'), "code")
    assert creates == {"Throttling.User": 1, "OK": 2}
    throttled = 'acr_eci_eci_throttled_calls_total{action="CreateContainerGroup"}'
    assert value(prometheus.query(throttled)) == 1
    assert value(prometheus.query('acr_eci_reconciles_total{action="Create",outcome="ok"}')) == 2
    assert value(prometheus.query("acr_eci_active")) == 1
    lag = value(prometheus.query("acr_eci_poll_lag_seconds"))
    assert lag is not None and lag < 5
    waits = by(prometheus.query("acr_eci_rate_limit_wait_seconds_count"), "bucket")
    assert waits["mutate"] >= 3 and waits["describe"] >= 1

    # The chart's alert rules load and evaluate against the real series, and none fires.
    def evaluated() -> list[dict[str, Any]]:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        done = all(not rule.get("lastEvaluation", "").startswith("0001") for rule in rules)
        return rules if rules and done else []

    rules = wait_for(evaluated, what="the alert rules evaluated")
    assert {rule["name"] for rule in rules} == {
        "AcrEciObservationFailed",
        "AcrEciThrottled",
        "AcrEciDeletionStuck",
        "AcrEciErrorRate",
        "AcrEciPollStalled",
    }
    assert all(rule["health"] == "ok" for rule in rules), rules
    assert prometheus.query('ALERTS{alertstate="firing"}') == []


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(port: int, name: str, **labels: str) -> float | None:
    return scrape(port).get((name, tuple(sorted(labels.items()))))


def test_metrics_endpoint_after_a_known_sequence(
    cluster: Cluster, eci_emulator: EmulatorFixture, start_operator: StartOperator
) -> None:
    port = free_port()
    start_operator(ACR_ECI_METRICS_ADDRESS=f"127.0.0.1:{port}", ACR_ECI_RETRY_CAP_SECONDS="1")
    cluster.apply(acg("web", web(), acrRegistryInfos=ACR))
    wait_for(lambda: cluster.status("web").get("phase") == "Running", what="Running")
    wait_for(lambda: sample(port, "acr_eci_groups", phase="Running") == 1, what="1 Running group")
    assert sample(port, "acr_eci_eci_calls_total", action="CreateContainerGroup", code="OK") == 1
    assert sample(port, "acr_eci_resources") == 1
    assert sample(port, "acr_eci_resources_by_ready_reason", status="True", reason="Running") == 1
    assert sample(port, "acr_eci_resources_deleting") == 0

    # ECI refuses every Describe (a terminal code): polls fail, Ready turns Unknown (ObservationFailed).
    for action in ("DescribeContainerGroups", "DescribeContainerGroupStatus"):
        eci_emulator.admin.set_fault(action, error_code="Forbidden.RAM", http_status=403)
    wait_for(
        lambda: (
            sample(port, "acr_eci_resources_by_ready_reason", status="Unknown", reason="ObservationFailed")
            == 1
        ),
        what="ObservationFailed counted",
    )
    listing = "DescribeContainerGroupStatus"
    failed = sample(port, "acr_eci_eci_calls_total", action=listing, code="Forbidden.RAM")
    assert failed is not None and failed >= 3
    assert sample(port, "acr_eci_eci_throttled_calls_total", action=listing) is None

    # Deleting now is stuck: the finalizer's tag search is refused too.
    cluster.delete("web")
    wait_for(
        lambda: (
            (sample(port, "acr_eci_reconciles_total", action="Finalize", outcome="Forbidden.RAM") or 0) >= 2
        ),
        what="failed finalize attempts counted",
    )
    assert sample(port, "acr_eci_resources_deleting") == 1
    age = sample(port, "acr_eci_oldest_deletion_age_seconds")
    assert age is not None and age > 0
    assert sample(port, "acr_eci_resources_by_synced_reason", status="False", reason="Forbidden.RAM") == 1

    # ECI answers again: the deletion completes and every gauge follows.
    eci_emulator.admin.clear_faults()
    wait_for(lambda: cluster.get("web") is None, what="the resource gone")
    wait_for(lambda: sample(port, "acr_eci_resources") == 0, what="no resource held")
    assert sample(port, "acr_eci_resources_deleting") == 0
    assert sample(port, "acr_eci_oldest_deletion_age_seconds") == 0
    assert sample(port, "acr_eci_groups", phase="Running") == 0
    assert sample(port, "acr_eci_eci_calls_total", action="DeleteContainerGroup", code="OK") == 1
    assert sample(port, "acr_eci_reconciles_total", action="Finalize", outcome="ok") == 1
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for secret in (eci_emulator.access_key_secret, eci_emulator.access_key_id, cluster.namespace, '="web"'):
        assert secret not in text


def test_a_busy_metrics_port_stops_the_operator_with_a_clear_message(start_operator: StartOperator) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AssertionError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            start_operator("--metrics-address", f"127.0.0.1:{port}")
