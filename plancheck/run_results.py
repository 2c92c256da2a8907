"""The run's results: coverage and the gate's verdict, the per-host summary of a fleet, and the
reports written from the records (results.json first, then junit.xml, report.html and the optional
SARIF and metrics files). Split from plancheck/plugin.py, which keeps the pytest hooks."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import pytest

from plancheck import gathering
from plancheck.audit_accounts import audit_accounts, merge_accounts
from plancheck.controls import SEVERITY_ORDER
from plancheck.results import summarize
from plancheck.report import ReportError, write_reports
from plancheck.report.locate import desired_state_files
from plancheck.report.sarif import write_sarif
from plancheck.profile.loader import resolve_profile_path

if TYPE_CHECKING:
    from plancheck.plugin import RunState


def _write_or_say(state: RunState, exit_status: int) -> Optional[Path]:
    """`_write`, with reports that cannot be written said in one line on stderr, never a traceback.
    Returns this run's report directory when its files were written."""
    try:
        return _write(state, exit_status)
    except ReportError as e:
        line, out = str(e), e.out
    except OSError as e:
        line, out = f"cannot write reports: {e.filename or ''}: {e.strerror or e}", None
    state.report_error = line  # type: ignore[attr-defined]
    sys.stderr.write(f"plancheck: {line}\n")
    return out


def _finish_reports(state: RunState, session: pytest.Session) -> None:
    out = _write_or_say(state, int(session.exitstatus))
    if out is not None:
        state.report_dir = out  # type: ignore[attr-defined]
    if getattr(state, "report_error", None) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # reports are the audit's output: not written, not passed


def max_skipped(spec: str, total: int) -> int:
    """`--max-skipped`: a count ("40") or a percentage of all checks ("50%")."""
    text = str(spec).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if not 0 <= pct <= 100:
                raise ValueError
            return int(total * pct / 100)
        n = int(text)
        if n < 0:
            raise ValueError
        return n
    except ValueError:
        raise pytest.UsageError(f"--max-skipped {spec!r}: expected a count (40) or a percentage (50%)") from None


def coverage(state: RunState, records: list[Any]) -> dict[str, Any]:
    """How much of the run observed something: a gate that looked at almost nothing is no gate."""
    counts = summarize(records)
    limit = max_skipped(state.config.getoption("plancheck_max_skipped"), counts["total"])
    nothing = counts["total"] - counts["observed"]
    return {"observed": counts["observed"], "total": counts["total"], "skipped": counts["skipped"],
            "errors": counts["error"], "max_skipped": limit, "too_little": counts["skipped"] > limit,
            "line": f"{nothing} of {counts['total']} checks observed nothing ({counts['skipped']} skipped, "
                    f"{counts['error']} errors); {counts['observed']} observed"}


def _gate(state: RunState, records: list[Any]) -> int:
    threshold = SEVERITY_ORDER[state.fail_on]
    blocking = [r for r in records if r.outcome == "failed"
                and SEVERITY_ORDER.get(r.severity or "critical", 4) >= threshold]
    errors = [r for r in records if r.outcome == "error"]
    return 1 if blocking or errors or coverage(state, records)["too_little"] else 0


def host_summary(state: RunState, records: list[Any]) -> dict[str, dict[str, Any]]:
    """Per fleet host: its role and the outcomes of its host-level checks (results.json `hosts`)."""
    by_host: dict[str, list[Any]] = {m.name: [] for m in state.fleet}
    for r in records:
        host = state.host_of.get(r.nodeid)
        if host in by_host:
            by_host[host].append(r)
    out = {}
    for m in state.fleet:
        counts = summarize(by_host[m.name])
        out[m.name] = {"group": m.group, "address": m.address, "docker": m.docker_url or None,
                       **{k: counts[k] for k in ("passed", "failed", "waived", "skipped", "error", "total")}}
    return out


def _write(state: RunState, exit_status: int) -> Path:
    records = state.collector.sorted()
    profile = state.profile
    doc = {
        "run": {
            "tool": "plancheck",
            "profile": profile.name if profile else Path(state.profile_name).stem,
            "plan": profile.plan if profile else "",
            "mode": state.mode,
            "recorded_facts": state.recorded or "",
            "started": state.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(time.monotonic() - state.t0, 3),
            "fail_on": state.fail_on,
            "target": profile.target.docker_host if profile else "",
            "exit_status": exit_status,
            "errors": state.errors,
            "notes": state.notes,
        },
        "summary": summarize(records),
        "coverage": coverage(state, records) if state.profile else {},
        "checks": [r.as_dict() for r in records],
        # per fact source: when and how long it was gathered (xdist: the slowest worker's record)
        "sources": gathering.merge(state.worker_sources + ([state.store.timings] if state.store else [])),
        # what the audit's own MariaDB and Redis accounts could change, from the facts this run gathered
        "audit_accounts": merge_accounts(state.worker_accounts + [audit_accounts(state.store, profile)]),
    }
    if state.fleet:
        doc["hosts"] = host_summary(state, records)
    base = Path(state.config.getoption("plancheck_reports_dir") or Path(state.config.rootpath) / "reports")
    name = f"{doc['run']['profile']}-{state.started.strftime('%Y%m%dT%H%M%S%fZ')}"
    lang = state.config.getoption("plancheck_lang") or (profile.report_language if profile else None) or "en"
    out = write_reports(base, name, doc, lang=lang)
    sarif = state.config.getoption("plancheck_sarif")
    if sarif:
        root = Path(state.config.rootpath)
        files = desired_state_files(profile, root, resolve_profile_path(state.profile_name, root / "profiles"))
        try:
            write_sarif(Path(sarif), doc, files, root)
        except OSError as e:
            raise ReportError(f"cannot write SARIF to {sarif}: {e.strerror or e}", out) from None
    prom = state.config.getoption("plancheck_prom_textfile")
    if prom:
        from plancheck.report.prom import write_textfile

        try:
            write_textfile(Path(prom), doc)
        except OSError as e:
            raise ReportError(f"cannot write the metrics textfile {prom}: {e.strerror or e}", out) from None
    return out
