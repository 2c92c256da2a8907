"""Break-and-detect on the running baseline for 5.2 로그 관리: the audit class's retention set to 30
days in the collector's logrotate config fails exactly LOG-002[audit]; restored in a finally block."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.audit import ROOT, run_audit
from tests.live.test_backup_live import edited

LOGS = ["-k", "test_logs"]
LOGROTATE = ROOT / "baseline/config/logs/logrotate.conf"


def audit(tmp_path: Path):  # type: ignore[no-untyped-def]
    return run_audit(tmp_path / f"run{time.monotonic_ns()}", "baseline", args=LOGS)


def test_log_controls_pass(tmp_path: Path) -> None:
    res = audit(tmp_path)
    assert res.failed == set(), [c["message"] for c in res.items("failed") + res.items("error")]


@pytest.mark.breaks("LOG-002")
def test_audit_retention_30_days(tmp_path: Path) -> None:
    with edited(LOGROTATE, "rotate 1825\n    maxage 1825", "rotate 30\n    maxage 30"):
        res = audit(tmp_path)
        assert res.failed == {"LOG-002"}, res.out
        [f] = res.items("failed")
        assert "[audit]" in f["nodeid"] and "30 days" in f["message"] and "1825 days" in f["message"]
    assert audit(tmp_path).failed == set()
