"""The chart's metrics parts: the --metrics-address flag and port, the metrics Service, the
ServiceMonitor, the PrometheusRule (its alerts checked by Debian's promtool, syntax and behaviour) and the
Grafana dashboard ConfigMap, each behind its toggle."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from acr_eci_operator import metrics
from tests.chart.test_chart import (
    CHART_DIR,
    FULLNAME,
    RELEASE_NAMESPACE,
    REPO_ROOT,
    HelmRun,
    Manifest,
    Template,
    ValuesWriter,
    find,
    only,
    operator_container,
)

PROMTOOL = Path("/usr/bin/promtool")
DASHBOARD = "acr-eci-operator.json"
ALERTS = {
    "AcrEciObservationFailed",
    "AcrEciThrottled",
    "AcrEciDeletionStuck",
    "AcrEciErrorRate",
    "AcrEciPollStalled",
}
ALL_ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    }
}


@pytest.fixture(scope="session")
def promtool() -> Path:
    if not PROMTOOL.is_file():
        pytest.fail(f"{PROMTOOL} is missing: `make prometheus` (scripts/install-prometheus.sh) installs it")
    return PROMTOOL


def run_promtool(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


def rule_groups(manifest: Manifest) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = only(manifest, "PrometheusRule")["spec"]["groups"]
    return groups


def alerts(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups(manifest) for rule in group["rules"]}


def exported_names() -> set[str]:
    """Every sample name the operator exports, with each labelled metric touched once."""
    fresh = metrics.Metrics(process=False)
    before = metrics.current()
    metrics.install(fresh)
    try:

        class Poller:
            last_cycle = 0.0

            def clock(self) -> float:
                return 1.0

        class Controller:
            active = True
            entries: dict[str, Any] = {}

        metrics.watch(Controller(), Poller())
        metrics.eci_answered("DescribeContainerGroups", "Throttling", 0.1)
        with metrics.rate_limit_wait("describe"):
            pass
        metrics.poll_cycle(0.1)
        metrics.planned("Create")
        metrics.reconcile_done()
        metrics.kube_error("get", 500)
        metrics.credential_refreshed("oidc_role_arn")
        text = fresh.exposition().decode()
    finally:
        metrics.install(before)
    families = list(text_string_to_metric_families(text))
    return {family.name for family in families} | {
        sample.name for family in families for sample in family.samples
    }


def names_in(expr: str) -> set[str]:
    return set(re.findall(r"\bacr_eci_[a-z_]+\b", expr))


# -- the flag, the port, the Service ---------------------------------------------------------------------


def test_metrics_are_on_by_default_with_a_port_and_a_service(template: Template) -> None:
    manifest = template()
    container = operator_container(manifest)
    args = container["args"]
    assert args[args.index("--metrics-address") + 1] == "0.0.0.0:8081"
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    service = only(manifest, "Service")
    assert service["metadata"]["name"] == f"{FULLNAME}-metrics"
    assert service["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = only(manifest, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert find(manifest, kind) == []
    assert not [cm for cm in find(manifest, "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]]


def test_a_custom_port_reaches_the_flag_the_container_and_the_service(template: Template) -> None:
    manifest = template(
        {"metrics": {"port": 9100, "service": {"annotations": {"example.com/team": "platform"}}}}
    )
    container = operator_container(manifest)
    args = container["args"]
    assert args[args.index("--metrics-address") + 1] == "0.0.0.0:9100"
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
    service = only(manifest, "Service")
    assert service["spec"]["ports"][0]["port"] == 9100
    assert service["metadata"]["annotations"] == {"example.com/team": "platform"}


def test_metrics_disabled_turns_everything_off(template: Template) -> None:
    values = {"metrics": {**ALL_ON["metrics"], "enabled": False}}
    manifest = template(values)
    container = operator_container(manifest)
    assert "--metrics-address" not in container["args"]
    assert [port["name"] for port in container["ports"]] == ["health"]
    for kind in ("Service", "ServiceMonitor", "PrometheusRule"):
        assert find(manifest, kind) == [], kind
    assert not [cm for cm in find(manifest, "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]]


def test_the_operator_parses_the_rendered_metrics_flag(template: Template) -> None:
    from acr_eci_operator.cli import build_parser

    args = build_parser().parse_args(["run", *operator_container(template())["args"]])
    assert args.metrics_address == ("0.0.0.0", 8081)


# -- ServiceMonitor ------------------------------------------------------------------------------------------


def test_service_monitor_selects_the_metrics_service(template: Template) -> None:
    values = {
        "metrics": {
            "serviceMonitor": {
                "enabled": True,
                "labels": {"release": "kube-prometheus-stack"},
                "interval": "15s",
                "scrapeTimeout": "5s",
            }
        }
    }
    manifest = template(values)
    monitor = only(manifest, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = only(manifest, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
    ]
    assert service["spec"]["ports"][0]["name"] == "metrics"


# -- PrometheusRule ------------------------------------------------------------------------------------------


def test_prometheus_rule_has_the_alerts_with_the_thresholds_given(template: Template) -> None:
    values = {
        "eci": {"pollIntervalSeconds": 20},
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "kube-prometheus-stack"},
                "severity": "critical",
                "stuckDeletionMinutes": 30,
                "throttlingRatio": 0.1,
                "errorRatio": 0.5,
                "observationFailedFor": "20m",
                "pollStalledIntervals": 4,
            }
        },
    }
    manifest = template(values)
    rule = only(manifest, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    found = alerts(manifest)
    assert set(found) == ALERTS
    assert all(alert["labels"]["severity"] == "critical" for alert in found.values())
    assert found["AcrEciDeletionStuck"]["expr"].endswith("> 1800")
    assert found["AcrEciThrottled"]["expr"].endswith("> 0.1")
    assert found["AcrEciErrorRate"]["expr"].endswith("> 0.5")
    assert found["AcrEciObservationFailed"]["for"] == "20m"
    assert found["AcrEciPollStalled"]["expr"].endswith("> 80")
    assert 'reason="ObservationFailed"' in found["AcrEciObservationFailed"]["expr"]


def test_alert_expressions_use_only_exported_metrics(template: Template) -> None:
    exported = exported_names()
    for name, alert in alerts(template(ALL_ON)).items():
        used = names_in(alert["expr"])
        assert used, name
        assert used <= exported, f"{name} uses {used - exported}"


def test_promtool_accepts_the_rules(template: Template, promtool: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(template(ALL_ON))}))
    result = run_promtool(promtool, "check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_the_alerts_fire_on_the_series_they_watch(template: Template, promtool: Path, tmp_path: Path) -> None:
    """promtool's rule unit tests: each alert fires on a series that should fire it, and only then."""
    # The annotations are templates of $value (promtool check rules parses them): compared here are the
    # alerts' labels only.
    # The series below assume a full poll every 15 s (PollStalled fires past 4 such intervals).
    groups = rule_groups(template({**ALL_ON, "eci": {"pollIntervalSeconds": 15}}))
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    job = {"job": "op", "namespace": "acr-eci-system"}
    labels = ",".join(f'{key}="{value}"' for key, value in job.items())

    def fired() -> list[dict[str, Any]]:
        return [{"exp_labels": {"severity": "warning", **job}}]

    tests = [
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": f'acr_eci_resources_by_ready_reason{{reason="ObservationFailed",status="Unknown",{labels}}}',
                    "values": "0 0 1x30",
                },
                # Calls: 10/s, 1/s of them throttled (10 % > 5 %), and 3/s failed (30 % > 20 %).
                {
                    "series": f'acr_eci_eci_calls_total{{action="CreateContainerGroup",code="OK",{labels}}}',
                    "values": "0+420x40",
                },
                {
                    "series": f'acr_eci_eci_calls_total{{action="CreateContainerGroup",code="Throttling.User",{labels}}}',
                    "values": "0+60x40",
                },
                {
                    "series": f'acr_eci_eci_calls_total{{action="CreateContainerGroup",code="InvalidParameter",{labels}}}',
                    "values": "0+120x40",
                },
                {
                    "series": f'acr_eci_eci_throttled_calls_total{{action="CreateContainerGroup",{labels}}}',
                    "values": "0+60x40",
                },
                # A deletion waiting since minute 0: 900 s is passed at minute 15, plus 1m of `for`.
                {"series": f"acr_eci_oldest_deletion_age_seconds{{{labels}}}", "values": "0+60x40"},
                # The poll loop stops at minute 10 (poll interval 15 s: 45 s is the limit, plus 5m of `for`).
                {"series": f"acr_eci_poll_lag_seconds{{{labels}}}", "values": "1x10 60+60x30"},
            ],
            "alert_rule_test": [
                {"eval_time": "11m", "alertname": "AcrEciObservationFailed", "exp_alerts": []},
                {"eval_time": "13m", "alertname": "AcrEciObservationFailed", "exp_alerts": fired()},
                {"eval_time": "15m", "alertname": "AcrEciThrottled", "exp_alerts": []},
                {"eval_time": "25m", "alertname": "AcrEciThrottled", "exp_alerts": fired()},
                {"eval_time": "9m", "alertname": "AcrEciErrorRate", "exp_alerts": []},
                {"eval_time": "20m", "alertname": "AcrEciErrorRate", "exp_alerts": fired()},
                {"eval_time": "15m", "alertname": "AcrEciDeletionStuck", "exp_alerts": []},
                {"eval_time": "17m", "alertname": "AcrEciDeletionStuck", "exp_alerts": fired()},
                {"eval_time": "14m", "alertname": "AcrEciPollStalled", "exp_alerts": []},
                {"eval_time": "17m", "alertname": "AcrEciPollStalled", "exp_alerts": fired()},
            ],
        },
        {
            # A healthy operator: a few throttled and failed calls, no deletion, polls on time: silence.
            "interval": "1m",
            "input_series": [
                {
                    "series": f'acr_eci_resources_by_ready_reason{{reason="Running",status="True",{labels}}}',
                    "values": "3x40",
                },
                {
                    "series": f'acr_eci_eci_calls_total{{action="DescribeContainerGroups",code="OK",{labels}}}',
                    "values": "0+600x40",
                },
                {
                    "series": f'acr_eci_eci_calls_total{{action="DescribeContainerGroups",code="Throttling",{labels}}}',
                    "values": "0+6x40",
                },
                {
                    "series": f'acr_eci_eci_throttled_calls_total{{action="DescribeContainerGroups",{labels}}}',
                    "values": "0+6x40",
                },
                {"series": f"acr_eci_oldest_deletion_age_seconds{{{labels}}}", "values": "0x40"},
                {"series": f"acr_eci_poll_lag_seconds{{{labels}}}", "values": "5x40"},
            ],
            "alert_rule_test": [
                {"eval_time": "35m", "alertname": alert, "exp_alerts": []} for alert in sorted(ALERTS)
            ],
        },
    ]
    tests_file = tmp_path / "tests.yaml"
    tests_file.write_text(
        yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests})
    )
    result = run_promtool(promtool, "test", "rules", tests_file)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the dashboard -------------------------------------------------------------------------------------------


def test_dashboard_config_map_carries_the_repository_dashboard(template: Template) -> None:
    values = {
        "metrics": {"dashboard": {"enabled": True, "namespace": "monitoring", "labels": {"team": "platform"}}}
    }
    manifest = template(values)
    (config_map,) = [
        cm for cm in find(manifest, "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["labels"]["team"] == "platform"
    assert config_map["metadata"]["namespace"] == "monitoring"
    repository = (REPO_ROOT / "dashboards" / DASHBOARD).read_text()
    assert json.loads(config_map["data"][DASHBOARD]) == json.loads(repository)
    default_namespace = template({"metrics": {"dashboard": {"enabled": True}}})
    (config_map,) = [
        cm for cm in find(default_namespace, "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]
    ]
    assert config_map["metadata"]["namespace"] == RELEASE_NAMESPACE


def test_chart_dashboard_is_identical_to_the_repository_dashboard() -> None:
    repository = REPO_ROOT / "dashboards" / DASHBOARD
    chart = CHART_DIR / "dashboards" / DASHBOARD
    assert chart.read_bytes() == repository.read_bytes(), f"{chart} differs from {repository}: copy it"


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((REPO_ROOT / "dashboards" / DASHBOARD).read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_dashboard_queries_use_only_exported_metrics() -> None:
    exported = exported_names()
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    for title, expr in expressions:
        used = names_in(expr)
        assert used and used <= exported, f"{title}: {used - exported}"


def test_dashboard_queries_are_valid_promql(promtool: Path, tmp_path: Path) -> None:
    """Each query, with Grafana's variables given values, as a recording rule that promtool parses."""
    rules = [
        {
            "record": f"dashboard:query_{index}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$job", ".*"),
        }
        for index, (_, expr) in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# -- values.schema.json --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"metrics": {"port": 8080}}, "/metrics/port"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"metrics": {"serviceMonitor": {"interval": "30 seconds"}}}, "/metrics/serviceMonitor/interval"),
        ({"metrics": {"prometheusRule": {"throttlingRatio": 2}}}, "/metrics/prometheusRule/throttlingRatio"),
        ({"metrics": {"prometheusRule": {"stuckDeletionMinutes": 0}}}, "stuckDeletionMinutes"),
        ({"metrics": {"dashboard": {"enable": True}}}, "enable"),
    ],
)
def test_schema_rejects_bad_metrics_values(
    run_helm: HelmRun, write_values: ValuesWriter, values: dict[str, Any], field: str
) -> None:
    result = run_helm("template", "rel", CHART_DIR, "-f", write_values(values))
    assert result.returncode != 0, f"accepted {values}"
    assert field in result.stderr, result.stderr


def test_lint_strict_with_everything_on(run_helm: HelmRun, write_values: ValuesWriter) -> None:
    result = run_helm("lint", "--strict", CHART_DIR, "-f", write_values(ALL_ON))
    assert result.returncode == 0, result.stdout + result.stderr
