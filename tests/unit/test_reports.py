"""Reports, waivers and gating, over a run of the profile self-consistency controls (which need no
platform): results.json, junit.xml and report.html agree, also under pytest-xdist."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.audit import ROOT, run_audit

PLAN_FAILURES = {"PLAN-001", "PLAN-003", "PLAN-004"}
ONLY_PLAN = ["-k", "test_allocation"]


def _agree(doc: dict, reports: Path) -> None:
    counts = doc["summary"]
    assert counts["total"] == len(doc["checks"]) == sum(counts[k] for k in
                                                         ("passed", "failed", "skipped", "waived", "error"))
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) == counts["total"]
    assert int(suite.get("failures")) == counts["failed"]
    assert int(suite.get("errors")) == counts["error"]
    assert int(suite.get("skipped")) == counts["skipped"] + counts["waived"]
    html = (reports / "report.html").read_text()
    assert f"<b>{counts['total']}</b> checks" in html
    for c in doc["checks"]:
        case = suite.find(f"testcase[@name='{c['control']} {c['nodeid'].split('::', 1)[1]}']")
        props = {p.get("name"): p.get("value") for p in case.find("properties")}
        assert props["control"] == c["control"] and props["severity"] == c["severity"]
        assert props["expected"] == c["expected"] and props["found"] == c["found"]


def test_failures_one_line_each_and_unexpected_tracebacks_in_full(tmp_path: Path, capsys: Any) -> None:
    """Without --tb the audit lists failures itself (pytest's own section is quadratic in the number
    of checks); an exception no check expected (here: a bug in setup) keeps its traceback."""
    class Bug:
        def pytest_runtest_setup(self, item: Any) -> None:
            if item.name == "test_containers_fit_ram":
                raise RuntimeError("a bug in the setup of a check")

    res = run_audit(tmp_path, "prod", args=ONLY_PLAN, capsys=capsys, plugins=[Bug()])
    assert "FAILED checks/test_allocation.py::test_zone_allocated[monitoring]: PLAN-004 [1.2 " in res.out
    assert "ERROR checks/test_allocation.py::test_containers_fit_ram: RuntimeError: a bug in the setup" in res.out
    assert "raise RuntimeError(" in res.out  # the traceback itself
    assert "= FAILURES =" not in res.out  # pytest's section is not printed as well
    res = run_audit(tmp_path, "prod", args=[*ONLY_PLAN, "--tb=short"], capsys=capsys)
    assert "= FAILURES =" in res.out and "FAILURES AND ERRORS" not in res.out  # --tb: pytest's own


def test_plan_inconsistencies_fail_with_numbers(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN)
    assert res.exit_code == 1 and res.failed == PLAN_FAILURES
    rec = next(c for c in res.checks if c["control"] == "PLAN-003")
    assert rec["severity"] == "high" and rec["section"].startswith("2.2") and "256GB" in rec["expected"]
    assert "GB" in rec["found"] and rec["remediation"] and "PLAN-003" in rec["message"]
    _agree(res.doc, tmp_path / "reports" / "latest")


def test_waivers_turn_failures_into_waived_and_exit_0(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--waivers={ROOT / 'profiles/prod.waivers.yaml'}"])
    assert res.exit_code == 0 and res.controls("waived") == PLAN_FAILURES and not res.controls("failed")
    w = res.items("waived")[0]["waiver"]
    assert w["approver"] and w["justification"] and not w["expired"]
    _agree(res.doc, tmp_path / "reports" / "latest")
    assert "waived" in (tmp_path / "reports/latest/report.html").read_text()


def test_expired_waiver_no_longer_waives(tmp_path: Path) -> None:
    waivers = tmp_path / "w.yaml"
    yesterday = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
    waivers.write_text(yaml.safe_dump({"waivers": [{"control": "PLAN-003", "justification": "accepted until yesterday",
                                                    "approver": "someone", "expires": yesterday}]}))
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--waivers={waivers}"])
    rec = next(c for c in res.checks if c["control"] == "PLAN-003")
    assert rec["outcome"] == "failed" and rec["waiver"]["expired"] is True and res.exit_code == 1
    assert "EXPIRED" in (tmp_path / "reports/latest/report.html").read_text()


def test_bad_waiver_file_is_one_line(tmp_path: Path) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text(yaml.safe_dump({"waivers": [{"control": "PLAN-003", "approver": "x", "expires": "soon"}]}))
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--waivers={waivers}"])
    assert res.exit_code == 4 and res.doc["run"]["errors"]
    assert all(str(waivers) in e for e in res.doc["run"]["errors"])


@pytest.mark.parametrize("fail_on,code", [("low", 1), ("high", 1), ("critical", 0)])
def test_fail_on_gates_by_severity(tmp_path: Path, fail_on: str, code: int) -> None:
    # the plan's own failures are high and medium: only --fail-on=critical lets the run pass
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--fail-on={fail_on}"])
    assert res.exit_code == code and res.failed == PLAN_FAILURES


def test_reports_agree_under_xdist(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + ["-n", "2"])
    serial = run_audit(tmp_path / "serial", "prod", args=ONLY_PLAN)
    assert res.doc["summary"] == serial.doc["summary"] and res.failed == PLAN_FAILURES
    assert [c["expected"] for c in res.checks] == [c["expected"] for c in serial.checks]
    _agree(res.doc, tmp_path / "reports" / "latest")


def test_latest_points_at_newest_run(tmp_path: Path) -> None:
    run_audit(tmp_path, "prod", args=ONLY_PLAN + ["-k", "fit_ram"])
    first = (tmp_path / "reports/latest").resolve()
    run_audit(tmp_path, "prod", args=ONLY_PLAN)
    assert (tmp_path / "reports/latest").resolve() != first
    assert {p.name for p in (tmp_path / "reports/latest").iterdir()} == {"junit.xml", "report.html", "results.json", "summary.json"}
