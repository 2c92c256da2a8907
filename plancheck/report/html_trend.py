"""report.html's trend over earlier runs of the same profile and mode (plancheck.report.trend finds
them): a small chart of passed / failed / error per run, then the checks whose outcome or found
value changed since the previous run. Empty when there is no earlier run.
"""
from __future__ import annotations

from typing import Any

from plancheck.report.html_common import _e
from plancheck.report.trend import TREND_RUNS, changes

MAX_CHANGES = 300


def _trend_svg(runs: list[dict[str, Any]], L: dict[str, str]) -> str:
    """passed / failed / error per run, one small panel each (own scale), oldest on the left."""
    n = len(runs)
    width, left, right, panel, gap, top = 900, 120, 20, 34, 14, 8
    series = [("passed", "#1a7f37"), ("failed", "#cf222e"), ("error", "#bc4c00")]
    height = top + len(series) * (panel + gap) + 14
    step = (width - left - right) / max(n - 1, 1)
    out = [f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{_e(L["trend"])}" xmlns="http://www.w3.org/2000/svg">']
    for k, (key, color) in enumerate(series):
        y0 = top + k * (panel + gap)
        vals = [int(r["summary"].get(key, 0)) for r in runs]
        hi = max(vals) or 1
        out.append(f'<text x="0" y="{y0 + 12}">{_e(L[key])}</text>'
                   f'<text x="0" y="{y0 + 28}" style="font-weight:600;fill:{color}">{vals[-1]}</text>'
                   f'<text x="{left - 6}" y="{y0 + 9}" text-anchor="end">{hi}</text>'
                   f'<text x="{left - 6}" y="{y0 + panel}" text-anchor="end">0</text>'
                   f'<line x1="{left}" y1="{y0 + panel}" x2="{width - right}" y2="{y0 + panel}" stroke="#d0d7de"/>'
                   f'<line x1="{left}" y1="{y0}" x2="{width - right}" y2="{y0}" stroke="#eaeef2"/>')
        pts = []
        for i, v in enumerate(vals):
            x = left + (i * step if n > 1 else (width - left - right) / 2)
            y = y0 + panel - (v / hi) * (panel - 4)
            pts.append((x, y, v, runs[i]))
        if n > 1:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in pts) + '"/>')
        for x, y, v, r in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                       f'<title>{_e(r.get("started") or r["name"])}: {v} {_e(L[key])}</title></circle>')
    first, last = runs[0].get("started") or runs[0]["name"], runs[-1].get("started") or runs[-1]["name"]
    out.append(f'<text x="{left}" y="{height - 2}">{_e(first)}</text>'
               f'<text x="{width - right}" y="{height - 2}" text-anchor="end">{_e(last)}</text></svg>')
    return "".join(out)


def _found_change_row(c: dict[str, Any], L: dict[str, str]) -> str:
    """A check with the same outcome and another found value (trend.changes kind "found")."""
    from plancheck.diff import around

    a, b = around(c["before"], c["now"])
    return (f'<tr class="change found"><td>{_e(c["control"])}</td><td><code>{_e(c["nodeid"])}</code> '
            f'<span class="muted">({_e(L["found"])})</span></td><td>{_e(a)}</td><td>{_e(b)}</td></tr>')


def _trend(doc: dict[str, Any], history: list[dict[str, Any]], L: dict[str, str]) -> str:
    if not history:
        return ""
    run = doc["run"]
    runs = history[-(TREND_RUNS - 1):] + [{"name": "this run", "started": run.get("started", ""),
                                            "summary": doc["summary"]}]
    prev = history[-1]
    changed = changes(prev, doc)
    cap = L["trend_caption"].format(n=len(runs), profile=run.get("profile", ""), mode=run.get("mode", ""))
    parts = [f'<section id="trend"><h2>{_e(L["trend"])}</h2><p class="muted">{_e(cap)}</p>', _trend_svg(runs, L)]
    when = prev.get("started") or prev["name"]
    if not changed:
        parts.append(f'<p>{_e(L["no_changes"].format(prev=when))}</p>')
    else:
        rows = "".join(
            f'<tr class="change"><td>{_e(c["control"])}</td><td><code>{_e(c["nodeid"])}</code></td>'
            f'<td class="{_e(c["before"])}">{_e(L.get(c["before"], L["absent"]) if c["before"] else L["absent"])}</td>'
            f'<td class="{_e(c["now"])}">{_e(L.get(c["now"], L["absent"]) if c["now"] else L["absent"])}</td></tr>'
            if c.get("kind", "outcome") == "outcome" else _found_change_row(c, L)
            for c in changed[:MAX_CHANGES])
        more = (f'<p class="muted">{_e(L["more"].format(n=len(changed) - MAX_CHANGES))}</p>'
                if len(changed) > MAX_CHANGES else "")
        parts.append(f'<details class="changes"{" open" if len(changed) <= 20 else ""}><summary><b>'
                     f'{_e(L["changes"].format(prev=when))}: {len(changed)}</b></summary>'
                     f'<table class="changes"><colgroup><col class="c"><col><col class="b"><col class="b"></colgroup>'
                     f'<tr><th>{_e(L["control"])}</th><th>{_e(L["item"])}</th><th>{_e(L["before"])}</th>'
                     f'<th>{_e(L["now"])}</th></tr>{rows}</table>{more}</details>')
    parts.append("</section>")
    return "".join(parts)
