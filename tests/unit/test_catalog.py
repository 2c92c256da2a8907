"""The control catalog: complete metadata, unique ids, docs/controls.md up to date."""
from __future__ import annotations

import re
from pathlib import Path

from plancheck.catalog import load_all_checks, render
from plancheck.controls import CATALOG, SEVERITY_ORDER

ROOT = Path(__file__).resolve().parents[2]


def test_every_control_has_metadata() -> None:
    load_all_checks()
    assert len(CATALOG) >= 50
    for c in CATALOG.values():
        assert re.fullmatch(r"[A-Z]+-\d{3}", c.id), c.id
        assert c.severity in SEVERITY_ORDER and c.title and c.section and c.rationale and c.remediation, c.id
        assert re.match(r"^\d\.(\d )?", c.section), f"{c.id}: section must start with the plan's number"


def test_docs_controls_md_is_current() -> None:
    doc = ROOT / "docs" / "controls.md"
    assert doc.exists() and doc.read_text() == render(), \
        "docs/controls.md is stale: run `make docs` (python -m plancheck.catalog > docs/controls.md)"


def test_every_control_has_a_failing_case_in_tests() -> None:
    """A control is born with its failing case: its id must appear in a test that breaks its fact."""
    load_all_checks()
    text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != "test_catalog.py")
    assert [c for c in sorted(CATALOG) if c not in text] == []
