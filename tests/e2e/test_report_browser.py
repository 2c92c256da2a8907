"""report.html in a real browser: what a person sees, not what the HTML says.

Headless Chromium (Debian's `chromium`) renders the report of a run with one injected failure (the
recorded compliant baseline facts with max_connections broken, DB-002), after a compliant run, so
the trend shows too. A probe script appended to a copy of the page reports, after the page's own
script ran, what the layout is: the first control rows, the section table's rows, the page's
scroll width against the window (no horizontal overflow, also in a narrow window), and whether the
filters work; the same probe on the print stylesheet applied to the screen shows every item expanded
and the filters gone. A screenshot (1280x900) and a PDF are taken too.

Skipped, with the reason, where no Chromium is installed (apt-get install chromium).
Set PLANCHECK_SHOT=/path.png to keep the screenshot.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from plancheck.sections import SECTIONS
from tests.audit import load_good_facts, mutate, run_audit
from tests.unit.test_control_cases import CASES

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium): "
                                                          "the browser test needs a real browser")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]

PROBE = """<script>
window.addEventListener('load', function () {
  var d = document.documentElement, q = function (s) { return [].slice.call(document.querySelectorAll(s)); };
  // checkVisibility: false under display:none and inside a folded <details> (content-visibility)
  var vis = function (e) { return !!e && e.checkVisibility() && e.getBoundingClientRect().height > 0; };
  var wide = q('body *').filter(function (e) { return e.getBoundingClientRect().right > window.innerWidth + 0.5; });
  var out = {
    scrollWidth: d.scrollWidth, innerWidth: window.innerWidth, height: d.scrollHeight,
    wide: wide.slice(0, 5).map(function (e) { return e.tagName + '.' + e.className; }),
    first: q('details.ctl').filter(vis).slice(0, 6).map(function (e) { return [e.dataset.control, e.className]; }),
    sections: q('#sections tbody tr').map(function (r) { return r.cells[0].textContent.trim(); }),
    filters: vis(document.querySelector('.filters')),
    closedItems: q('details.ctl:not([open]) table.items').filter(vis).length,
    closed: q('details.ctl:not([open])').length,
    trend: vis(document.querySelector('svg.trend'))
  };
  var count = function () { return q('details.ctl').filter(function (e) { return !e.hidden; }).length; };
  var set = function (id, v, ev) { var e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event(ev)); };
  if (document.getElementById('f-outcome')) {
    set('f-outcome', 'failed', 'change'); out.onlyFailed = count();
    set('f-outcome', '', 'change'); set('f-q', 'max_connections', 'input'); out.search = count();
    set('f-q', '', 'input'); set('f-section', 'beyond', 'change'); out.beyond = count();
    set('f-section', '', 'change'); out.all = count();
  }
  var p = document.createElement('pre'); p.id = 'probe'; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
});
</script>"""


def _chromium(tmp: Path, *args: str, url: str, width: int = 1280, height: int = 900) -> str:
    profile = tmp / f"chromium-profile-{len(list(tmp.glob('chromium-profile-*')))}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", *args, url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _probe(tmp: Path, page: str, name: str, width: int = 1280, print_css: bool = False) -> dict[str, Any]:
    text = page
    if print_css:  # the print stylesheet, applied to the screen: what the printed page lays out
        text = text.replace("@media print{", "@media all{")
    probe = tmp / f"{name}.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp, "--virtual-time-budget=5000", "--run-all-compositor-stages-before-draw", "--dump-dom",
                    url=probe.as_uri(), width=width)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, f"the probe did not run: {dom[-500:]}"
    return json.loads(html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("browser")
    good = load_good_facts()
    run_audit(tmp, "baseline", facts=good)  # an earlier run: the trend has a point before this one
    res = run_audit(tmp, "baseline", facts=mutate(good, CASES["DB-002"]))
    assert "DB-002" in res.failed
    return (tmp / "reports" / "latest" / "report.html").resolve(), res


def test_report_as_a_person_sees_it(report, tmp_path: Path) -> None:
    path, res = report
    page = path.read_text(encoding="utf-8")
    seen = _probe(tmp_path, page, "screen")
    # the failure is the first row; the plan's ten sections and the one beyond, nothing else
    assert seen["first"][0][0] == "DB-002" and "o-failed" in seen["first"][0][1]
    assert len(seen["sections"]) == 11 == len(SECTIONS)
    assert [s.split(" ")[0] for s in seen["sections"][:10]] == list(SECTIONS)[:10]
    # values wrap: nothing wider than the window
    assert seen["scrollWidth"] <= seen["innerWidth"], seen["wide"]
    # the filters work in the browser
    assert seen["onlyFailed"] == len(res.failed) == 1
    assert seen["search"] >= 1 and seen["beyond"] == len({c["control"] for c in res.checks if c["section_id"] == "beyond"})
    assert seen["all"] == len({c["control"] for c in res.checks}) and seen["filters"] and seen["trend"]
    assert seen["closed"] > 0 and seen["closedItems"] == 0  # on screen the passing controls stay folded

    narrow = _probe(tmp_path, page, "narrow", width=800)
    assert narrow["scrollWidth"] <= narrow["innerWidth"], narrow["wide"]

    printed = _probe(tmp_path, page, "print", print_css=True)
    assert not printed["filters"] and printed["closedItems"] == printed["closed"] > 0  # every item expanded
    assert printed["height"] > seen["height"]

    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", url=path.as_uri())
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1280, 900)
    if os.environ.get("PLANCHECK_SHOT"):
        shutil.copy(shot, os.environ["PLANCHECK_SHOT"])

    pdf = tmp_path / "report.pdf"
    _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url=path.as_uri())
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert data[:5] == b"%PDF-" and pages > 1
    print(f"\nbrowser: page height {seen['height']} px (print layout {printed['height']} px), "
          f"scrollWidth {seen['scrollWidth']} <= {seen['innerWidth']}, {pages} PDF pages; sections: "
          + " | ".join(seen["sections"]))
