"""Earlier runs of the same profile, for the report's trend: the run directories beside this one.

A run directory is `<profile>-<UTC timestamp>` with a results.json (plancheck.plugin names them);
the timestamp sorts as text. Only runs of the same profile and mode count (a static run and a live
run of one profile observe different things). A directory that cannot be read is left out.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

TREND_RUNS = 30  # the chart shows at most this many runs, this one included

_RUN = re.compile(r"^(?P<profile>.+)-(?P<ts>\d{8}T\d{6,12}Z)$")


def earlier_runs(base: Path, profile: str, mode: str, current: str, limit: int = TREND_RUNS - 1) -> list[dict[str, Any]]:
    """The last `limit` runs before `current`, oldest first: {name, started, summary, outcomes}.

    `outcomes` ({nodeid: outcome}), `controls` and `found` are kept for the newest of them only:
    the changes are counted against the previous run.
    """
    if not base.is_dir():
        return []
    from plancheck.report import safe_dir_name  # the run directory's spelling of the profile's name

    prefix = safe_dir_name(profile)
    names = []
    for d in base.iterdir():
        m = _RUN.match(d.name)
        if m and m.group("profile") == prefix and d.name != current and d.name < current and not d.is_symlink():
            names.append(d.name)
    runs: list[dict[str, Any]] = []
    for name in sorted(names, reverse=True):  # newest first, until `limit` readable ones
        if len(runs) >= limit:
            break
        try:
            doc = _read_run(base / name, whole=not runs)
            run = doc["run"]
            if run.get("profile") != profile or run.get("mode") != mode:
                continue
            entry = {"name": name, "started": run.get("started", ""), "summary": doc["summary"]}
            if not runs:
                entry["outcomes"] = {c["nodeid"]: c["outcome"] for c in doc["checks"]}
                entry["controls"] = {c["nodeid"]: c.get("control", "") for c in doc["checks"]}
                entry["found"] = {c["nodeid"]: c.get("found", "") for c in doc["checks"]}
            runs.append(entry)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return list(reversed(runs))


SUMMARY = "summary.json"  # a run's `run` and `summary` only: what the trend needs of every older run


def summary_of(document: dict[str, Any]) -> dict[str, Any]:
    return {"run": document.get("run", {}), "summary": document.get("summary", {})}


def _read_run(run_dir: Path, whole: bool) -> dict[str, Any]:
    """The newest earlier run is read whole (its outcomes are compared); older ones from their small
    summary.json. A nightly audit keeps up to TREND_RUNS runs beside it: reading each results.json
    (megabytes on a large plan) cost more than the checks. Runs written before summary.json existed
    are read from results.json."""
    small = run_dir / SUMMARY
    if not whole and small.is_file():
        return json.loads(small.read_text(encoding="utf-8"))
    return json.loads((run_dir / "results.json").read_text(encoding="utf-8"))


def changes(previous: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, str]]:
    """Checks whose outcome differs from the previous run's (new and vanished checks included), then
    those with the same outcome whose found value changed (kind "found"; plancheck.diff lists the
    same per check id)."""
    before: dict[str, str] = previous.get("outcomes", {})
    found_before: dict[str, str] = previous.get("found", {})
    controls: dict[str, str] = dict(previous.get("controls", {}))
    now = {c["nodeid"]: c["outcome"] for c in doc["checks"]}
    found_now = {c["nodeid"]: c.get("found", "") for c in doc["checks"]}
    controls.update({c["nodeid"]: c.get("control", "") for c in doc["checks"]})
    out, found = [], []
    for nodeid in sorted(set(before) | set(now)):
        if before.get(nodeid) != now.get(nodeid):
            out.append({"nodeid": nodeid, "control": controls.get(nodeid, ""), "kind": "outcome",
                        "before": before.get(nodeid, ""), "now": now.get(nodeid, "")})
        elif nodeid in found_before and found_before[nodeid] != found_now.get(nodeid, ""):
            found.append({"nodeid": nodeid, "control": controls.get(nodeid, ""), "kind": "found",
                          "before": found_before[nodeid], "now": found_now.get(nodeid, "")})
    return out + found
