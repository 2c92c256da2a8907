"""report.html's summary tables, between the header and the control list: outcomes per plan section,
the basis each check compared against per section, outcomes per severity, and, where results.json
has them, the fleet's hosts, the audit's own accounts and the fact sources on the run's timeline.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from plancheck.controls import SEVERITY_ORDER
from plancheck.report.html_common import OBSERVED, SHOWN, _e, _section_id
from plancheck.sections import BEYOND, SECTIONS


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
                    f'<td class="n">{float(r.get("wall_s", 0) or 0):.3f}{_waited(r, L)}</td>'
                    f'<td class="n">{int(r.get("round_trips", 0) or 0)}</td><td class="n">{_bytes(r.get("bytes"))}</td>'
                    f'<td><div class="bar"><span class="{o}" style="margin-left:{left:.1f}%;width:{width:.1f}%">'
                    f'</span></div><span class="muted">{start:.2f} – {end:.2f}</span></td></tr>')
    return (f'<h2 id="sources">{_e(L["sources"])}</h2><p class="meta">{_e(L["sources_caption"])}</p>'
            f'<table class="sources"><colgroup><col class="s"><col class="o"><col class="w"></colgroup>'
            f'<tr><th>{_e(L["source"])}</th><th>{_e(L["outcome"])}</th><th class="n">s</th>'
            f'<th class="n" title="{_e(L.get("round_trips_help", ""))}">{_e(L.get("round_trips", "round trips"))}</th>'
            f'<th class="n">{_e(L.get("bytes", "bytes"))}</th>'
            f'<th>{_e(L["timeline"])}</th></tr>{"".join(rows)}</table>')


def _waited(r: dict[str, Any], L: dict[str, str]) -> str:
    """The part of a source's wall time it spent waiting on purpose, beside it (nothing when none)."""
    w = float(r.get("waited_s", 0) or 0)
    return f' <span class="muted" title="{_e(L["waited"])}">({w:.1f})</span>' if w > 0 else ""


def _bytes(n: Any) -> str:
    """A byte count as the source timeline shows it (1.2 KB, 3.4 MB); 0 where not counted."""
    v = float(n or 0)
    for unit in ("B", "KB", "MB"):
        if v < 1024 or unit == "MB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} MB"
