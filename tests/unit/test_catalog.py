"""The control catalog: complete metadata, unique ids, docs/controls.md up to date."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from plancheck.catalog import load_all_checks, render
from plancheck.controls import CATALOG, SEVERITY_ORDER
from plancheck.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[2]


def test_every_control_has_metadata() -> None:
    load_all_checks()
    assert len(CATALOG) >= 50
    for c in CATALOG.values():
        assert re.fullmatch(r"[A-Z]+-\d{3}", c.id), c.id
        assert c.severity in SEVERITY_ORDER and c.title and c.section and c.rationale and c.remediation, c.id
        # resolved at registration to the plan's numbered section (or the one beyond the plan)
        assert c.section_id in SECTIONS and c.section == SECTIONS[c.section_id].display, c.id


def test_docs_controls_md_is_current() -> None:
    doc = ROOT / "docs" / "controls.md"
    assert doc.exists() and doc.read_text() == render(), \
        "docs/controls.md is stale: run `make docs` (python -m plancheck.catalog > docs/controls.md)"


class _BreaksCollector:
    """A pytest plugin for an in-process --collect-only run: which controls each collected test breaks."""

    def __init__(self) -> None:
        self.breaks: dict[str, set[str]] = {}  # control id -> node ids of the tests marked breaks(id)
        self.malformed: list[str] = []
        self.collected = 0

    @pytest.hookimpl(trylast=True)  # after every other plugin and conftest has deselected what it wants
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected += len(items)
        for item in items:
            for mark in item.iter_markers("breaks"):
                if not mark.args or mark.kwargs or not all(isinstance(a, str) for a in mark.args):
                    self.malformed.append(f"{item.nodeid}: {mark}")
                for control in mark.args:
                    self.breaks.setdefault(str(control), set()).add(item.nodeid)


def test_every_control_has_a_failing_case_in_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """A control is born with its failing case: a test marked `breaks(ID)` that breaks the control's fact and
    asserts that exactly this control fails (tests/unit on recorded facts, or tests/live on the running
    baseline for what only a live platform shows). Proven by collecting the suite's own tests, not by text."""
    load_all_checks()
    # tests/live/conftest.py asks the Docker engine whether the baseline runs (to add skip markers): collecting
    # must neither touch nor wait for an engine, so point the SDK at a socket that does not exist
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/plancheck-collect-only.sock")
    collector = _BreaksCollector()
    code = pytest.main([str(ROOT / "tests" / "unit"), str(ROOT / "tests" / "live"), "--collect-only", "-qq",
                        "-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
                       plugins=[collector])
    assert code == 0, f"collecting tests/unit and tests/live failed (exit {code}): see the captured output"
    assert collector.collected > 0 and collector.malformed == [], collector.malformed
    unknown = {c: sorted(ids) for c, ids in collector.breaks.items() if c not in CATALOG}
    assert unknown == {}, f"breaks() names controls that do not exist: {unknown}"
    missing = sorted(set(CATALOG) - set(collector.breaks))
    assert missing == [], f"{len(missing)} controls without a test marked breaks(ID) that fails exactly them: " \
        + ", ".join(missing)


def test_every_control_declares_the_profile_keys_it_reads() -> None:
    """Each record says whether its expected value is the plan's, an override or an addition
    (plancheck.controls.basis): that needs the keys the control compares against (`reads=`)."""
    load_all_checks()
    assert sorted(c for c, ctl in CATALOG.items() if not ctl.reads) == []
