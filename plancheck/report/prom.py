"""The run as Prometheus metrics in node-exporter's textfile format (`--prom-textfile PATH`).

Rendered from the results document only (like every other report), written atomically: a temporary
file beside PATH, then a rename, so node-exporter's textfile collector never reads half a file
(it reads only `*.prom`; the temporary name does not end so). Every series is labelled with the
run's profile and mode, so the nightly live audit and a static audit can share one directory when
written to different files.

Series (all gauges):
  plancheck_checks{control,outcome}                      checks of a control per outcome (all five, 0 included)
  plancheck_control_failing{control,severity,section,section_title}
                                                         checks of the control that failed or errored (waived
                                                         ones excluded); 0 when the control holds
  plancheck_checks_by_severity{severity,outcome}         checks per severity and outcome
  plancheck_checks_by_section{section,section_title,outcome}
  plancheck_checks_total, plancheck_checks_observed      all checks; those that compared an observed value
  plancheck_run_duration_seconds, plancheck_last_run_timestamp_seconds (the run's end, Unix time),
  plancheck_run_exit_status                              the audit's exit status (0 clean, 1 findings,
                                                         2..5 the run itself went wrong)
"""
from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "failed", "error", "waived", "skipped")
SEVERITIES = ("critical", "high", "medium", "low")

HELP = {
    "plancheck_checks": "Checks of a control per outcome in the last plancheck run.",
    "plancheck_control_failing": "Checks of a control that failed or could not judge (error) in the last run; "
                                 "waived failures excluded. 0 when the control holds.",
    "plancheck_checks_by_severity": "Checks per control severity and outcome in the last run.",
    "plancheck_checks_by_section": "Checks per plan section and outcome in the last run.",
    "plancheck_checks_total": "Checks in the last run.",
    "plancheck_checks_observed": "Checks of the last run that compared a value observed in that run "
                                 "(passed, failed or waived).",
    "plancheck_run_duration_seconds": "Wall time of the last run.",
    "plancheck_last_run_timestamp_seconds": "Unix time at which the last run ended.",
    "plancheck_run_exit_status": "Exit status of the last run: 0 clean, 1 findings, 2 and above the run itself failed.",
}


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    return repr(float(v)) if isinstance(v, float) and not float(v).is_integer() else str(int(v))


def run_end(doc: dict[str, Any]) -> float:
    """The run's end as Unix time: started (UTC, seconds) plus its duration."""
    run = doc.get("run", {})
    try:
        t = dt.datetime.strptime(str(run.get("started", "")), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        start = t.timestamp()
    except ValueError:
        start = dt.datetime.now(dt.timezone.utc).timestamp()
    return round(start + float(run.get("duration_s") or 0), 3)


def render_textfile(doc: dict[str, Any]) -> str:
    run = doc.get("run", {})
    base = {"profile": run.get("profile", ""), "mode": run.get("mode", "")}
    checks: list[dict[str, Any]] = doc.get("checks", [])
    series: dict[str, list[tuple[dict[str, Any], float]]] = defaultdict(list)

    per_control: dict[str, Counter] = defaultdict(Counter)
    meta: dict[str, dict[str, Any]] = {}
    by_sev: dict[str, Counter] = defaultdict(Counter)
    by_sec: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for c in checks:
        ctl = c.get("control") or ""
        if ctl:
            per_control[ctl][c["outcome"]] += 1
            meta.setdefault(ctl, c)
        by_sev[c.get("severity") or "none"][c["outcome"]] += 1
        by_sec[(c.get("section_id") or "", c.get("section") or "")][c["outcome"]] += 1

    for ctl in sorted(per_control):
        for o in OUTCOMES:
            series["plancheck_checks"].append(({**base, "control": ctl, "outcome": o}, per_control[ctl][o]))
    for ctl in sorted(per_control):
        m = meta[ctl]
        series["plancheck_control_failing"].append((
            {**base, "control": ctl, "severity": m.get("severity", ""), "section": m.get("section_id", ""),
             "section_title": m.get("section", "")},
            per_control[ctl]["failed"] + per_control[ctl]["error"]))
    for sev in [s for s in SEVERITIES if s in by_sev] + sorted(set(by_sev) - set(SEVERITIES)):
        for o in OUTCOMES:
            series["plancheck_checks_by_severity"].append(({**base, "severity": sev, "outcome": o}, by_sev[sev][o]))
    for (sid, title) in sorted(by_sec):
        for o in OUTCOMES:
            series["plancheck_checks_by_section"].append(
                ({**base, "section": sid, "section_title": title, "outcome": o}, by_sec[(sid, title)][o]))
    summary = doc.get("summary", {})
    observed = summary.get("observed", sum(1 for c in checks if c["outcome"] in ("passed", "failed", "waived")))
    series["plancheck_checks_total"].append((base, summary.get("total", len(checks))))
    series["plancheck_checks_observed"].append((base, observed))
    series["plancheck_run_duration_seconds"].append((base, float(run.get("duration_s") or 0)))
    series["plancheck_last_run_timestamp_seconds"].append((base, run_end(doc)))
    series["plancheck_run_exit_status"].append((base, int(run.get("exit_status") or 0)))

    out: list[str] = []
    for name in HELP:
        out.append(f"# HELP {name} {HELP[name]}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{_labels(labels)} {_num(value)}" for labels, value in series[name])
    return "\n".join(out) + "\n"


def write_textfile(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically: PATH's directory gets a temporary file that is renamed over PATH."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(render_textfile(doc), encoding="utf-8")
        os.chmod(tmp, 0o644)  # node-exporter usually runs as another user
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
