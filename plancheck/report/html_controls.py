"""report.html's control list: one expandable row per control (worst outcome first) with a table of
its items (expected / found / message / waiver), the failed and erroring controls linked at the top
(_findings), and the filter bar above the list (_filters).
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from plancheck.controls import SEVERITY_ORDER
from plancheck.report.html_common import RANK, SHOWN, _e, _section_id
from plancheck.report.i18n import control_text
from plancheck.sections import BEYOND, SECTIONS


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
