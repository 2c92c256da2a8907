"""--prom-textfile: the run as node-exporter textfile metrics, parsed back with prometheus_client's own
text parser and compared with results.json; the compliance alert rules that read them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from plancheck.report.prom import OUTCOMES, render_textfile, run_end, write_textfile
from tests.audit import ROOT, run_audit

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus-client is not installed (dev extras)")

RULES = ROOT / "baseline/config/prometheus/rules/compliance.yml"
RULES_TEST = ROOT / "tests/data/prometheus/compliance_rules_test.yml"


def _parse(text: str) -> dict[str, list[Any]]:
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert all(f.type == "gauge" for f in fams.values())
    assert all(f.documentation for f in fams.values()), "every family has a HELP line"
    return {name: f.samples for name, f in fams.items()}


def _one(samples: list[Any], **labels: str) -> float:
    hits = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (labels, hits)
    return hits[0]


def _check_against(doc: dict[str, Any], text: str) -> None:
    m = _parse(text)
    run = doc["run"]
    base = {"profile": run["profile"], "mode": run["mode"]}
    for samples in m.values():
        assert all(s.labels["profile"] == base["profile"] and s.labels["mode"] == base["mode"] for s in samples)
    per = Counter((c["control"], c["outcome"]) for c in doc["checks"] if c["control"])
    controls = {c["control"] for c in doc["checks"] if c["control"]}
    assert len(m["plancheck_checks"]) == len(controls) * len(OUTCOMES)
    for ctl in controls:
        for o in OUTCOMES:
            assert _one(m["plancheck_checks"], control=ctl, outcome=o) == per[(ctl, o)]
        sev = next(c["severity"] for c in doc["checks"] if c["control"] == ctl)
        sec = next(c["section_id"] for c in doc["checks"] if c["control"] == ctl)
        assert _one(m["plancheck_control_failing"], control=ctl, severity=sev, section=sec) == \
            per[(ctl, "failed")] + per[(ctl, "error")]
    by_sev = Counter((c["severity"], c["outcome"]) for c in doc["checks"])
    for s in m["plancheck_checks_by_severity"]:
        assert s.value == by_sev[(s.labels["severity"], s.labels["outcome"])]
    by_sec = Counter((c["section_id"], c["outcome"]) for c in doc["checks"])
    for s in m["plancheck_checks_by_section"]:
        assert s.value == by_sec[(s.labels["section"], s.labels["outcome"])]
    assert sum(s.value for s in m["plancheck_checks_by_section"]) == len(doc["checks"])
    assert _one(m["plancheck_checks_total"]) == doc["summary"]["total"] == len(doc["checks"])
    assert _one(m["plancheck_checks_observed"]) == doc["summary"]["observed"]
    assert _one(m["plancheck_run_duration_seconds"]) == pytest.approx(run["duration_s"])
    assert _one(m["plancheck_last_run_timestamp_seconds"]) == pytest.approx(run_end(doc))
    assert _one(m["plancheck_run_exit_status"]) == run["exit_status"]


def _record(nodeid: str, control: str, outcome: str, severity: str = "high", section_id: str = "2.2") -> dict[str, Any]:
    return {"nodeid": nodeid, "control": control, "title": "t", "severity": severity,
            "section": f'{section_id} "quoted" \\ section', "section_id": section_id, "topic": "", "tags": [],
            "outcome": outcome, "expected": "", "found": "", "message": "", "remediation": "", "duration": 0.0,
            "waiver": None}


def test_synthetic_document() -> None:
    checks = [_record("a::x[1]", "CT-004", "failed"), _record("a::x[2]", "CT-004", "passed"),
              _record("b::y", "DB-002", "error", "critical", "3.1"), _record("c::z", "PLAN-001", "waived"),
              _record("d::w", "GPU-001", "skipped", "medium", "1.1")]
    doc = {"run": {"profile": "prod", "mode": "live", "started": "2026-01-02T03:04:05Z", "duration_s": 12.5,
                   "exit_status": 1},
           "summary": {"passed": 1, "failed": 1, "skipped": 1, "waived": 1, "error": 1, "total": 5, "observed": 3},
           "checks": checks}
    text = render_textfile(doc)
    _check_against(doc, text)
    assert run_end(doc) == 1767323045 + 12.5
    m = _parse(text)
    assert _one(m["plancheck_control_failing"], control="CT-004") == 1
    assert _one(m["plancheck_control_failing"], control="DB-002") == 1   # an error counts: could not judge
    assert _one(m["plancheck_control_failing"], control="PLAN-001") == 0  # waived: accepted
    # label values are escaped: the parser gives back the section text as written
    assert _one(m["plancheck_control_failing"], control="CT-004", section_title='2.2 "quoted" \\ section') == 1


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    doc = {"run": {"profile": "p", "mode": "static", "started": "2026-01-02T03:04:05Z", "duration_s": 1,
                   "exit_status": 0}, "summary": {"total": 0, "observed": 0}, "checks": []}
    target = tmp_path / "plancheck.prom"
    target.write_text("old")
    write_textfile(target, doc)
    assert os.listdir(tmp_path) == ["plancheck.prom"]
    assert target.read_text().startswith("# HELP")
    with pytest.raises(OSError):
        write_textfile(tmp_path / "missing" / "plancheck.prom", doc)
    assert os.listdir(tmp_path) == ["plancheck.prom"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_static_audit_writes_the_textfile(tmp_path: Path) -> None:
    """The plugin option end to end: the static audit of prod (without waivers, so the plan's own
    inconsistencies fail) writes a textfile whose every value matches its results.json."""
    prom = tmp_path / "textfile" / "plancheck.prom"
    prom.parent.mkdir()
    res = run_audit(tmp_path, "prod", static=True, args=[f"--prom-textfile={prom}", "-p", "no:randomly"])
    text = prom.read_text(encoding="utf-8")
    _check_against(res.doc, text)
    failing = {s.labels["control"] for s in _parse(text)["plancheck_control_failing"] if s.value > 0}
    assert failing == res.failed | res.errors and failing  # PLAN-001/003/004 at least
    assert sorted(p.name for p in prom.parent.iterdir()) == ["plancheck.prom"]


def test_unwritable_textfile_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed")
    res = run_audit(tmp_path, "prod", static=True, args=[f"--prom-textfile={tmp_path}/no/such/dir/x.prom",
                                                         "--waivers=profiles/prod.waivers.yaml"])
    err = capsys.readouterr().err
    assert res.exit_code != 0
    assert [ln for ln in err.splitlines() if "metrics textfile" in ln] == [
        f"plancheck: cannot write the metrics textfile {tmp_path}/no/such/dir/x.prom: No such file or directory"]


# --- the alert rules that read these metrics ----------------------------------------------------------
def test_compliance_rules_load() -> None:
    doc = yaml.safe_load(RULES.read_text())
    (group,) = [g for g in doc["groups"] if g["name"] == "compliance"]
    rules = {r["alert"]: r for r in group["rules"]}
    assert {"ComplianceCheckFailingHigh", "ComplianceAuditMissing"} <= set(rules)
    for r in rules.values():
        assert r["expr"] and r["labels"]["severity"] and r["annotations"]["summary"], r["alert"]
    assert 'severity=~"high|critical"' in rules["ComplianceCheckFailingHigh"]["expr"]
    missing = rules["ComplianceAuditMissing"]["expr"]
    assert "absent(plancheck_last_run_timestamp_seconds)" in missing and "26 * 3600" in missing
    # every metric the rules read is one the writer emits
    from plancheck.report.prom import HELP

    for r in rules.values():
        for name in ("plancheck_control_failing", "plancheck_last_run_timestamp_seconds", "plancheck_run_exit_status"):
            if name in r["expr"]:
                assert name in HELP


def _promtool() -> str:
    exe = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not exe:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; or set PROMTOOL)")
    return exe


def test_compliance_rules_promtool() -> None:
    exe = _promtool()
    out = subprocess.run([exe, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([exe, "test", "rules", str(RULES_TEST)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_textfile_passes_promtool_lint(tmp_path: Path) -> None:
    exe = _promtool()
    doc = json.loads(json.dumps({"run": {"profile": "prod", "mode": "live", "started": "2026-01-02T03:04:05Z",
                                         "duration_s": 1.5, "exit_status": 0},
                                 "summary": {"total": 1, "observed": 1},
                                 "checks": [_record("a::x", "CT-004", "passed")]}))
    out = subprocess.run([exe, "check", "metrics"], input=render_textfile(doc), capture_output=True, text=True,
                         timeout=60)
    # the one lint: plancheck_checks_total is a gauge whose name ends in _total (the name the issue asks for)
    problems = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    assert problems == ['plancheck_checks_total non-counter metrics should not have "_total" suffix'], problems
