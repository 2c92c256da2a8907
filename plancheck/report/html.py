"""A self-contained HTML report from results.json: summary by plan section and severity, a filter
by outcome, and for every finding its expected / found / remediation. No external assets."""
from __future__ import annotations

import html
from collections import Counter, defaultdict
from typing import Any

from plancheck.results import OUTCOMES

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.passed{color:#1a7f37}.failed{color:#c00;font-weight:bold}
.error{color:#a40;font-weight:bold}.skipped{color:#777}.waived{color:#8250df}
tr.check.hidden{display:none}.notes{background:#fff8c5;padding:.5em;border:1px solid #e3d37a}
code{font-size:12px}
"""
_JS = """
function only(o){document.querySelectorAll('tr.check').forEach(function(r){
 r.classList.toggle('hidden', o!=='all' && r.dataset.outcome!==o);});}
"""


def _e(v: Any) -> str:
    return html.escape(str(v if v is not None else ""))


def render_html(doc: dict[str, Any]) -> str:
    run, checks, counts = doc["run"], doc["checks"], doc["summary"]
    by_section: dict[str, Counter] = defaultdict(Counter)
    by_severity: dict[str, Counter] = defaultdict(Counter)
    for c in checks:
        by_section[c["section"] or "(none)"][c["outcome"]] += 1
        by_severity[c["severity"] or "(none)"][c["outcome"]] += 1

    def table(title: str, groups: dict[str, Counter]) -> str:
        head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
        rows = "".join(
            f"<tr><td>{_e(k)}</td>" + "".join(f"<td class='{o}'>{v[o] or ''}</td>" for o in OUTCOMES) + "</tr>"
            for k, v in sorted(groups.items()))
        return f"<h2>{title}</h2><table><tr><th></th>{head}</tr>{rows}</table>"

    buttons = " ".join(
        f"<button onclick=\"only('{o}')\">{o} ({counts[o]})</button>" for o in OUTCOMES)
    rows = []
    for c in sorted(checks, key=lambda c: (c["outcome"] not in ("failed", "error"), c["nodeid"])):
        detail = ""
        if c["outcome"] in ("failed", "error", "waived"):
            detail = (f"<br><b>expected</b>: {_e(c['expected'])}<br><b>found</b>: {_e(c['found'])}"
                      f"<br><b>fix</b>: {_e(c['remediation'])}")
            if c.get("waiver"):
                w = c["waiver"]
                detail += (f"<br><b>waiver</b>: {_e(w.get('justification'))} — approved by {_e(w.get('approver'))}, "
                           f"expires {_e(w.get('expires'))}{' (EXPIRED: no longer waives)' if w.get('expired') else ''}")
        rows.append(
            f"<tr class='check' data-outcome='{c['outcome']}'><td class='{c['outcome']}'>{c['outcome']}</td>"
            f"<td>{_e(c['control'])}</td><td>{_e(c['severity'])}</td><td>{_e(c['section'])}</td>"
            f"<td><code>{_e(c['nodeid'])}</code><br>{_e(c['title'])}<br><i>{_e(c['message'])}</i>{detail}</td>"
            f"<td>{_e(c['expected'])}</td><td>{_e(c['found'])}</td></tr>")
    notes = "".join(f"<li>{_e(n)}</li>" for n in run.get("notes", []))
    errors = "".join(f"<li class='error'>{_e(n)}</li>" for n in run.get("errors", []))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>plancheck {_e(run['profile'])} {_e(run['mode'])} {_e(run['started'])}</title><style>{_CSS}</style>
<script>{_JS}</script></head><body>
<h1>plancheck compliance report: profile {_e(run['profile'])}, {_e(run['mode'])} audit</h1>
<p>Plan: {_e(run.get('plan'))} · started {_e(run['started'])} UTC · {run.get('duration_s', 0):.1f} s ·
gate: fail on {_e(run.get('fail_on'))} · exit status {_e(run.get('exit_status'))}</p>
<p><b>{counts['total']}</b> checks: {' · '.join(f"<span class='{o}'>{counts[o]} {o}</span>" for o in OUTCOMES)}</p>
{f"<ul>{errors}</ul>" if errors else ""}
{f"<div class='notes'><b>Not verified live on this run</b><ul>{notes}</ul></div>" if notes else ""}
{table("By plan section", by_section)}{table("By severity", by_severity)}
<h2>Checks</h2><p>Show: <button onclick="only('all')">all</button> {buttons}</p>
<table><tr><th>outcome</th><th>control</th><th>severity</th><th>section</th><th>check</th>
<th>expected</th><th>found</th></tr>{''.join(rows)}</table></body></html>
"""
