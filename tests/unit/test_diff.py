"""python -m plancheck.diff: drift between two runs per check id, on synthetic results.json files;
the HTML report's changes since the previous run; check ids stable from one run to the next."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from plancheck.diff import CATEGORIES, diff, load, main
from plancheck.report import write_reports
from tests.audit import ROOT, run_audit


def _rec(nodeid: str, control: str, outcome: str = "passed", severity: str = "high", found: str = "x") -> dict[str, Any]:
    return {"nodeid": nodeid, "control": control, "title": f"{control} title", "severity": severity,
            "section": "2.2 컨테이너 리소스 할당", "section_id": "2.2", "topic": "", "tags": [], "outcome": outcome,
            "expected": "16GB", "found": found,
            "message": f"{control}: expected 16GB, found {found}. Fix: set it" if outcome in ("failed", "error") else "",
            "remediation": "set it", "duration": 0.001, "waiver": None}


def _doc(checks: list[dict[str, Any]], started: str = "2026-01-01T00:00:00Z", mode: str = "live",
         profile: str = "prod") -> dict[str, Any]:
    counts = {k: sum(c["outcome"] == k for c in checks) for k in ("passed", "failed", "skipped", "waived", "error")}
    return {"run": {"tool": "plancheck", "profile": profile, "plan": "infra-plan.ko.md", "mode": mode,
                    "started": started, "duration_s": 1.0, "fail_on": "low", "exit_status": 0, "errors": [],
                    "notes": []},
            "summary": counts | {"total": len(checks), "observed": counts["passed"] + counts["failed"] + counts["waived"]},
            "checks": checks}


BASE = [_rec(f"checks/test_containers.py::test_memory_limit[{n}]", "CT-004", found="16GB")
        for n in ("redis", "mariadb", "prometheus")] + [
    _rec("checks/test_redis.py::test_tunable[appendonly]", "RD-002", severity="critical", found="yes"),
    _rec("checks/test_gpu.py::test_count", "GPU-001", "skipped", found=""),
    _rec("checks/test_allocation.py::test_budget[app-db]", "PLAN-001", "failed", found="146GB"),
    _rec("checks/test_ports.py::test_scan", "PORT-001", "error", severity="critical", found=""),
    _rec("checks/test_web.py::test_tls", "WEB-001", "passed", severity="medium", found="TLSv1.3"),
]


def _write(tmp_path: Path, name: str, doc: dict[str, Any], as_dir: bool = True) -> Path:
    if as_dir:
        d = tmp_path / name
        d.mkdir()
        (d / "results.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return d
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return f


def _changed(checks: list[dict[str, Any]], nodeid: str, **kw: Any) -> list[dict[str, Any]]:
    out = json.loads(json.dumps(checks))
    (c,) = [c for c in out if c["nodeid"] == nodeid]
    c.update(kw)
    if "outcome" in kw and kw["outcome"] in ("failed", "error"):
        c["message"] = f"{c['control']}: expected {c['expected']}, found {c['found']}. Fix: set it"
    return out


def test_one_break_between_two_runs_names_exactly_that_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = "checks/test_containers.py::test_memory_limit[redis]"
    old = _write(tmp_path, "prod-20260101T000000000000Z", _doc(BASE))
    new = _write(tmp_path, "new", _doc(_changed(BASE, broken, outcome="failed", found="8GB"),
                                       started="2026-01-02T00:00:00Z"), as_dir=False)
    assert main([str(old), str(new)]) == 1
    text = capsys.readouterr().out
    assert "newly failing: 1\n" in text
    assert f"CT-004 [high] {broken}: CT-004: expected 16GB, found 8GB. Fix: set it" in text
    assert "1 new finding(s) at or above low" in text
    assert main([str(old), str(new), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert [e["nodeid"] for e in d["newly_failing"]] == [broken]
    assert d["newly_failing"][0]["found_before"] == "16GB" and d["newly_failing"][0]["found_now"] == "8GB"
    assert all(d[k] == [] for k in CATEGORIES if k != "newly_failing")
    assert d["exit_status"] == 1 and d["fail_on"] == "low"


def test_every_kind_of_change(tmp_path: Path) -> None:
    checks = BASE
    checks = _changed(checks, "checks/test_allocation.py::test_budget[app-db]", outcome="waived")
    checks = _changed(checks, "checks/test_ports.py::test_scan", outcome="passed", found="443")
    checks = _changed(checks, "checks/test_web.py::test_tls", outcome="skipped", found="")
    checks = _changed(checks, "checks/test_redis.py::test_tunable[appendonly]", outcome="error", found="")
    checks = _changed(checks, "checks/test_containers.py::test_memory_limit[mariadb]", found="64GB")
    checks = [c for c in checks if c["control"] != "GPU-001"] + [_rec("checks/test_new.py::test_new", "NEW-001")]
    d = diff(_doc(BASE), _doc(checks))
    names = {k: [e["nodeid"].split("::")[1] for e in d[k]] for k in CATEGORIES}
    assert names == {
        "newly_failing": [], "newly_erroring": ["test_tunable[appendonly]"], "newly_waived": ["test_budget[app-db]"],
        "newly_skipped": ["test_tls"], "fixed": ["test_scan"], "found_changed": ["test_memory_limit[mariadb]"],
        "added": ["test_new"], "removed": ["test_count"]}
    (fc,) = d["found_changed"]
    assert (fc["found_before"], fc["found_now"], fc["before"], fc["now"]) == ("16GB", "64GB", "passed", "passed")


def test_fail_on_threshold_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path, "old", _doc(BASE))
    medium = _write(tmp_path, "medium", _doc(_changed(BASE, "checks/test_web.py::test_tls", outcome="failed")))
    assert main([str(old), str(medium)]) == 1                         # default: low
    assert main([str(old), str(medium), "--fail-on=medium"]) == 1
    assert main([str(old), str(medium), "--fail-on", "high"]) == 0    # listed, not gating
    assert "newly failing: 1" in capsys.readouterr().out
    erroring = _write(tmp_path, "err", _doc(_changed(BASE, "checks/test_redis.py::test_tunable[appendonly]",
                                                     outcome="error")))
    assert main([str(old), str(erroring), "--fail-on=critical"]) == 1  # could not judge: always gates
    # findings both runs have are not drift; the same run against itself is no change
    assert main([str(old), str(old)]) == 0
    assert "no check changed its outcome or found value" in capsys.readouterr().out


def test_new_check_failing_is_newly_failing() -> None:
    new = BASE + [_rec("checks/test_new.py::test_new", "NEW-001", "failed", severity="low")]
    d = diff(_doc(BASE), _doc(new))
    assert [e["nodeid"] for e in d["newly_failing"]] == ["checks/test_new.py::test_new"] and d["added"] == []


def test_different_profiles_or_modes_are_noted() -> None:
    d = diff(_doc(BASE, mode="static"), _doc(BASE, mode="live"))
    assert len(d["notes"]) == 1 and "static" in d["notes"][0]


@pytest.mark.parametrize("case", ["missing", "not json", "no checks", "bad check", "one arg", "bad fail-on"])
def test_bad_input_is_exit_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    good = _write(tmp_path, "good", _doc(BASE))
    bad = tmp_path / "bad.json"
    args = {
        "missing": [str(tmp_path / "nowhere"), str(good)],
        "not json": [str(good), str(bad)],
        "no checks": [str(good), str(bad)],
        "bad check": [str(bad), str(good)],
        "one arg": [str(good)],
        "bad fail-on": [str(good), str(good), "--fail-on=urgent"],
    }[case]
    bad.write_text({"not json": "{nope", "no checks": '{"run": {}}',
                    "bad check": json.dumps({"run": {}, "checks": [{"outcome": "passed"}]})}.get(case, "{}"))
    assert main(args) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1, out.err


def test_module_entry_point(tmp_path: Path) -> None:
    old = _write(tmp_path, "old", _doc(BASE))
    new = _write(tmp_path, "new", _doc(_changed(BASE, "checks/test_web.py::test_tls", outcome="failed")))
    out = subprocess.run([sys.executable, "-m", "plancheck.diff", str(old), str(new), "--fail-on=high"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and "WEB-001 [medium] checks/test_web.py::test_tls" in out.stdout, out
    out = subprocess.run([sys.executable, "-m", "plancheck.diff", str(old), str(tmp_path / "x")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_report_dir_and_latest_link_are_accepted(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    out = write_reports(base, "prod-20260101T000000000000Z", _doc(BASE))
    assert load(out)["checks"] == load(base / "latest")["checks"] == load(out / "results.json")["checks"]


def test_html_report_shows_changes_since_the_previous_run(tmp_path: Path) -> None:
    """The report of the newer run lists the outcome change and the found-value change."""
    base = tmp_path / "reports"
    write_reports(base, "prod-20260101T000000000000Z", _doc(BASE))
    new = _changed(BASE, "checks/test_containers.py::test_memory_limit[redis]", outcome="failed", found="8GB")
    new = _changed(new, "checks/test_containers.py::test_memory_limit[mariadb]", found="64GB")
    out = write_reports(base, "prod-20260102T000000000000Z", _doc(new, started="2026-01-02T00:00:00Z"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<tr class="change">') == 1 and "test_memory_limit[redis]</code>" in html
    assert html.count('<tr class="change found">') == 1
    row = html[html.index('<tr class="change found">'):]
    row = row[:row.index("</tr>")]
    assert "test_memory_limit[mariadb]" in row and "16GB" in row and "64GB" in row


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_check_ids_are_stable_between_runs(tmp_path: Path) -> None:
    """A diff joins runs on the check id: two static audits of the same tree give the same ids, each
    once, and no drift at all."""
    args = ["--waivers=profiles/prod.waivers.yaml", "-p", "no:randomly"]
    one = run_audit(tmp_path / "one", "prod", static=True, args=args)
    two = run_audit(tmp_path / "two", "prod", static=True, args=args)
    ids1 = [c["nodeid"] for c in one.checks]
    ids2 = [c["nodeid"] for c in two.checks]
    assert len(ids1) == len(set(ids1)) > 500
    assert set(ids1) == set(ids2)
    d = diff(one.doc, two.doc)
    assert all(d[k] == [] for k in CATEGORIES), {k: d[k][:3] for k in CATEGORIES if d[k]}
