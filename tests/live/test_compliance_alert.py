"""The audit's results page through the platform's own monitoring (5.1 알림 applied to compliance):
a failing control written with --prom-textfile into node-exporter's textfile directory is scraped by
the baseline's Prometheus, whose `ComplianceCheckFailingHigh` rule picks it up; after the fix and a
new audit the series goes back to 0. The rule waits `for: 5m` before it fires (and Alertmanager
then delivers it like any alert: MON-011's drill proves that path), so this test stops at the rule
being active for exactly that control; bench/compliance_alert_demo.py waits the five minutes."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from plancheck.facts.base import Context, FactStore
from plancheck.facts.httpapi import Api
from plancheck.profile.loader import load_profile
from tests.audit import ROOT, AuditResult, run_audit
from tests.live.conftest import DOCKER, container, sh, sql

TEXTFILE = ROOT / "baseline/.textfile/plancheck.prom"
RULE = "ComplianceCheckFailingHigh"


def _compliance_alerts() -> list[dict[str, Any]]:
    ctx = Context(profile=load_profile("baseline", ROOT / "profiles"), root=ROOT, mode="live")
    FactStore(ctx)  # resolves service:prometheus through the containers source
    prom = Api(ctx, "prometheus")
    try:
        doc = prom.get("/api/v1/alerts")
    finally:
        prom.close()
    return [a for a in (doc.get("data") or {}).get("alerts", []) if a["labels"].get("alertname") == RULE]


def _wait_for(pred: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    alerts = _compliance_alerts()
    while not pred(alerts) and time.monotonic() < deadline:
        time.sleep(3)
        alerts = _compliance_alerts()
    return alerts


def test_failing_control_becomes_a_compliance_alert(baseline_audit: Callable[..., AuditResult],
                                                    tmp_path: Path) -> None:
    assert TEXTFILE.parent.is_dir(), f"{TEXTFILE.parent} missing: deploy with baseline/scripts/up.sh"
    textfile = f"--prom-textfile={TEXTFILE}"
    sql("SET GLOBAL max_connections=10")
    try:
        broken = baseline_audit("-k", "test_mariadb", textfile)
        assert "DB-002" in broken.failed, broken.out
        alerts = _wait_for(lambda a: any(x["labels"].get("control") == "DB-002" for x in a))
        controls = {a["labels"].get("control") for a in alerts}
        assert "DB-002" in controls, f"no {RULE} for DB-002 within 120 s: {alerts}"
        db = [a for a in alerts if a["labels"].get("control") == "DB-002"][0]
        assert db["state"] in ("pending", "firing") and db["labels"].get("profile") == "baseline"
        assert controls == {"DB-002"}, f"other controls alerting: {sorted(controls)}"
    finally:
        sql("SET GLOBAL max_connections=1000")
    healed = baseline_audit("-k", "test_mariadb", textfile)
    assert healed.failed == set(), healed.out
    alerts = _wait_for(lambda a: not a)
    assert not alerts, f"{RULE} still active after the fix: {alerts}"


@pytest.mark.breaks("MON-011")
def test_alert_drill_sees_an_undelivered_alert(baseline_audit: Callable[..., AuditResult], tmp_path: Path) -> None:
    """Alertmanager cannot reach its webhook (the path between them dropped in DOCKER-USER): the
    posted test alert never arrives, the sink still answers, and exactly MON-011 fails."""
    profile = tmp_path / "drill.yaml"
    profile.write_text(yaml.safe_dump({"extends": str(ROOT / "profiles/baseline.yaml"),
                                       "monitoring": {"alert_drill": {"wait_s": 15}}}))
    ip = {s: sh(DOCKER, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                container(s)).split()[0] for s in ("alertmanager", "alert-sink")}
    rule = ["DOCKER-USER", "-s", ip["alertmanager"], "-d", ip["alert-sink"], "-p", "tcp", "--dport", "9443",
            "-j", "REJECT", "--reject-with", "tcp-reset"]
    sh("iptables", "-I", *rule)
    try:
        broken = run_audit(tmp_path / "broken", str(profile), args=["--alert-drill", "-k", "test_alert_drill"])
        assert broken.failed == {"MON-011"} and broken.errors == set(), broken.out
    finally:
        sh("iptables", "-D", *rule)
    healed = run_audit(tmp_path / "healed", str(profile), args=["--alert-drill", "-k", "test_alert_drill"])
    assert healed.passed == {"MON-011"} and healed.failed == set(), healed.out
