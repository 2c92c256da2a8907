"""Monitoring controls (MON-001..005) on recorded Prometheus and Alertmanager API responses (live code
path against a local fake server), on the baseline's config files (static), and the routing logic."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from plancheck.facts.monitoring import Route, parse_alertmanager, parse_rules
from checks.test_monitoring import route_receivers
from tests.audit import run_audit
from tests.unit.rest_fake import FakeRest, child_profile, endpoint, recorded

# MON-009 reads the compose project / docker engine (containers): not part of these API recordings
ARGS = ["-k", "test_monitoring and not grafana and not test_monitoring_component"]
# the alert sink's integration (config/alertmanager/alertmanager.yml) as Alertmanager shows it
WEBHOOK = ("- name: platform-oncall\n  webhook_configs:\n  - send_resolved: true\n"
           "    url: https://alert-sink:9443/alerts\n")


def _routes(**over: Any) -> dict:
    def query(params: dict[str, list[str]]) -> tuple[int, Any]:
        absent = over.get("absent_family")
        q = params.get("query", [""])[0]
        return 200, recorded("prometheus/query_absent.json" if absent and absent in q else "prometheus/query_fresh.json")

    routes: dict[str, Any] = {
        "/-/ready": (200, "Prometheus Server is Ready."),
        "/api/v1/status/buildinfo": (200, recorded("prometheus/buildinfo.json")),
        "/api/v1/targets": (200, over.get("targets", recorded("prometheus/targets.json"))),
        "/api/v1/rules": (200, over.get("rules", recorded("prometheus/rules.json"))),
        "/api/v1/query": query,
        "/api/v2/status": (200, over.get("am") or _with_webhook()),
    }
    return routes


def _audit(tmp_path: Path, **over: Any):  # type: ignore[no-untyped-def]
    with FakeRest(_routes(**over)) as srv:
        prof = child_profile(tmp_path, {"target": {"endpoints": {"prometheus": endpoint(srv.port),
                                                                 "alertmanager": endpoint(srv.port)}}})
        return run_audit(tmp_path, prof, args=ARGS)


def _with_webhook() -> dict:
    am = copy.deepcopy(recorded("alertmanager/status.json"))
    am["config"]["original"] = am["config"]["original"].replace("- name: platform-oncall\n", WEBHOOK)
    return am


def test_recorded_platform_passes(tmp_path: Path) -> None:
    res = _audit(tmp_path)
    assert res.failed == set(), res.items("failed")
    passed = res.controls("passed")
    assert {"MON-001", "MON-002", "MON-003", "MON-004", "MON-005", "MON-008", "MON-010"} <= passed
    gpu = [c for c in res.checks if "DCGM" in c["nodeid"]]
    assert gpu and gpu[0]["outcome"] == "skipped" and "no GPUs" in gpu[0]["message"]


@pytest.mark.breaks("MON-002")
def test_exporter_down_fails_its_job(tmp_path: Path) -> None:
    t = copy.deepcopy(recorded("prometheus/targets.json"))
    for x in t["data"]["activeTargets"]:
        if x["labels"]["job"] == "mariadb":
            x["health"], x["lastError"] = "down", "connection refused"
    res = _audit(tmp_path, targets=t)
    assert res.failed == {"MON-002"}
    [f] = res.items("failed")
    assert "[mariadb]" in f["nodeid"] and "mysqld-exporter:9104 down" in f["message"]


@pytest.mark.breaks("MON-002")
def test_missing_required_target_fails(tmp_path: Path) -> None:
    t = copy.deepcopy(recorded("prometheus/targets.json"))
    t["data"]["activeTargets"] = [x for x in t["data"]["activeTargets"] if x["labels"]["instance"] != "chat-server:8443"]
    res = _audit(tmp_path, targets=t)
    assert res.failed == {"MON-002"} and "chat-server" in res.items("failed")[0]["message"]


@pytest.mark.breaks("MON-003")
def test_stale_metric_fails(tmp_path: Path) -> None:
    res = _audit(tmp_path, absent_family="app_concurrent_users")
    assert res.failed == {"MON-003"}
    [f] = res.items("failed")
    assert "app_concurrent_users" in f["nodeid"] and "no sample" in f["message"]


@pytest.mark.breaks("MON-004")
def test_missing_rule_fails(tmp_path: Path) -> None:
    r = copy.deepcopy(recorded("prometheus/rules.json"))
    r["data"]["groups"] = [g for g in r["data"]["groups"] if g["name"] != "applications"]
    res = _audit(tmp_path, rules=r)
    assert res.failed == {"MON-004"}
    assert sorted(c["nodeid"].split("[")[-1] for c in res.items("failed")) == ["HighApiLatency]", "HighErrorRate]"]


@pytest.mark.breaks("MON-005")
def test_alertmanager_without_receivers_fails(tmp_path: Path) -> None:
    am = copy.deepcopy(recorded("alertmanager/status.json"))
    am["config"]["original"] = "route:\n  receiver: nobody\nreceivers: []\n"
    res = _audit(tmp_path, am=am)
    assert res.failed == {"MON-005"}


@pytest.mark.breaks("MON-010")
def test_receiver_without_integration_fails(tmp_path: Path) -> None:
    """Recorded before the alert sink: the on-call receiver had no integration (alerts went nowhere)."""
    res = _audit(tmp_path, am=recorded("alertmanager/status.json"))
    assert res.failed == {"MON-010"}
    assert "platform-oncall (no integration)" in res.items("failed")[0]["message"]


@pytest.mark.breaks("MON-008")
def test_metric_from_an_unconfigured_job_fails(tmp_path: Path) -> None:
    """A planned metric names a job the desired state's prometheus.yml does not define."""
    prof = child_profile(tmp_path, {"monitoring": {"metrics": {"application": [
        {"title": "처리량", "family": "http_requests_total", "job": "app"}]}}})
    res = run_audit(tmp_path, prof, static=True, args=["-k", "test_monitoring"])
    assert res.failed == {"MON-008"}
    assert "no such job" in res.items("failed")[0]["message"]


@pytest.mark.breaks("MON-009")
def test_monitoring_tool_not_deployed_fails(tmp_path: Path) -> None:
    prof = child_profile(tmp_path, {"monitoring": {"components": ["prometheus", "grafana", "alertmanager", "thanos"]}})
    res = run_audit(tmp_path, prof, static=True, args=["-k", "test_monitoring"])
    assert res.failed == {"MON-009"} and "[thanos]" in res.items("failed")[0]["nodeid"]


def test_gpu_prometheus_config_extends_the_baseline() -> None:
    """prometheus.gpu.yml (prod, mounted by compose.gpu.yaml) is prometheus.yml plus the dcgm job only."""
    import yaml

    from tests.audit import ROOT

    cfg = ROOT / "baseline/config/prometheus"
    base, gpu = (yaml.safe_load((cfg / n).read_text()) for n in ("prometheus.yml", "prometheus.gpu.yml"))
    extra = gpu.pop("scrape_configs")
    assert gpu == {k: v for k, v in base.items() if k != "scrape_configs"}
    assert extra[:-1] == base["scrape_configs"] and extra[-1]["job_name"] == "dcgm"


def test_prometheus_down_is_an_error(tmp_path: Path) -> None:
    with FakeRest({}) as srv:
        prof = child_profile(tmp_path, {"target": {"endpoints": {"prometheus": endpoint(srv.port)}}})
        res = run_audit(tmp_path, prof, args=["-k", "test_prometheus_up"], allow_all_errors=True)
    [c] = res.checks
    assert c["outcome"] == "error" and "HTTP 404" in c["message"]


def test_static_baseline_config_passes(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", static=True, args=["-k", "test_monitoring and not grafana"])
    assert res.failed == set(), res.items("failed")
    assert {"MON-002", "MON-004", "MON-005", "MON-008", "MON-009", "MON-010"} <= res.controls("passed")


def test_routing() -> None:
    root = Route(receiver="ops", routes=[Route(receiver="pager", matchers=['severity="critical"']),
                                         Route(receiver="db", matchers=['alertname=~"MariaDB.*"'])])
    assert route_receivers(root, {"alertname": "X", "severity": "critical"}) == ["pager"]
    assert route_receivers(root, {"alertname": "MariaDBDown", "severity": "warning"}) == ["db"]
    assert route_receivers(root, {"alertname": "X", "severity": "warning"}) == ["ops"]


def test_parse_alertmanager_and_rules() -> None:
    am = parse_alertmanager(recorded("alertmanager/status.json")["config"]["original"], "status")
    assert am.receivers == {"platform-oncall": []} and am.route and am.route.routes[0].matchers == ['severity="critical"']
    rules = parse_rules("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    labels: {severity: critical}\n"
                        "  - record: r\n    expr: up\n", "f.yml")
    assert list(rules) == ["A"] and rules["A"].labels == {"severity": "critical"}


@pytest.mark.parametrize("bad", ["route: [", "receivers: {"])
def test_bad_yaml_is_one_line(bad: str) -> None:
    from plancheck.facts.base import FactError

    with pytest.raises(FactError) as e:
        parse_alertmanager(bad, "am.yml")
    assert "\n" not in str(e.value)
