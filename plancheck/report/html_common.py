"""What every part of report.html shares: escaping, the plan section a record belongs to, and the
outcome orders (the order rows and columns are shown in, the outcomes that observed a value).

Split out of plancheck.report.html (the page) so its parts (html_trend, html_tables, html_controls)
can use them without importing the page module.
"""
from __future__ import annotations

import html
from typing import Any

from plancheck.sections import BEYOND, SECTIONS, SectionError, resolve

# the order a reader wants: what is wrong, what is accepted, what was not looked at, what holds
RANK = {"failed": 0, "error": 1, "waived": 2, "skipped": 3, "passed": 4}
SHOWN = ("failed", "error", "waived", "skipped", "passed")
OBSERVED = ("passed", "failed", "waived")  # a comparison was made on an observed value


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
