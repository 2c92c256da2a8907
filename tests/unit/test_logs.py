"""Log controls LOG-001..LOG-004 on a recorded-shape fact set (the baseline's collector config,
files of a platform two years old): compliant passes, one mutation per control fails exactly it.
Plus the logrotate/rsyslog parsers and the static audit of the baseline's config files."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from plancheck.facts.base import FactError
from plancheck.facts.logs import parse_logrotate, parse_rsyslog, rotation_for, template_matches
from tests.audit import ROOT, run_audit

Facts = dict[str, Any]
T = 1_795_750_800.0  # 2026-11-27T03:00Z
DAY = 86400
ARGS = ["-k", "test_logs"]
LOGROTATE = (ROOT / "baseline/config/logs/logrotate.conf").read_text()
RSYSLOG = (ROOT / "baseline/config/logs/rsyslog.conf").read_text()


def _files(names: list[str], oldest_days: float) -> list[dict[str, Any]]:
    out = [{"name": n, "bytes": 2048, "mtime": T - 60} for n in names]
    out.append({"name": f"{names[0]}-20240101.gz", "bytes": 512, "mtime": T - oldest_days * DAY})
    return out


def good_logs() -> Facts:
    outputs, inputs = parse_rsyslog(RSYSLOG)
    return {"source": "recorded", "observed_at": T,
            "rotations": [r.model_dump() for r in parse_logrotate(LOGROTATE)],
            "rotation_source": "log-collector:/etc/plancheck/logrotate.conf",
            "outputs": outputs or ["/var/log/plancheck/realtime/%hostname%.log"], "inputs": inputs,
            "router_source": "log-collector:/etc/plancheck/rsyslog.conf",
            "files": {"realtime": _files(["api-server.log", "chat-server.log", "auth-server.log"], 6.5),
                      "important": _files(["backup-job.log"], 364.5),
                      "audit": _files(["mariadb-audit.log", "idp.log", "ssh-bastion-auth.log",
                                         "admin-portal-access.log"], 729.5)},
            "platform_since": T - 730 * DAY}


def _rot(cls: str, **changes: Any) -> Callable[[Facts], None]:
    def apply(f: Facts) -> None:
        for r in f["logs"]["rotations"]:
            if any(f"/{cls}/" in p for p in r["paths"]):
                r.update(changes)
    return apply


CASES: dict[str, Callable[[Facts], None]] = {
    "LOG-001": lambda f: f["logs"]["files"]["realtime"].pop(1),  # chat-server.log
    "LOG-002": _rot("audit", rotate=30, maxage=30),
    "LOG-003": lambda f: f["logs"]["files"]["realtime"].append({"name": "api-server.log-20261118.gz", "bytes": 10,
                                                                 "mtime": T - 9 * DAY}),
    "LOG-004": _rot("audit", size_based=True),
}


def _facts() -> Facts:
    return {"_meta": {"mode": "live"}, "logs": good_logs()}


def test_good_logs_pass(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=_facts(), args=ARGS)
    assert res.failed == set(), res.items("failed")
    assert set(CASES) <= res.controls("passed")


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_control_fails_on_its_broken_fact(tmp_path: Path, control: str) -> None:
    facts = _facts()
    CASES[control](facts)
    res = run_audit(tmp_path, "baseline", facts=facts, args=ARGS)
    assert res.failed == {control}, res.items("failed")
    assert all(c["message"].startswith(control) and c["expected"] and c["found"] for c in res.items("failed"))


def test_audit_30_days_names_the_class(tmp_path: Path) -> None:
    facts = _facts()
    CASES["LOG-002"](facts)
    [f] = run_audit(tmp_path, "baseline", facts=facts, args=ARGS).items("failed")
    assert "[audit]" in f["nodeid"] and "1825 days" in f["message"] and "30 days" in f["message"]


@pytest.mark.breaks("LOG-004")
def test_audit_files_missing_on_old_platform(tmp_path: Path) -> None:
    facts = _facts()
    facts["logs"]["files"]["audit"] = [{"name": n, "bytes": 10, "mtime": T - 60}
                                       for n in ("mariadb-audit.log", "idp.log", "ssh-bastion-auth.log",
                                                 "admin-portal-access.log")]
    res = run_audit(tmp_path, "baseline", facts=facts, args=ARGS)
    # audit logs deleted early (LOG-004) also leave the audit class's window unkept (LOG-003[audit])
    assert res.failed == {"LOG-004", "LOG-003"}
    assert [c["nodeid"].split("[")[-1] for c in res.items("failed") if c["control"] == "LOG-003"] == ["audit]"]


def test_static_baseline_config_passes(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", static=True, args=ARGS)
    assert res.failed == set(), res.items("failed")
    assert {"LOG-001", "LOG-002", "LOG-004"} <= res.controls("passed")


# --- parsers ---------------------------------------------------------------------------------------
def test_parse_logrotate_inherits_globals() -> None:
    rots = parse_logrotate("daily\nrotate 3\n/a/*.log {\n  maxage 2\n  postrotate\n    x }\n  endscript\n}\n"
                           "/b/*.log {\n weekly\n rotate 52\n size 100M\n}\n")
    a, b = rots
    assert (a.period, a.rotate, a.maxage, a.retention_days) == ("daily", 3, 2, 2.0)
    assert (b.period, b.retention_days, b.size_based) == ("weekly", 364.0, True)


def test_baseline_retention_per_class() -> None:
    rots = parse_logrotate(LOGROTATE)
    got = {c: rotation_for(rots, f"/var/log/plancheck/{c}").retention_days for c in ("realtime", "important", "audit")}
    assert got == {"realtime": 7, "important": 365, "audit": 1825}


def test_logrotate_errors_are_one_line() -> None:
    with pytest.raises(FactError, match="rotate needs a number"):
        parse_logrotate("/a {\n rotate many\n}\n", "lr.conf")


def test_rsyslog_templates() -> None:
    outputs, _ = parse_rsyslog(RSYSLOG)
    assert "/var/log/plancheck/audit/%hostname%.log" in outputs or any("/audit/" in o for o in outputs)
    assert template_matches("/var/log/plancheck/audit/%hostname%.log", "/var/log/plancheck/audit/mariadb-audit.log")
    assert not template_matches("/var/log/plancheck/audit/%hostname%.log", "/var/log/plancheck/realtime/x.log")
