"""A self-contained HTML report from results.json, for an auditor and an operator.

Top: the run, its errors and notes, coverage. Then the trend over earlier runs of the same profile
(when there are any), the plan's ten sections plus the controls beyond the plan with counts per
outcome and observed/total, the severities, and one row per control: failures and errors first,
then waived, skipped, passed, each expandable (<details>) to its items with expected / found /
message / fix / waiver. Filters by section, severity and outcome and a text search (small inline
script, no network); a print stylesheet expands everything and hides the filters. Labels in English
or Korean (plancheck.report.i18n); the plan's section headings stay in the plan's words.
"""
from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from typing import Any, Optional

from plancheck.controls import SEVERITY_ORDER
from plancheck.report.i18n import control_text, labels
from plancheck.report.trend import TREND_RUNS, changes
from plancheck.sections import BEYOND, SECTIONS, SectionError, resolve

# the order a reader wants: what is wrong, what is accepted, what was not looked at, what holds
RANK = {"failed": 0, "error": 1, "waived": 2, "skipped": 3, "passed": 4}
SHOWN = ("failed", "error", "waived", "skipped", "passed")
OBSERVED = ("passed", "failed", "waived")  # a comparison was made on an observed value
MAX_CHANGES = 300

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,"Noto Sans CJK KR","Malgun Gothic",sans-serif;margin:1.2em;color:#1f2328;
 overflow-wrap:anywhere}
h1{font-size:1.35em;margin:.2em 0 .4em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;table-layout:fixed;width:100%;margin:.4em 0 1em}
td,th{border:1px solid #d0d7de;padding:.25em .45em;text-align:left;vertical-align:top;overflow-wrap:anywhere;
 word-break:normal}
th{background:#f6f8fa;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere;white-space:pre-wrap}
.passed{color:#1a7f37}.failed{color:#cf222e;font-weight:600}.error{color:#bc4c00;font-weight:600}
.skipped{color:#6e7781}.waived{color:#8250df}
.badge{display:inline-block;min-width:5.5em;padding:0 .4em;border-radius:1em;font-size:12px;text-align:center;
 border:1px solid currentColor}
.sev{font-size:12px}.sev.critical{color:#fff;background:#a40e26;padding:0 .35em;border-radius:.3em}
.sev.high{color:#cf222e}.sev.medium{color:#9a6700}.sev.low{color:#57606a}
.box{padding:.5em .8em;border:1px solid;border-radius:.4em;margin:.6em 0}
.box.err{background:#ffebe9;border-color:#ff8182}.box.note{background:#fff8c5;border-color:#d4a72c}
.box ul{margin:.2em 0;padding-left:1.3em}
.filters{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;padding:.5em;background:#f6f8fa;
 border:1px solid #d0d7de;border-radius:.4em;position:sticky;top:0;z-index:1}
.filters label{white-space:nowrap}.filters input{width:18em;max-width:100%}
details.ctl{border:1px solid #d0d7de;border-radius:.35em;margin:.25em 0}
details.ctl[open]{border-color:#8c959f}
details.ctl>summary{display:grid;grid-template-columns:6.8em 7.2em 4.8em 3em minmax(0,1fr) 14em;gap:.5em;
 align-items:baseline;padding:.3em .5em;cursor:pointer;list-style:none}
details.ctl>summary::-webkit-details-marker{display:none}
details.ctl>summary .cid:before{content:"\\25B8  ";color:#57606a}
details.ctl[open]>summary .cid:before{content:"\\25BE  "}
.cid,.sev,.badge,.sec{white-space:nowrap;overflow-wrap:normal}
details.ctl.o-failed,details.ctl.o-error{background:#fff5f5}
.ttl{min-width:0}.cnt{font-size:12px;text-align:right}
.cnt span{margin-left:.5em;white-space:nowrap}
.body{padding:.2em .6em .6em}
.meta{color:#57606a;font-size:12px;margin:.2em 0}
table.items col.o{width:6.5em}table.items col.i{width:18%}table.items col.e,table.items col.f{width:22%}
table.sections col.s{width:40%}table.sev col.s{width:20%}
table.changes col.c{width:7em}table.changes col.b{width:7em}
tr.total td{font-weight:600;background:#f6f8fa}
svg.trend{width:100%;height:auto;max-width:760px;display:block}
table.sources col.s{width:9em}table.sources col.o{width:6em}table.sources col.w{width:5em}
.bar{height:.8em;background:#f6f8fa}.bar span{display:block;height:100%;background:currentColor}
details.changes>summary{cursor:pointer;margin:.3em 0}
svg.trend text{font:11px system-ui,sans-serif;fill:#57606a}
.muted{color:#6e7781}
@media print{
 .filters,.noprint{display:none!important}
 body{margin:0;font-size:11px}
 details.ctl{break-inside:avoid-page}
 details::details-content{content-visibility:visible;display:block}
 details.ctl[hidden]{display:block!important}
 tr.item[hidden]{display:table-row!important}
 a{color:inherit;text-decoration:none}
}
"""

_JS = """
(function(){
function $(id){return document.getElementById(id);}
function apply(){
 var s=$('f-section').value,v=$('f-severity').value,o=$('f-outcome').value,q=$('f-q').value.trim().toLowerCase(),n=0;
 document.querySelectorAll('details.ctl').forEach(function(d){
  var ok=(!s||d.dataset.section===s)&&(!v||d.dataset.severity===v)&&
   (!o||(' '+d.dataset.outcomes+' ').indexOf(' '+o+' ')>=0)&&(!q||d.textContent.toLowerCase().indexOf(q)>=0);
  d.hidden=!ok;if(ok)n++;
  d.querySelectorAll('tr.item').forEach(function(r){r.hidden=!!o&&r.dataset.outcome!==o;});
 });
 $('f-count').textContent=n;
}
window.plancheckFilter=function(sec){$('f-section').value=sec;apply();$('controls').scrollIntoView();};
document.addEventListener('DOMContentLoaded',function(){
 ['f-section','f-severity','f-outcome'].forEach(function(id){$(id).addEventListener('change',apply);});
 $('f-q').addEventListener('input',apply);
 $('f-reset').addEventListener('click',function(){['f-section','f-severity','f-outcome','f-q'].forEach(
  function(id){$(id).value='';});apply();});
 apply();
});
var opened=[];
window.addEventListener('beforeprint',function(){opened=[];document.querySelectorAll('details').forEach(
 function(d){if(!d.open){opened.push(d);d.open=true;}});});
window.addEventListener('afterprint',function(){opened.forEach(function(d){d.open=false;});opened=[];});
})();
"""


def _e(v: Any) -> str:
    return html.escape(str(v if v is not None else ""))


def _section_id(c: dict[str, Any]) -> str:
    sid = c.get("section_id") or ""
    if sid in SECTIONS:
        return sid
    try:  # results.json written before records carried section_id
        return resolve(c.get("section", ""))[0].id
    except SectionError:
        return BEYOND


def _item(nodeid: str) -> str:
    m = re.search(r"\[(.*)\]$", nodeid)
    return m.group(1) if m else nodeid.split("::")[-1]


def _counts(items: list[dict[str, Any]]) -> Counter:
    return Counter(c["outcome"] for c in items)


def _worst(counts: Counter) -> str:
    for o in SHOWN:
        if counts.get(o):
            return o
    return "passed"


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


def _sections_table(checks: list[dict[str, Any]], lang: str, L: dict[str, str]) -> str:
    by: dict[str, Counter] = defaultdict(Counter)
    for c in checks:
        by[_section_id(c)][c["outcome"]] += 1
    head = "".join(f'<th class="n">{_e(L[o])}</th>' for o in SHOWN)
    rows, total = [], Counter()
    for sid, sec in SECTIONS.items():
        cnt = by.get(sid, Counter())
        total.update(cnt)
        obs, tot = sum(cnt[o] for o in OBSERVED), sum(cnt.values())
        note = (f'<br><span class="muted" style="font-size:12px">{_e(L["beyond_note"])}</span>'
                if sid == BEYOND else "")
        rows.append(f'<tr class="section" data-section="{_e(sid)}"><td><a href="#controls" '
                    f'onclick="plancheckFilter(\'{_e(sid)}\');return false">{_e(sec.heading(lang))}</a>{note}</td>'
                    + "".join(f'<td class="n {o}">{cnt[o] or ""}</td>' for o in SHOWN)
                    + f'<td class="n">{obs} / {tot}</td></tr>')
    obs, tot = sum(total[o] for o in OBSERVED), sum(total.values())
    foot = (f'<tfoot><tr class="total"><td>{_e(L["total"])}</td>'
            + "".join(f'<td class="n">{total[o]}</td>' for o in SHOWN) + f'<td class="n">{obs} / {tot}</td></tr></tfoot>')
    return (f'<h2>{_e(L["by_section"])}</h2><table class="sections" id="sections"><colgroup><col class="s"></colgroup>'
            f'<thead><tr><th>{_e(L["section"])}</th>{head}<th class="n">{_e(L["observed_of"])}</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody>{foot}</table>')


BASIS_COLS = ("at_plan", "at_override", "at_addition", "skipped_profile", "not_here", "undeclared")


def _basis_column(c: dict[str, Any]) -> str:
    """Which column of the basis table a record counts in: observed checks by whose value they
    compared (the plan's, an override, an addition), skipped ones by why; errors are not counted."""
    if c["outcome"] == "skipped":
        return "not_here" if c.get("skip_kind") == "here" else "skipped_profile"
    if c["outcome"] not in OBSERVED:
        return ""
    return {"plan": "at_plan", "override": "at_override", "addition": "at_addition"}.get(c.get("basis") or "",
                                                                                          "undeclared")


def _basis_table(checks: list[dict[str, Any]], lang: str, L: dict[str, str]) -> str:
    """Per plan section: checked at the plan's value / at an override / at a value beyond the plan,
    skipped by the profile / not checkable here."""
    by: dict[str, Counter] = defaultdict(Counter)
    for c in checks:
        by[_section_id(c)][_basis_column(c)] += 1
    cols = [k for k in BASIS_COLS if k != "undeclared" or any(cnt["undeclared"] for cnt in by.values())]
    head = "".join(f'<th class="n">{_e(L[k])}</th>' for k in cols)
    rows, total = [], Counter()
    for sid, sec in SECTIONS.items():
        cnt = by.get(sid, Counter())
        total.update(cnt)
        rows.append(f'<tr data-section="{_e(sid)}"><td>{_e(sec.heading(lang))}</td>'
                    + "".join(f'<td class="n">{cnt[k] or ""}</td>' for k in cols) + "</tr>")
    foot = (f'<tfoot><tr class="total"><td>{_e(L["total"])}</td>'
            + "".join(f'<td class="n">{total[k]}</td>' for k in cols) + "</tr></tfoot>")
    return (f'<h2>{_e(L["by_basis"])}</h2><p class="muted">{_e(L["basis_caption"])}</p>'
            f'<table class="sections" id="basis"><colgroup><col class="s"></colgroup>'
            f'<thead><tr><th>{_e(L["section"])}</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>{foot}</table>')


def _severity_table(checks: list[dict[str, Any]], L: dict[str, str]) -> str:
    by: dict[str, Counter] = defaultdict(Counter)
    for c in checks:
        by[c.get("severity") or ""][c["outcome"]] += 1
    head = "".join(f'<th class="n">{_e(L[o])}</th>' for o in SHOWN)
    rows = "".join(
        f'<tr><td><span class="sev {_e(s)}">{_e(L.get("sev_" + s, s or "-"))}</span></td>'
        + "".join(f'<td class="n {o}">{by[s][o] or ""}</td>' for o in SHOWN)
        + f'<td class="n">{sum(by[s][o] for o in OBSERVED)} / {sum(by[s].values())}</td></tr>'
        for s in sorted(by, key=lambda s: -SEVERITY_ORDER.get(s, 0)))
    return (f'<h2>{_e(L["by_severity"])}</h2><table class="sev"><colgroup><col class="s"></colgroup>'
            f'<tr><th>{_e(L["severity"])}</th>{head}<th class="n">{_e(L["observed_of"])}</th></tr>{rows}</table>')


def _hosts(doc: dict[str, Any], L: dict[str, str]) -> str:
    """A fleet's hosts: per host its role and the outcomes of its host-level checks (results.json "hosts")."""
    hosts = doc.get("hosts") or {}
    if not hosts:
        return ""
    head = "".join(f'<th class="n">{_e(L.get(o, o))}</th>' for o in SHOWN)
    rows = "".join(
        f'<tr><td>{_e(name)}</td><td>{_e(h.get("group"))}</td><td>{_e(h.get("address"))}</td>'
        + "".join(f'<td class="n {o}">{h.get(o, 0) or ""}</td>' for o in SHOWN)
        + f'<td class="n">{int(h.get("total", 0))}</td></tr>'
        for name, h in hosts.items())
    return (f'<h2 id="hosts">{_e(L.get("hosts", "Hosts"))}</h2><table class="sev hosts">'
            f'<tr><th>{_e(L.get("host", "host"))}</th><th>{_e(L.get("group", "group"))}</th>'
            f'<th>{_e(L.get("address", "address"))}</th>{head}<th class="n">{_e(L.get("total", "total"))}</th></tr>'
            f'{rows}</table>')


def _audit_accounts(doc: dict[str, Any], L: dict[str, str]) -> str:
    """The audit's own MariaDB and Redis accounts and what they could change (results.json "audit_accounts")."""
    accounts = doc.get("audit_accounts") or []
    if not accounts:
        return ""
    rows = []
    for a in accounts:
        ro = a.get("read_only")
        cls, word = ("passed", L["yes"]) if ro is True else ("failed", L["no"]) if ro is False else ("skipped", L["unknown"])
        rows.append(f'<tr><td>{_e(a.get("store"))}</td><td><code>{_e(a.get("account"))}</code></td>'
                    f'<td class="{cls}">{_e(word)}</td><td>{_e(", ".join(a.get("changes") or []))}</td>'
                    f'<td>{_e(", ".join(a.get("grants") or []) or a.get("note", ""))}</td></tr>')
    return (f'<h2 id="audit-accounts">{_e(L["audit_accounts"])}</h2><p class="meta">{_e(L["audit_accounts_caption"])}</p>'
            f'<table class="accounts"><tr><th>{_e(L["store"])}</th><th>{_e(L["account"])}</th>'
            f'<th>{_e(L["read_only"])}</th><th>{_e(L["could_change"])}</th><th>{_e(L["grants"])}</th></tr>'
            f'{"".join(rows)}</table>')


def _sources(doc: dict[str, Any], L: dict[str, str]) -> str:
    """Per fact source: outcome, wall time and a bar on the run's timeline (results.json "sources")."""
    sources = doc.get("sources") or {}
    if not sources:
        return ""
    span = max((float(r.get("end_s", 0) or 0) for r in sources.values()), default=0) or 1.0
    rows = []
    for name, r in sources.items():
        start, end = float(r.get("start_s", 0) or 0), float(r.get("end_s", 0) or 0)
        left, width = 100 * start / span, max(0.5, 100 * (end - start) / span)
        o = {"ok": "passed", "error": "error", "nosource": "skipped"}.get(r.get("outcome", ""), "")
        rows.append(f'<tr><td>{_e(name)}</td><td class="{o}" title="{_e(r.get("message", ""))}">{_e(r.get("outcome"))}</td>'
                    f'<td class="n">{float(r.get("wall_s", 0) or 0):.3f}</td>'
                    f'<td class="n">{int(r.get("round_trips", 0) or 0)}</td><td class="n">{_bytes(r.get("bytes"))}</td>'
                    f'<td><div class="bar"><span class="{o}" style="margin-left:{left:.1f}%;width:{width:.1f}%">'
                    f'</span></div><span class="muted">{start:.2f} – {end:.2f}</span></td></tr>')
    return (f'<h2 id="sources">{_e(L["sources"])}</h2><p class="meta">{_e(L["sources_caption"])}</p>'
            f'<table class="sources"><colgroup><col class="s"><col class="o"><col class="w"></colgroup>'
            f'<tr><th>{_e(L["source"])}</th><th>{_e(L["outcome"])}</th><th class="n">s</th>'
            f'<th class="n" title="{_e(L.get("round_trips_help", ""))}">{_e(L.get("round_trips", "round trips"))}</th>'
            f'<th class="n">{_e(L.get("bytes", "bytes"))}</th>'
            f'<th>{_e(L["timeline"])}</th></tr>{"".join(rows)}</table>')


def _bytes(n: Any) -> str:
    """A byte count as the source timeline shows it (1.2 KB, 3.4 MB); 0 where not counted."""
    v = float(n or 0)
    for unit in ("B", "KB", "MB"):
        if v < 1024 or unit == "MB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} MB"


def _item_row(c: dict[str, Any], lang: str, L: dict[str, str]) -> str:
    msg = _e(c.get("message"))
    w = c.get("waiver")
    if w:
        msg += (f'<br><b>{_e(L["waiver"])}</b>: {_e(w.get("justification"))} — {_e(L["approved_by"])} '
                f'{_e(w.get("approver"))}, {_e(L["expires"])} {_e(w.get("expires"))}'
                + (f' <b class="failed">({_e(L["expired"])})</b>' if w.get("expired") else ""))
    return (f'<tr class="item" data-outcome="{_e(c["outcome"])}"><td class="{_e(c["outcome"])}">{_e(L[c["outcome"]])}</td>'
            f'<td><code title="{_e(c["nodeid"])}">{_e(_item(c["nodeid"]))}</code></td>'
            f'<td class="mono">{_e(c.get("expected"))}</td><td class="mono">{_e(c.get("found"))}</td>'
            f'<td>{msg}</td></tr>')


def _controls(checks: list[dict[str, Any]], lang: str, L: dict[str, str]) -> tuple[str, int]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in checks:
        groups[c.get("control") or c["nodeid"]].append(c)

    def key(cid: str) -> tuple:
        items = groups[cid]
        return (RANK.get(_worst(_counts(items)), 9), -SEVERITY_ORDER.get(items[0].get("severity", ""), 0), cid)

    out = []
    for cid in sorted(groups, key=key):
        items = sorted(groups[cid], key=lambda c: (RANK.get(c["outcome"], 9), c["nodeid"]))
        first = items[0]
        counts = _counts(items)
        worst = _worst(counts)
        sid = _section_id(first)
        sev = first.get("severity", "")
        title = control_text(first.get("control", ""), "title", first.get("title", ""), lang)
        fix = control_text(first.get("control", ""), "remediation", first.get("remediation", ""), lang)
        cnt = "".join(f'<span class="{o}">{counts[o]} {_e(L[o])}</span>' for o in SHOWN if counts.get(o))
        sec = SECTIONS.get(sid)
        meta = f'{_e(sec.display if sec else first.get("section", ""))}'
        if first.get("topic"):
            meta += f' · {_e(L["topic"])}: {_e(first["topic"])}'
        if first.get("tags"):
            meta += " · " + _e(", ".join(first["tags"]))
        if lang == "ko" and title != first.get("title"):
            meta += f' · <span lang="en">{_e(first.get("title"))}</span>'
        rows = "".join(_item_row(c, lang, L) for c in items)
        outcomes = " ".join(o for o in SHOWN if counts.get(o))
        is_open = " open" if worst in ("failed", "error") else ""
        out.append(
            f'<details class="ctl o-{worst}" id="ctl-{_e(cid)}" data-control="{_e(cid)}" data-section="{_e(sid)}" '
            f'data-severity="{_e(sev)}" data-outcomes="{outcomes}"{is_open}><summary>'
            f'<span class="badge {worst}">{_e(L[worst])}</span><b class="cid">{_e(cid)}</b>'
            f'<span class="sev {_e(sev)}">{_e(L.get("sev_" + sev, sev))}</span>'
            f'<span class="sec mono">{_e(sid if sid != BEYOND else "—")}</span>'
            f'<span class="ttl">{_e(title)}</span><span class="cnt">{cnt}</span></summary>'
            f'<div class="body"><p class="meta">{meta}</p>'
            + (f'<p><b>{_e(L["fix"])}</b>: {_e(fix)}</p>' if fix else "")
            + f'<table class="items"><colgroup><col class="o"><col class="i"><col class="e"><col class="f"><col>'
              f'</colgroup><tr><th>{_e(L["outcome"])}</th><th>{_e(L["item"])}</th><th>{_e(L["expected"])}</th>'
              f'<th>{_e(L["found"])}</th><th>{_e(L["message"])}</th></tr>{rows}</table></div></details>')
    return "".join(out), len(groups)


def _findings(checks: list[dict[str, Any]], L: dict[str, str]) -> str:
    """The failed and erroring controls, linked to their rows: what to read first."""
    by: dict[str, dict[str, str]] = defaultdict(dict)
    for c in checks:
        if c["outcome"] in ("failed", "error") and c.get("control"):
            by[c["outcome"]][c["control"]] = c.get("severity", "")
    parts = []
    for o in ("failed", "error"):
        if by[o]:
            links = ", ".join(f'<a href="#ctl-{_e(cid)}" class="{o}">{_e(cid)}</a>'
                              f' <span class="sev {_e(sev)}">{_e(L.get("sev_" + sev, sev))}</span>'
                              for cid, sev in sorted(by[o].items(), key=lambda kv: (-SEVERITY_ORDER.get(kv[1], 0), kv[0])))
            parts.append(f'<b class="{o}">{_e(L[o])}</b>: {links}')
    return f'<p id="findings">{" · ".join(parts)}</p>' if parts else ""


def _filters(checks: list[dict[str, Any]], lang: str, L: dict[str, str], n: int) -> str:
    secs = "".join(f'<option value="{_e(sid)}">{_e(sec.heading(lang))}</option>' for sid, sec in SECTIONS.items())
    sevs = "".join(f'<option value="{s}">{_e(L["sev_" + s])}</option>'
                   for s in sorted(SEVERITY_ORDER, key=lambda s: -SEVERITY_ORDER[s]))
    outs = "".join(f'<option value="{o}">{_e(L[o])}</option>' for o in SHOWN)
    return (f'<div class="filters noprint" role="search"><b>{_e(L["filter"])}</b>'
            f'<label>{_e(L["section"])} <select id="f-section"><option value="">{_e(L["all"])}</option>{secs}</select></label>'
            f'<label>{_e(L["severity"])} <select id="f-severity"><option value="">{_e(L["all"])}</option>{sevs}</select></label>'
            f'<label>{_e(L["outcome"])} <select id="f-outcome"><option value="">{_e(L["all"])}</option>{outs}</select></label>'
            f'<input id="f-q" type="search" placeholder="{_e(L["search"])}" aria-label="{_e(L["search"])}">'
            f'<button id="f-reset" type="button">×</button>'
            f'<span><b id="f-count">{n}</b> {_e(L["shown"])}</span></div>')


def render_html(doc: dict[str, Any], history: Optional[list[dict[str, Any]]] = None, lang: str = "en") -> str:
    L = labels(lang)
    run, checks, counts = doc["run"], doc["checks"], doc["summary"]
    controls, n_controls = _controls(checks, lang, L)
    errors = "".join(f"<li>{_e(n)}</li>" for n in run.get("errors", []))
    n_err = sum(1 for c in checks if c["outcome"] == "error")
    if n_err:
        errors += f'<li>{_e(L["errors_line"].format(n=n_err))}</li>'
    notes = "".join(f"<li>{_e(n)}</li>" for n in run.get("notes", []))
    cov = doc.get("coverage") or {}
    cov_line = (f'<p><b>{_e(L["coverage"])}</b>: {_e(cov.get("line"))}'
                + (' <b class="failed">(too low)</b>' if cov.get("too_little") else "") + "</p>") if cov.get("line") else ""
    obs = sum(counts.get(o, 0) for o in OBSERVED)
    summary = " · ".join(f"<span class='{o}'>{counts.get(o, 0)} {_e(L[o])}</span>" for o in SHOWN)
    total_line = (f"<b>{counts['total']}</b> checks" if lang != "ko" else f"<b>{counts['total']}</b>{_e(L['checks_total'])}")
    return f"""<!DOCTYPE html><html lang="{_e(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(L['title'])}: {_e(run.get('profile'))} {_e(run.get('mode'))} {_e(run.get('started'))}</title>
<style>{_CSS}</style><script>{_JS}</script></head><body>
<header>
<h1>{_e(L['heading'].format(profile=run.get('profile', ''), mode=run.get('mode', '')))}</h1>
<p>{_e(L['plan'])}: {_e(run.get('plan'))} · {_e(L['started'])} {_e(run.get('started'))} UTC ·
{float(run.get('duration_s', 0) or 0):.1f} s · {_e(L['gate'])} {_e(run.get('fail_on'))} ·
{_e(L['exit'])} {_e(run.get('exit_status'))}</p>
<p id="summary">{total_line}: {summary} · {_e(L['observed_of'])} {obs} / {counts['total']}</p>
{_findings(checks, L)}
{cov_line}
{f'<div class="box err" id="run-errors"><b>{_e(L["run_errors"])}</b><ul>{errors}</ul></div>' if errors else ""}
{f'<div class="box note" id="run-notes"><b>{_e(L["notes"])}</b><ul>{notes}</ul></div>' if notes else ""}
</header>
{_sections_table(checks, lang, L)}
{_basis_table(checks, lang, L)}
{_severity_table(checks, L)}
{_trend(doc, history or [], L)}
{_hosts(doc, L)}
{_audit_accounts(doc, L)}
{_sources(doc, L)}
<h2 id="controls">{_e(L['controls'])} ({n_controls})</h2>
{_filters(checks, lang, L, n_controls)}
<div id="control-list">{controls}</div>
</body></html>
"""
