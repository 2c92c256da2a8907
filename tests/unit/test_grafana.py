"""MON-006/MON-007 (Grafana data source and dashboards) against RECORDED REST responses: Grafana
cannot be installed on the reference machines, so this is the only place the source runs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest

from plancheck.facts.grafana import NOT_CONFIGURED, parse_dashboards, parse_datasources
from tests.audit import run_audit
from tests.unit.rest_fake import FakeRest, child_profile, endpoint, recorded

ARGS = ["-k", "test_grafana"]
UID = recorded("grafana/datasources.json")[0]["uid"]


def _profile(tmp_path: Path, port: int, dashboards: Optional[list[str]] = None) -> str:
    return child_profile(tmp_path, {
        "target": {"endpoints": {"grafana": {**endpoint(port), "credential": {"user": "plancheck",
                                                                               "password_env": "PLANCHECK_GRAFANA_PW"}}}},
        "monitoring": {"grafana": {"endpoint": "grafana", "dashboards": dashboards or ["Node Exporter Full"]}}})


def _routes(**over: Any) -> dict:
    routes = {"/api/health": (200, recorded("grafana/health.json")),
              "/api/datasources": (200, recorded("grafana/datasources.json")),
              f"/api/datasources/uid/{UID}/health": (200, recorded("grafana/datasource_health_ok.json")),
              "/api/search": (200, recorded("grafana/search.json"))}
    routes.update(over)
    return routes


def test_parse_recorded() -> None:
    ds = parse_datasources(recorded("grafana/datasources.json"))
    assert [(d.name, d.type) for d in ds] == [("Prometheus", "prometheus")]
    assert parse_dashboards(recorded("grafana/search.json")) == ["Applications", "Node Exporter Full"]


def test_grafana_pass(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("PLANCHECK_GRAFANA_PW", "x")
    with FakeRest(_routes()) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    assert {c["control"]: c["outcome"] for c in res.checks} == {"MON-006": "passed", "MON-007": "passed"}
    assert "/api/search?type=dash-db" in srv.requests
    assert NOT_CONFIGURED not in res.doc["run"]["notes"]


@pytest.mark.breaks("MON-006")
def test_unhealthy_datasource_fails(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("PLANCHECK_GRAFANA_PW", "x")
    routes = _routes(**{f"/api/datasources/uid/{UID}/health": (400, recorded("grafana/datasource_health_error.json"))})
    with FakeRest(routes) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    assert res.failed == {"MON-006"}
    assert "unhealthy prometheus data sources" in res.items("failed")[0]["message"]


@pytest.mark.breaks("MON-006")
def test_no_prometheus_datasource_fails(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("PLANCHECK_GRAFANA_PW", "x")
    ds = recorded("grafana/datasources.json")
    ds[0]["type"] = "loki"
    with FakeRest(_routes(**{"/api/datasources": (200, ds)})) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    assert res.failed == {"MON-006"}


@pytest.mark.breaks("MON-007")
def test_missing_dashboard_fails(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("PLANCHECK_GRAFANA_PW", "x")
    with FakeRest(_routes()) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port, ["Node Exporter Full", "GPU"]), args=ARGS)
    assert res.failed == {"MON-007"} and "GPU" in res.items("failed")[0]["message"]


def test_no_endpoint_is_skipped_and_noted(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", args=ARGS)
    assert {c["outcome"] for c in res.checks} == {"skipped"}
    assert NOT_CONFIGURED in res.doc["run"]["notes"]
