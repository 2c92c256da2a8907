"""A self-contained HTML report from results.json, for an auditor and an operator.

Top: the run, its errors and notes, coverage. Then the trend over earlier runs of the same profile
(when there are any), the plan's ten sections plus the controls beyond the plan with counts per
outcome and observed/total, the severities, and one row per control: failures and errors first,
then waived, skipped, passed, each expandable (<details>) to its items with expected / found /
message / fix / waiver. Filters by section, severity and outcome and a text search (small inline
script, no network); a print stylesheet expands everything and hides the filters. Labels in English
or Korean (plancheck.report.i18n); the plan's section headings stay in the plan's words.

The page is put together here (render_html); its parts live beside it:
- html_common: escaping, a record's plan section, the outcome orders;
- html_assets: the inline stylesheet and script;
- html_tables: the summary tables (sections, basis, severities, hosts, audit accounts, fact sources);
- html_trend: the trend chart and the changes since the previous run;
- html_controls: the control rows with their items, the findings line and the filter bar.
`render_html` and `_sources` stay importable from here.
"""
from __future__ import annotations

from typing import Any, Optional

from plancheck.report.html_assets import _CSS, _JS
from plancheck.report.html_common import OBSERVED, SHOWN, _e
from plancheck.report.html_controls import _controls, _filters, _findings
from plancheck.report.html_tables import (_audit_accounts, _basis_table, _hosts, _sections_table, _severity_table,
                                          _sources)
from plancheck.report.html_trend import _trend
from plancheck.report.i18n import labels


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
