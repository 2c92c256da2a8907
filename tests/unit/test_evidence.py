"""A pass is evidence. The engine, not each check, makes these impossible:
- a check that returns without comparing an observed value is an error, never a pass;
- a fact source that is missing or empty makes every check that depends on it non-passed;
- a run that observed almost nothing exits non-zero and says how much it observed;
- no check records a pass with a literal (`that(True, ...)`)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from plancheck.controls import CATALOG
from plancheck.facts.base import SOURCES
from tests.audit import ROOT, ReferenceRun, load_good_facts, run_audit

GOOD = load_good_facts()
PROFILE_ONLY = ("PLAN-",)  # the plan checked against itself needs no observation

# Which fixture hands each fact source to the checks (fixtures/*.py): a check that requests it, directly
# or through another fixture, depends on the source.
SOURCE_FIXTURES = {
    "containers": "containers", "mariadb": "mariadb", "redis": "redis_facts", "nginx": "nginx",
    "host": "host_facts", "gpu": "gpu_facts", "tls": "tls_facts", "mtls": "mtls_facts", "exposure": "exposure",
    "segmentation": "segmentation", "backup": "backup_facts", "logs": "logs_facts",
    "monitoring": "monitoring_facts", "elasticsearch": "elasticsearch_facts", "grafana": "grafana_facts",
    "logstack": "logstack_facts", "access": "access_facts", "docker_daemon": "docker_daemon",
}


class _Fixtures:
    """Collects each item's fixture closure (no check runs)."""

    def __init__(self) -> None:
        self.by_nodeid: dict[str, set[str]] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.by_nodeid[item.nodeid] = set(getattr(item, "fixturenames", ()))


@pytest.fixture(scope="module")
def fixture_closure(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    plugin = _Fixtures()
    tmp = tmp_path_factory.mktemp("collect")
    pytest.main([str(ROOT / "checks"), "--profile=baseline", "--collect-only", "-q", "-p", "no:cacheprovider",
                 f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"), f"--reports-dir={tmp}"], plugins=[plugin])
    assert plugin.by_nodeid, "collection found no checks"
    return plugin.by_nodeid


def test_every_fact_source_has_its_fixture() -> None:
    assert set(SOURCE_FIXTURES) | {"restore_drill", "alert_drill"} == set(SOURCES)  # drills: opt-in, live only


@pytest.mark.parametrize("source", sorted(SOURCE_FIXTURES))
def test_removing_a_source_leaves_no_dependent_check_passed(tmp_path: Path, source: str,
                                                           fixture_closure: dict[str, set[str]]) -> None:
    facts = {k: v for k, v in GOOD.items() if k != source}
    dependent = {n for n, fx in fixture_closure.items() if SOURCE_FIXTURES[source] in fx}
    assert dependent, f"no check depends on {source}"
    # the assertions are about the dependents alone: only they run
    res = run_audit(tmp_path, "baseline", facts=facts, args=["--max-skipped=100%"], allow_all_errors=True,
                    only=dependent)
    assert {c["nodeid"] for c in res.checks} == dependent
    passed = [c["nodeid"] for c in res.checks if c["outcome"] == "passed" and c["nodeid"] in dependent]
    assert passed == [], f"passed without {source}: {passed[:5]}"
    assert all(c["message"] for c in res.checks if c["nodeid"] in dependent and c["outcome"] == "error")


_DROP = object()


def _empty_shape() -> dict[str, Any]:
    """Every source present with nothing in it: empty lists, maps and strings, zero numbers. A yes/no
    fact has no empty value (False is an observation), so it is left out: the model then rejects it."""
    def empty(v: Any) -> Any:
        if isinstance(v, dict):
            return dict(v) if set(v) <= {"reason", "kind"} else {}  # an Unavailable stays what it is
        if isinstance(v, list):
            return []
        if isinstance(v, bool):
            return _DROP
        if isinstance(v, (int, float)):
            return 0
        if isinstance(v, str):
            return ""
        return v
    out: dict[str, Any] = {"_meta": GOOD["_meta"]}
    for name, facts in GOOD.items():
        if name == "_meta":
            continue
        out[name] = {k: e for k, e in ((k, empty(v)) for k, v in facts.items()) if e is not _DROP}
    return out


@pytest.mark.parametrize("shape", ["no facts", "empty facts"])
def test_nothing_observed_passes_nothing(tmp_path: Path, shape: str) -> None:
    facts = {} if shape == "no facts" else _empty_shape()
    res = run_audit(tmp_path, "baseline", facts=facts, allow_all_errors=True)
    passed = sorted({c["control"] for c in res.checks if c["outcome"] == "passed"
                     and not c["control"].startswith(PROFILE_ONLY)})
    assert passed == [], passed
    assert res.exit_code != 0


def test_empty_recording_exits_non_zero_and_says_how_much_was_observed(tmp_path: Path, capsys: Any) -> None:
    res = run_audit(tmp_path, "prod", facts={}, allow_all_errors=True, capsys=capsys)
    assert res.exit_code != 0
    cov = res.doc["coverage"]
    assert cov["observed"] < cov["total"] / 10 and "checks observed nothing" in cov["line"]
    assert "checks observed nothing" in res.out


def test_max_skipped_bounds_a_run_that_skipped_most_checks(tmp_path: Path) -> None:
    # a static run of the baseline skips what only a running platform has; with --max-skipped 0 that is
    # too little observed for the gate, and the coverage line says so
    res = run_audit(tmp_path, "baseline", static=True, args=["--max-skipped=0"])
    assert res.doc["coverage"]["too_little"] and res.exit_code != 0
    assert not res.failed and not res.errors


def test_no_literal_pass_in_checks_or_engine() -> None:
    offenders = []
    for path in list((ROOT / "checks").rglob("*.py")) + list((ROOT / "plancheck").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(that|is_true)\(\s*True\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}")
    assert offenders == []


def test_a_check_that_compares_nothing_is_an_error(tmp_path: Path) -> None:
    """Two throw-away controls: one compares nothing (error "no comparison made"), one compares."""
    mod = tmp_path / "test_probe_controls.py"
    mod.write_text('''
from plancheck.controls import control
from plancheck.evaluate import Check

@control("ZZ-901", title="compares nothing", severity="low", section="1.1 하드웨어 구성 (test)", rationale="r", remediation="f")
def test_nothing(check: Check) -> None:
    return

@control("ZZ-902", title="compares one value", severity="low", section="1.1 하드웨어 구성 (test)", rationale="r", remediation="f")
def test_one(check: Check) -> None:
    check.equal(1, 1, what="one")
''')
    reports = tmp_path / "reports"
    try:
        code = pytest.main([str(mod), "--profile=baseline", "--static", f"--reports-dir={reports}", "-q",
                            "-p", "no:cacheprovider", f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"),
                            "--max-skipped=100%"])
    finally:
        CATALOG.pop("ZZ-901", None)
        CATALOG.pop("ZZ-902", None)
    doc = json.loads((reports / "latest" / "results.json").read_text())
    by = {c["control"]: c for c in doc["checks"]}
    assert by["ZZ-901"]["outcome"] == "error" and "no comparison made" in by["ZZ-901"]["message"]
    assert by["ZZ-902"]["outcome"] == "passed" and by["ZZ-902"]["found"] == "one: 1"
    assert int(code) != 0


def test_a_passing_record_carries_no_failure_words(good_baseline: ReferenceRun) -> None:
    res = good_baseline.result  # the whole audit of profile baseline over GOOD
    words = re.compile(r"(?<![\w-])(stopped|no answer|absent|not loaded|missing)\b")
    def values(text: str) -> list[str]:  # each recorded value is "what: value"
        return [part.rsplit(": ", 1)[-1] for part in text.split("; ")]

    # a failure word in a passing value only where the plan expects exactly that ("no answer" to a
    # forbidden flow)
    bad = [(c["nodeid"], c["found"]) for c in res.checks if c["outcome"] == "passed"
           and any(words.search(f) and words.search(f).group(1) not in e  # type: ignore[union-attr]
                   for f, e in zip(values(c["found"]), values(c["expected"])))]
    assert bad == [], bad[:5]
