"""Drift between two runs: what changed per check id (the pytest node id) from OLD to NEW.

    python -m plancheck.diff OLD NEW [--fail-on SEVERITY] [--json]

OLD and NEW are each a report directory (reports/<profile>-<timestamp>, reports/latest) or a
results.json. Lists the checks newly failing, fixed, newly waived, newly skipped, newly erroring,
those whose found value changed with the same outcome, and the checks that appeared or vanished.
Exit 1 when a newly failing check at or above --fail-on (default low) or a newly erroring check
(an error counts against the gate whatever its severity, as in the audit) exists, 0 otherwise,
2 with one line on bad input.

Only results.json is read (the source of truth); a report writer or the pre-change gate
(plancheck.gate) renders what `diff` returns.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from plancheck.controls import SEVERITY_ORDER

# the categories in the order they are printed; each holds entries of `_entry`
CATEGORIES = ("newly_failing", "newly_erroring", "newly_waived", "newly_skipped", "fixed",
              "found_changed", "added", "removed")
TITLES = {
    "newly_failing": "newly failing", "newly_erroring": "newly erroring (could not judge)",
    "newly_waived": "newly waived", "newly_skipped": "newly skipped (observed nothing)",
    "fixed": "fixed (now passing)", "found_changed": "found value changed (same outcome)",
    "added": "new checks", "removed": "checks gone",
}
BAD = ("failed", "error")


class DiffInputError(Exception):
    """OLD or NEW is not a readable results.json: one line."""


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit 2 (not argparse's usage block)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def load(path: str | Path) -> dict[str, Any]:
    """A results.json document from a report directory or the file itself."""
    p = Path(path)
    f = p / "results.json" if p.is_dir() else p
    if not f.exists():
        raise DiffInputError(f"{path}: no such report directory or results.json")
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except OSError as e:
        raise DiffInputError(f"{f}: cannot read: {e.strerror or e}") from None
    except ValueError as e:
        raise DiffInputError(f"{f}: not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list) or not isinstance(doc.get("run"), dict):
        raise DiffInputError(f"{f}: not a plancheck results.json (no run or checks)")
    for i, c in enumerate(doc["checks"]):
        if not isinstance(c, dict) or not isinstance(c.get("nodeid"), str) or "outcome" not in c:
            raise DiffInputError(f"{f}: checks[{i}] has no nodeid or outcome")
    return doc


def _entry(nodeid: str, old: Optional[dict[str, Any]], new: Optional[dict[str, Any]]) -> dict[str, Any]:
    cur = new or old or {}
    return {
        "nodeid": nodeid, "control": cur.get("control", ""), "severity": cur.get("severity", ""),
        "section": cur.get("section", ""), "title": cur.get("title", ""),
        "before": old.get("outcome", "") if old else "", "now": new.get("outcome", "") if new else "",
        "found_before": old.get("found", "") if old else "", "found_now": new.get("found", "") if new else "",
        "expected": cur.get("expected", ""), "message": (new or {}).get("message", ""),
        "remediation": cur.get("remediation", ""),
    }


def _category(before: Optional[str], now: Optional[str]) -> Optional[str]:
    """The category of an outcome change (None: same outcome)."""
    if now is None:
        return "removed"
    if before == now:
        return None
    if now == "failed":
        return "newly_failing"
    if now == "error":
        return "newly_erroring"
    if before is None:
        return "added"
    return {"waived": "newly_waived", "skipped": "newly_skipped", "passed": "fixed"}.get(now)


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """{old, new (run summaries), newly_failing, ..., removed}: lists of entries, worst first."""
    a = {c["nodeid"]: c for c in old["checks"]}
    b = {c["nodeid"]: c for c in new["checks"]}
    out: dict[str, Any] = {k: [] for k in CATEGORIES}
    for nodeid in sorted(set(a) | set(b)):
        oc, nc = a.get(nodeid), b.get(nodeid)
        cat = _category(oc["outcome"] if oc else None, nc["outcome"] if nc else None)
        if cat is None and oc and nc and oc.get("found", "") != nc.get("found", ""):
            cat = "found_changed"
        if cat:
            out[cat].append(_entry(nodeid, oc, nc))
    for k in CATEGORIES:
        out[k].sort(key=lambda e: (-SEVERITY_ORDER.get(e["severity"] or "critical", 4), e["control"], e["nodeid"]))

    def run(doc: dict[str, Any]) -> dict[str, Any]:
        r = doc["run"]
        return {k: r.get(k, "") for k in ("profile", "mode", "started", "exit_status")} | {
            "summary": doc.get("summary", {})}

    out = {"old": run(old), "new": run(new), **out}
    out["notes"] = []
    if (old["run"].get("profile"), old["run"].get("mode")) != (new["run"].get("profile"), new["run"].get("mode")):
        out["notes"].append(f"comparing profile {old['run'].get('profile')} ({old['run'].get('mode')}) with "
                            f"{new['run'].get('profile')} ({new['run'].get('mode')}): different targets observe "
                            f"different things")
    return out


def blocking(d: dict[str, Any], fail_on: str = "low") -> list[dict[str, Any]]:
    """The changes that fail a gate at `fail_on`: newly failing at or above it, and any newly erroring."""
    threshold = SEVERITY_ORDER[fail_on]
    return ([e for e in d["newly_failing"] if SEVERITY_ORDER.get(e["severity"] or "critical", 4) >= threshold]
            + list(d["newly_erroring"]))


def finding_line(e: dict[str, Any]) -> str:
    """One line per finding: control, severity, check id, and the message (which carries the fix)."""
    msg = e["message"] or (f"expected {e['expected']}, found {e['found_now']}" + (
        f". Fix: {e['remediation']}" if e["remediation"] else ""))
    return f"{e['control'] or '-'} [{e['severity'] or '-'}] {e['nodeid']}: {msg}"


def around(a: str, b: str, n: int = 120) -> tuple[str, str]:
    """Both found values cut to `n` characters around where they first differ."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    start = max(0, p - 40)

    def cut(v: str) -> str:
        s = v[start:start + n]
        return ("…" if start else "") + s + ("…" if start + n < len(v) else "")
    return cut(a), cut(b)


def render_text(d: dict[str, Any], fail_on: str = "low") -> str:
    o, n = d["old"], d["new"]
    lines = [f"plancheck diff: {o['profile']} ({o['mode']}) {o['started']} -> {n['profile']} ({n['mode']}) "
             f"{n['started']}"]
    lines += [f"note: {x}" for x in d["notes"]]
    for k in CATEGORIES:
        items = d[k]
        if not items:
            continue
        lines.append(f"{TITLES[k]}: {len(items)}")
        for e in items:
            if k in ("newly_failing", "newly_erroring"):
                lines.append(f"  {finding_line(e)}")
            elif k == "found_changed":
                a, b = around(e["found_before"], e["found_now"])
                lines.append(f"  {e['control'] or '-'} {e['nodeid']} ({e['now']}): found {a!r} -> {b!r}")
            else:
                lines.append(f"  {e['control'] or '-'} [{e['severity'] or '-'}] {e['nodeid']}: "
                             f"{e['before'] or '(absent)'} -> {e['now'] or '(absent)'}"
                             + (f": {e['message']}" if e["message"] and k in ("newly_skipped", "newly_waived") else ""))
    if not any(d[k] for k in CATEGORIES):
        lines.append("no check changed its outcome or found value")
    block = blocking(d, fail_on)
    lines.append(f"{len(block)} new finding(s) at or above {fail_on}" if block
                 else f"no new finding at or above {fail_on}")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    ap = OneLineParser(prog="python -m plancheck.diff",
                                 description="What changed per check between two plancheck runs.")
    ap.add_argument("old", help="report directory or results.json of the earlier run")
    ap.add_argument("new", help="report directory or results.json of the later run")
    ap.add_argument("--fail-on", default="low", choices=list(SEVERITY_ORDER),
                    help="exit 1 when a newly failing check at or above this severity exists (default: low)")
    ap.add_argument("--json", action="store_true", help="print the diff as JSON")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        d = diff(load(args.old), load(args.new))
    except DiffInputError as e:
        sys.stderr.write(f"plancheck.diff: {e}\n")
        return 2
    code = 1 if blocking(d, args.fail_on) else 0
    if args.json:
        sys.stdout.write(json.dumps(d | {"fail_on": args.fail_on, "exit_status": code}, indent=1,
                                    ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(d, args.fail_on))
    return code


if __name__ == "__main__":
    sys.exit(main())
