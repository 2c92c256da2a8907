"""MON-011, the alert drill, evaluated on recorded facts (the live proof is
tests/live/test_compliance_alert.py): delivered in time passes, not delivered or late fails, and the
drill never runs unless asked for (it writes a test alert)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plancheck.facts.alert_drill import find_delivery
from plancheck.facts.base import FactError
from tests.audit import load_good_facts, run_audit

DRILL = {"source": "recorded", "drill_id": "0123456789abcdef", "sent_at": 1.0e9, "delivered_after_s": 0.4,
         "receiver": "platform-oncall", "sink": "https://alert-sink:9443/alerts", "waited_s": 0.5,
         "notifications_seen": 3}


def _facts(**change: Any) -> dict[str, Any]:
    facts = load_good_facts()
    facts["alert_drill"] = {**DRILL, **change}
    return facts


def test_delivered_passes(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=_facts(), args=["--alert-drill", "-k", "test_alert_drill"])
    assert res.passed == {"MON-011"} and res.failed == set()


@pytest.mark.parametrize("change", [{"delivered_after_s": None, "waited_s": 60.2}, {"delivered_after_s": 75.0}],
                         ids=["never", "late"])
def test_undelivered_or_late_fails(tmp_path: Path, change: dict[str, Any]) -> None:
    res = run_audit(tmp_path, "baseline", facts=_facts(**change), args=["--alert-drill", "-k", "test_alert_drill"])
    assert res.failed == {"MON-011"}, res.out


def test_not_run_unless_asked_for(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=_facts(), args=["-k", "test_alert_drill"])
    assert "MON-011" not in res.passed | res.failed | res.errors


def test_sink_answers_are_read_strictly() -> None:
    doc = {"notifications": [{"receiver": "r", "alerts": [{"labels": {"plancheck_drill": "x"}}]}]}
    assert find_delivery(doc, "x") == doc["notifications"][0]
    assert find_delivery(doc, "y") is None
    with pytest.raises(FactError):
        find_delivery(["garbage"], "x")
