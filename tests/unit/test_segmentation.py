"""SEG-0xx on recorded facts (tests/data/good/segmentation.json, recorded from the live baseline)
and the matrix the profile's flows produce."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from plancheck.facts.segmentation import matrix
from plancheck.profile import load_profile
from tests.audit import ROOT, load_good_facts, mutate, run_audit

GOOD = load_good_facts()
SELECT = ["-k", "test_segmentation.py"]
Facts = dict[str, Any]


def reach(src: str, pair: str, value: bool) -> Callable[[Facts], None]:
    return lambda f: f["segmentation"]["reachable"][src].update({pair: value})


CASES: dict[str, Callable[[Facts], None]] = {
    "SEG-001": reach("gateway", "api-server:8443", False),
    "SEG-002": reach("gateway", "mariadb:3306", True),  # the database attached to the public network
}


def test_matrix_kinds() -> None:
    kinds = {(s, d, p): k for s, d, p, k in matrix(load_profile("prod", ROOT / "profiles"))}
    assert kinds[("api-server", "mariadb", 3306)] == "required"
    assert kinds[("prometheus", "node-exporter", 9100)] == "required"
    assert kinds[("gateway", "mariadb", 3306)] == "forbidden"
    assert kinds[("gateway", "redis", 6379)] == "forbidden"
    assert kinds[("ssh-bastion", "api-server", 8443)] == "forbidden"
    assert kinds[("mariadb", "redis", 6379)] == "tolerated"  # one Docker network, not needed


def test_good_segmentation_facts_pass(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=GOOD, args=SELECT)
    assert res.failed == set(), [c["message"] for c in res.items("failed")]
    assert set(CASES) <= {c["control"] for c in res.checks if c["outcome"] == "passed"}


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_segmentation_control_fails_on_its_broken_fact(tmp_path: Path, control: str) -> None:
    res = run_audit(tmp_path, "baseline", facts=mutate(GOOD, CASES[control]), args=SELECT)
    assert res.failed == {control}, [c["message"] for c in res.items("failed")]
    assert len(res.items("failed")) == 1
